// What a client needs to run a command, as the run's effects port gives it
// (flows/effects.ts: real, dry run, recording). A client that holds one says,
// for every command, whether it only reads the target or changes it, so a dry
// run refuses the change and a test records it. The port's implementations
// live in flows; this is only the shape, which clients may name.
import type { Readable, Writable } from 'node:stream';
import type { RunResult, StreamedOutcome } from './runner.js';

export interface CommandOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  input?: string;
  cwd?: string;
  /** change(): the exit code is the caller's to judge (no throw on non-zero); a dry run refuses it all the same */
  allowFailure?: boolean;
}

export interface CommandPort {
  /** A command that only reads: its result, whatever the exit code. */
  read(argv: string[], opts?: CommandOptions): Promise<RunResult>;
  /** A command that changes the target; a non-zero exit throws unless `allowFailure`. */
  change(argv: string[], opts?: CommandOptions): Promise<RunResult>;
  /** A read whose stdout streams through `stages` (a dump into a file): its outcome, whatever it is. */
  readStream(argv: string[], stages: (Readable | Writable)[]): Promise<StreamedOutcome>;
  /** A change fed on stdin from a file or a stream (a restore); its stdout, or an error naming `what`. */
  changeFrom(argv: string[], input: Readable | { file: string }, what: string): Promise<string>;
}
