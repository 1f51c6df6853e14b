// The error a command that exited non-zero raises, through any runner or
// the effects port: callers that judge the exit code (a restore that
// failed half-way) catch it by class.
import { OperationError } from '../errors.js';

/** A command that exited non-zero: `commandExit` is its exit code (null: ended by a signal or never started). */
export class CommandFailedError extends OperationError {
  constructor(
    message: string,
    readonly commandExit: number | null | undefined,
  ) {
    super(message);
  }
}
