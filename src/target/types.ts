// What a target offers every command: the same verbs whether the stack runs
// on this host's engine (compose) or on a Docker Swarm. The CLI picks the
// target once (targetFor in ./index.ts), calls one verb and prints what it
// returns; it never asks which kind it holds. A target whose commands run
// elsewhere (a server over SSH) is one more module implementing this.
import type { Run, IO } from '../flows/context.js';
import type { StatusSession } from '../flows/status.js';
import type { TargetKind } from '../plan/target-support.js';
import type { StatusReport } from '../plan/status.js';

/** What the CLI hands a target when it picks it. */
export interface TargetContext {
  io: IO;
  stateDir: string;
  commandLine: string;
  /** a run (step log, effects port) for the verbs that read without changing: made only when needed */
  newRun(): Run;
}

/** A line for people, on stderr: `ok` green, `warn` yellow. */
export interface Note {
  tone: 'ok' | 'warn';
  text: string;
}

/** What a verb returns: `data` for --json (stdout), `notes` for people (stderr). */
export interface Outcome {
  data: unknown;
  notes: Note[];
}

/** A listing: `data` for --json; `lines` for people on stdout, or `empty` on stderr when there is nothing. */
export interface Listing {
  data: unknown;
  lines: string[];
  empty: string;
}

/** `status`: the report the Nagios and Prometheus formats read, the --json object, the text for people. */
export interface StatusView {
  report: StatusReport;
  data: unknown;
  text: string;
}

export interface HealthView {
  ok: boolean;
  data: unknown;
  text: string;
}

type Confirm = (question: string) => Promise<void>;

export interface DeployOptions {
  dryRun?: boolean;
  build?: boolean;
  skipBackup?: boolean;
  allowDangerousMigrations?: boolean;
  maintenance?: boolean;
  waitMs?: number;
  confirm: Confirm;
}

export interface BackupOptions {
  tag?: string;
  waitMs?: number;
}

export interface RollbackOptions {
  /** a backup id: data and release back to it */
  id?: string;
  /** without an id: a release to go back to (the data stays) */
  release?: string;
  maintenance?: boolean;
  waitMs?: number;
  confirm: Confirm;
}

export interface HealthOptions {
  retries: number;
  intervalMs: number;
  onRetry(attempt: number, level: string, waitMs: number): void;
}

export interface LogsOptions {
  service?: string;
  follow?: boolean;
  tail?: number;
  out(text: string): void;
  err(text: string): void;
}

export interface Target {
  readonly kind: TargetKind;
  /** observe, plan, and (unless a dry run) execute; the run's step log records every step */
  deploy(run: Run, o: DeployOptions): Promise<Outcome>;
  backup(run: Run, o: BackupOptions): Promise<Outcome>;
  rollback(run: Run, o: RollbackOptions): Promise<Outcome>;
  backupsList(): Listing;
  /** one backup's manifest */
  backupShow(id: string): unknown;
  /** `session`: the engine calls `status` started while the stack loaded (a target may ignore them) */
  status(session?: StatusSession): Promise<StatusView>;
  healthCheck(o: HealthOptions): Promise<HealthView>;
  /** the services' logs written through `out`/`err`; the exit code */
  logs(o: LogsOptions): Promise<number>;
}
