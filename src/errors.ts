// Typed errors, caught once at the top (src/cli/main.ts). Each carries the
// exit code the CLI returns and, where there is one, the command that fixes it.
export class LifeopsError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad stack file or bad arguments: exit 2, nothing touched. */
export class ConfigError extends LifeopsError {
  constructor(message: string, hint?: string) {
    super(message, 2, hint);
  }
}

export class UsageError extends LifeopsError {
  constructor(message: string, hint?: string) {
    super(message, 2, hint);
  }
}

/** The operation ran and failed: exit 1. */
export class OperationError extends LifeopsError {
  constructor(message: string, hint?: string) {
    super(message, 1, hint);
  }
}

export class LockHeldError extends OperationError {}
