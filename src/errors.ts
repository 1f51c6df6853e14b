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

/** A key's place in the stack file, as the schema reports it: ['services', 'web', 'gunicorn', 'workers']. */
export type KeyPath = readonly (string | number)[];

/**
 * Bad stack file or bad arguments: exit 2, nothing touched.
 *
 * A problem with one key carries its `keyPath` and its message starts with
 * the dotted path. Code that has only the resolved stack (a renderer) throws
 * one with `ConfigError.at`; code that still has the YAML source adds the
 * `file:line:col` in front with `withSource` (see config/source.ts), the same
 * shape the loader's own schema errors have.
 */
export class ConfigError extends LifeopsError {
  constructor(
    message: string,
    hint?: string,
    readonly keyPath?: KeyPath,
    /** `file:line:col` of the key, once known; the message starts with it */
    readonly source?: string,
  ) {
    super(source ? `${source}: ${message}` : message, 2, hint);
  }

  /** `keyPath: problem`, e.g. `postgres.tuning.work_mem: a value cannot contain a newline`. */
  static at(keyPath: KeyPath, problem: string, hint?: string): ConfigError {
    return new ConfigError(`${keyPath.join('.')}: ${problem}`, hint, keyPath);
  }

  /** The same error with the key's `file:line:col` in front (once: a located error stays as it is). */
  withSource(source: string): ConfigError {
    if (this.source) return this;
    const located = new ConfigError(this.message, this.hint, this.keyPath, source);
    if (this.stack) located.stack = this.stack;
    return located;
  }
}

export class UsageError extends LifeopsError {
  constructor(message: string, hint?: string) {
    super(message, 2, hint);
  }
}

/** An option the stack's target cannot honour: exit 2 before anything runs, even from `status`. */
export class UnhonouredOptionError extends UsageError {}

/** The operation ran and failed: exit 1. */
export class OperationError extends LifeopsError {
  constructor(message: string, hint?: string) {
    super(message, 1, hint);
  }
}

export class LockHeldError extends OperationError {}

/** The run was stopped by SIGINT or SIGTERM after undoing what it had changed: exit 130 or 143 (128 + signal number). */
export class InterruptedError extends LifeopsError {
  constructor(
    message: string,
    readonly signal: 'SIGINT' | 'SIGTERM',
    hint?: string,
  ) {
    super(message, signal === 'SIGINT' ? 130 : 143, hint);
  }
}

/** Not enough free space on the engine's data root for the images a deploy would build or pull: exit 2, refused before anything changed. */
export class DiskSpaceError extends LifeopsError {
  constructor(message: string, hint?: string) {
    super(message, 2, hint);
  }
}
