// What a client needs to run a command, as the run's effects port gives it
// (flows/effects.ts: real, dry run, recording). A client that holds one says,
// for every command, whether it only reads the target or changes it, so a dry
// run refuses the change and a test records it. The port's implementations
// live in flows; this is only the shape, which clients and the backup layer
// may name.
import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { RunResult, StreamedOutcome } from './runner.js';
import type { TextSession } from './session.js';

export interface CommandOptions {
  env?: Record<string, string>;
  timeoutMs?: number;
  input?: string;
  cwd?: string;
  /** change(): the exit code is the caller's to judge (no throw on non-zero); a dry run refuses it all the same */
  allowFailure?: boolean;
  /** no stdout pipe: for a program that opens /dev/stdout itself (nginx -t's access_log cannot open a socket) */
  ignoreStdout?: boolean;
}

/** readStream(): the environment, and where stderr goes as it comes (else only its tail is kept) */
export interface StreamOptions {
  env?: Record<string, string>;
  stderr?: Writable;
}

/** A command started with its stdout on an open file or a pipe, tied to this process's life (clients/runner.ts spawnTiedToUs). */
export interface TiedCommand {
  child: ChildProcess;
  /** destroying it stops the command */
  lifeline: Writable;
}

export interface CommandPort {
  /** A command that only reads: its result, whatever the exit code. */
  read(argv: string[], opts?: CommandOptions): Promise<RunResult>;
  /** A command that changes the target; a non-zero exit throws unless `allowFailure`. */
  change(argv: string[], opts?: CommandOptions): Promise<RunResult>;
  /** A read whose stdout streams through `stages` (a dump into a file): its outcome, whatever it is. */
  readStream(argv: string[], stages: (Readable | Writable)[], opts?: StreamOptions): Promise<StreamedOutcome>;
  /**
   * A change fed on stdin from a file or a stream (a restore); its stdout, or
   * an error naming `what` (a CommandFailedError carrying the exit code).
   * Secrets go in `env`, never on argv.
   */
  changeFrom(argv: string[], input: Readable | { file: string }, what: string, opts?: { env?: Record<string, string> }): Promise<string>;
  /** A read whose stdout goes straight into the open file `stdout` (or a pipe), fed on stdin by the caller: a pg_dump waiting for its snapshot. */
  readTied(argv: string[], stdout: number | 'pipe'): TiedCommand;
  /** A long-lived read talked to through stdin and stdout (a psql session in a container); `label` names it in errors. */
  readSession(argv: string[], label: string): TextSession;
  /** A pause between polls (a save finishing, a service converging): none in a dry run or a recording. */
  sleep(ms: number): Promise<void>;
}
