// What every flow gets: injected I/O, the resolved stack, where state lives,
// and the run's step log. Only bin/ calls process.exit.
import path from 'node:path';
import type { Ora } from 'ora';
import chalk from 'chalk';
import type { Stack } from '../config/schema.js';
import { Redactor, stackRedactor } from '../util/redact.js';
import { parseEnvFile } from '../config/envfile.js';
import { formatDuration } from '../util/units.js';
import { DockerClient } from '../clients/docker.js';
import { detectCompose } from '../clients/compose-detect.js';
import type { ComposeCli } from '../commands/compose.js';
import { RunLog, newRunId, type StepEvent } from '../state/runlog.js';
import { InterruptedError, LifeopsError } from '../errors.js';
import { crashTestEffects, realEffects, type Effects } from './effects.js';
import { enginePlace, type ProjectPlace } from './place.js';

export interface IO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  now: () => Date;
  verbose: boolean;
  json: boolean;
  /** the operator's terminal, for confirmations; absent under cron and in tests */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** this program, for the cron lines it writes: [node, script] */
  self?: { node: string; script: string };
}

/**
 * The one context a flow runs on, made once by the CLI: injected I/O and
 * environment, the clock, where state lives, the Docker engine client (one per
 * run), the run's step log and the redaction of the stack's secrets.
 */
export class Run {
  readonly id: string;
  readonly logFile: string;
  private readonly log: RunLog;
  private spinner?: Ora;
  private dockerClient?: DockerClient;
  /** how the run changes the target (processes, waits): real, dry run or recording (flows/effects.ts) */
  effects: Effects;
  /** where the stack's project lives, as its target says (src/target placeOf; the CLI sets it): the engine-wide lock's key, the state labels */
  place: ProjectPlace = enginePlace;

  constructor(
    readonly io: IO,
    readonly stateDir: string,
    readonly redactor: Redactor,
    readonly command: string,
  ) {
    this.effects = crashTestEffects(io.env) ?? realEffects;
    this.id = newRunId(io.now());
    this.log = new RunLog(stateDir, this.id, redactor);
    this.logFile = this.log.file;
    this.write({ run: this.id, step: 'run', event: 'info', detail: { command: redactor.text(command), pid: process.pid } });
  }

  private composeCli?: Promise<ComposeCli>;

  /** compose v1 or v2, as detected on this host (once) */
  compose(): Promise<ComposeCli> {
    this.composeCli ??= detectCompose();
    return this.composeCli;
  }

  /** the Docker engine, one client for the whole run */
  get docker(): DockerClient {
    this.dockerClient ??= new DockerClient();
    return this.dockerClient;
  }

  /** tests without Docker: an engine whose answers the test scripts (with effects = a RecordingEffects) */
  useEngine(docker: DockerClient): void {
    this.dockerClient = docker;
  }

  /** tests without Docker: the compose a scripted engine answers as */
  useCompose(cli: ComposeCli): void {
    this.composeCli = Promise.resolve(cli);
  }

  get env(): Record<string, string | undefined> {
    return this.io.env;
  }

  write(e: StepEvent): void {
    this.log.write(e);
  }

  /** A human line on stderr: spinner on a TTY, plain timestamped lines otherwise. */
  say(text: string): void {
    const line = this.redactor.text(text);
    if (this.spinner) this.spinner.stopAndPersist({ symbol: ' ', text: line });
    else this.io.stderr.write(this.plainPrefix() + line + '\n');
  }

  info(step: string, detail: unknown): void {
    this.write({ run: this.id, step, event: 'info', detail });
  }

  private plainPrefix(): string {
    return this.io.stderr.isTTY ? '' : `${this.io.now().toISOString()} `;
  }

  private stepsStarted = 0;
  /** the first SIGINT/SIGTERM received while signals were trapped */
  interrupted?: 'SIGINT' | 'SIGTERM';
  private interruptDelivered = false;

  /**
   * SIGINT/SIGTERM during a mutating flow: the step running finishes (or
   * fails, when its child got the signal too), the next step to start throws
   * an InterruptedError instead, so the flow undoes what it changed, as for
   * any failure; then the CLI exits 130/143. A second signal stops at once
   * (`onSecond` lets go of the lock first). Returns the function that removes
   * the handlers.
   */
  trapSignals(onSecond?: () => void): () => void {
    const handler = (sig: NodeJS.Signals) => {
      if (this.interrupted) {
        remove();
        onSecond?.();
        process.kill(process.pid, sig);
        return;
      }
      this.interrupted = sig === 'SIGINT' ? 'SIGINT' : 'SIGTERM';
      this.info('signal', { received: sig });
      this.say(`${sig} received: stopping before the next step and undoing what this run changed (${sig} again stops at once)`);
    };
    const remove = () => {
      process.removeListener('SIGINT', handler);
      process.removeListener('SIGTERM', handler);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return remove;
  }

  /**
   * The undo of a failed run begins: a first SIGINT/SIGTERM from here on no
   * longer stops before the next step, since an undo cut short leaves the half
   * state it was putting right (recovery would repair it only on the next
   * run). The signal is still reported at the end (exit 130/143); a second
   * one still stops at once.
   */
  beginUndo(): void {
    this.interruptDelivered = true;
  }

  /** After a flow failed: the error to report, an InterruptedError (exit 130/143) when a signal stopped it. */
  interruption(e: unknown): unknown {
    if (!this.interrupted || e instanceof InterruptedError) return e;
    const msg = (e as Error)?.message ?? String(e);
    return new InterruptedError(`stopped by ${this.interrupted}: ${msg}`, this.interrupted, e instanceof LifeopsError ? e.hint : undefined);
  }

  async step<T>(title: string, fn: () => Promise<T>): Promise<T> {
    if (this.interrupted && !this.interruptDelivered) {
      // once: the undo steps that follow must run
      this.interruptDelivered = true;
      this.write({ run: this.id, step: title, event: 'end', outcome: 'skipped', error: `not started: ${this.interrupted} received` });
      throw new InterruptedError(`stopped by ${this.interrupted} before "${title}"`, this.interrupted);
    }
    const start = this.io.now();
    this.write({ run: this.id, step: title, event: 'start', start: start.toISOString() });
    this.stepsStarted++;
    // the crash tests' kill points live in their effects (flows/effects.ts crashTestEffects)
    this.effects.stepStarting?.(this.stepsStarted, title);
    const tty = Boolean(this.io.stderr.isTTY) && !this.io.env.CI;
    // titles can name commands that carry a secret (a hook's command line): the console gets them masked, like the log
    const shown = this.redactor.text(title);
    if (tty) {
      const { default: ora } = await import('ora'); // only a terminal needs the spinner
      this.spinner = ora({ text: shown, stream: this.io.stderr as NodeJS.WriteStream }).start();
    }
    else this.io.stderr.write(`${this.plainPrefix()}▶ ${shown}\n`);
    try {
      const result = await fn();
      const end = this.io.now();
      const ms = end.getTime() - start.getTime();
      this.write({ run: this.id, step: title, event: 'end', outcome: 'ok', start: start.toISOString(), end: end.toISOString(), duration_ms: ms });
      if (this.spinner) this.spinner.succeed(`${shown} ${chalk.dim(formatDuration(ms))}`);
      else this.io.stderr.write(`${this.plainPrefix()}✔ ${shown} (${formatDuration(ms)})\n`);
      return result;
    } catch (e) {
      const end = this.io.now();
      const ms = end.getTime() - start.getTime();
      const msg = this.redactor.text((e as Error).message);
      this.write({ run: this.id, step: title, event: 'end', outcome: 'failed', start: start.toISOString(), end: end.toISOString(), duration_ms: ms, error: msg });
      if (this.spinner) this.spinner.fail(`${shown} ${chalk.dim(formatDuration(ms))}`);
      else this.io.stderr.write(`${this.plainPrefix()}✘ ${shown} (${formatDuration(ms)})\n`);
      throw e;
    } finally {
      this.spinner = undefined;
    }
  }
}

/** The run's redactor: every secret the stack resolves, service env_files included (util/redact stackRedactor). */
export function redactorFor(stack: Stack): Redactor {
  const serviceEnvFiles: Record<string, string>[] = [];
  for (const svc of Object.values(stack.services)) {
    for (const f of svc.env_file ?? []) {
      const p = typeof f === 'string' ? f : (f as { path: string }).path;
      try {
        serviceEnvFiles.push(parseEnvFile(path.resolve(stack.baseDir, p)));
      } catch {
        /* absent or unreadable: compose reports it; nothing to learn */
      }
    }
  }
  const am = stack.monitoring?.alertmanager;
  return stackRedactor({
    vars: stack.vars,
    secretNames: stack.secretNames,
    serviceEnvFiles,
    serviceEnvironments: Object.values(stack.services).map((s) => (s.environment ?? {}) as Record<string, unknown>),
    values: [
      stack.postgres?.password,
      stack.postgres?.external_url,
      stack.redis?.password,
      am?.slack_webhook_url,
      am?.pagerduty_routing_key,
      ...stack.deploy.notifications.map((n) => n.url),
      ...stack.backup.offsite.map((r) => (r.password_env ? stack.vars[r.password_env] : undefined)),
    ],
  });
}
