// The effects port: how a flow starts the processes that change the target
// (compose up/scale, docker stop/rm, builds, one-off migration containers),
// reads it, and waits. A run holds one implementation:
//  - real: runs them;
//  - dry run: reads run, every change is refused with an error, so a dry run
//    that reached a mutation fails loudly instead of changing anything;
//  - recording: for tests without Docker, scripted answers to reads and a
//    list of every call made, to compare with the plan that was printed.
import { EventEmitter } from 'node:events';
import { writeSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pipeInto, run as runProcess, runChecked, runStreamingOut, spawnTiedToUs } from '../clients/runner.js';
import { CommandFailedError } from '../clients/command-error.js';
import { startTextSession, type TextSession } from '../clients/session.js';
import { httpGet } from '../clients/http.js';
import type { RunResult, StreamedOutcome } from '../clients/runner.js';
import type { CommandOptions, CommandPort, StreamOptions, TiedCommand } from '../clients/port.js';
import { OperationError } from '../errors.js';
import { shellQuote } from '../commands/compose.js';

export type ProcessOptions = CommandOptions;

/**
 * The port (read, change, readStream, changeFrom: clients/port.ts, which the
 * clients that take a port, such as SwarmClient, name), plus what flows ask
 * of it directly.
 */
export interface Effects extends CommandPort {
  readonly kind: 'real' | 'dry-run' | 'recording';
  /** A command run inside a running container that changes it (a graceful nginx reload): its exit code and output. */
  execIn(docker: ContainerExec, container: string, argv: string[], timeoutMs?: number): Promise<{ exitCode: number; output: string }>;
  /** An HTTP GET that only reads (a smoke test through the front): its status; a connection failure throws. */
  httpGet(url: string, timeoutMs: number): Promise<{ ok: boolean; status: number }>;
  /** A target whose files live elsewhere (a server over SSH) receives each release's rendered folder here once it is written. */
  publishRendered?(renderDir: string, releaseId: string): Promise<void>;
  /** Such a target gets maintenance mode as the local maintenance folder now says (on: `active` -> a page; off), where its front reads it. */
  publishMaintenance?(maintenanceDir: string): Promise<void>;
  /** Called as the run's Nth step, titled `title`, starts (after its start is logged): the crash and signal tests' points. */
  stepStarting?(n: number, title: string): void;
}

/** What execIn needs of the engine client (clients/docker.ts DockerClient has it). */
export interface ContainerExec {
  exec(id: string, cmd: string[], timeoutMs?: number): Promise<{ exitCode: number; output: string }>;
}

export const realEffects: Effects = {
  kind: 'real',
  read: (argv, opts) => runProcess(argv, opts),
  change: (argv, opts) => (opts?.allowFailure ? runProcess(argv, opts) : runChecked(argv, opts)),
  readStream: (argv, stages, opts) => runStreamingOut(argv, stages, opts),
  changeFrom: (argv, input, what, opts) => pipeInto(argv, input, what, opts?.env),
  readTied: (argv, stdout) => spawnTiedToUs(argv, stdout),
  readSession: (argv, label) => startTextSession(argv, label),
  httpGet: async (url, timeoutMs) => {
    const r = await httpGet(url, { timeoutMs });
    return { ok: r.ok, status: r.status };
  },
  execIn: (docker, container, argv, timeoutMs) => docker.exec(container, argv, timeoutMs),
  sleep: (ms) => new Promise((done) => setTimeout(done, ms)),
};

/** The refusal a dry run raises when code tries to change something: a bug in lifeops, never a user error. */
export class DryRunMutationError extends OperationError {}

const dryRunRefusal = (argv: string[]) =>
  new DryRunMutationError(`dry run: refused to run a command that changes the target: ${shellQuote(argv)}`, 'this is a lifeops bug: a dry run must not reach a change; please report it with the step log');

/** `base` for what reads (commands, streams, HTTP); every change refused with a DryRunMutationError; no waits. */
export function refusingChanges(base: Effects): Effects {
  return {
    kind: 'dry-run',
    read: (argv, opts) => base.read(argv, opts),
    readStream: (argv, stages, opts) => base.readStream(argv, stages, opts),
    readTied: (argv, stdout) => base.readTied(argv, stdout),
    readSession: (argv, label) => base.readSession(argv, label),
    httpGet: (url, timeoutMs) => base.httpGet(url, timeoutMs),
    change: async (argv) => {
      throw dryRunRefusal(argv);
    },
    changeFrom: async (argv) => {
      throw dryRunRefusal(argv);
    },
    execIn: async (_docker, container, argv) => {
      throw dryRunRefusal(['docker', 'exec', container, ...argv]);
    },
    sleep: async () => undefined,
  };
}

export const dryRunEffects: Effects = refusingChanges(realEffects);

export interface RecordedCall {
  kind: 'read' | 'change' | 'sleep';
  argv: string[];
  /** the names of the variables given in its environment (their values are not kept) */
  env?: string[];
  /** a change fed from a file: that file's path */
  input?: string;
  /** a change fed from a stream (a decrypted backup file): the bytes it read */
  fed?: Buffer;
}

/**
 * A recorded command that was started with its stdout on a file (a dump): it
 * waits for its stdin to end, writes the scripted stdout, then exits with the
 * scripted code. Ending its stdin without writing (the caller gave up) or a
 * kill ends it with a failure.
 */
class ScriptedChild extends EventEmitter {
  readonly stdin = new PassThrough();
  readonly stdout: PassThrough | null;
  readonly stderr = new PassThrough();
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  private ended = false;

  constructor(
    private readonly result: RunResult,
    private readonly out: number | 'pipe',
  ) {
    super();
    this.stdout = out === 'pipe' ? new PassThrough() : null;
    this.stdin.resume();
    this.stdin.on('finish', () => this.end(this.result.exitCode, null, true));
    this.stdin.on('close', () => this.end(1, null, false));
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.end(null, signal, false);
    return true;
  }

  private end(code: number | null, signal: NodeJS.Signals | null, wrote: boolean): void {
    if (this.ended) return;
    this.ended = true;
    if (wrote && typeof this.out === 'number') writeSync(this.out, this.result.stdout);
    this.stdout?.end(wrote ? this.result.stdout : '');
    this.stderr.end(wrote ? this.result.stderr : '');
    this.exitCode = code;
    this.signalCode = signal;
    this.emit('exit', code, signal);
    setImmediate(() => this.emit('close', code, signal));
  }
}

/**
 * For tests: every call is recorded; `answer` scripts what a command returns
 * (default: exit 0, no output). Nothing runs.
 */
export class RecordingEffects implements Effects {
  readonly kind = 'recording';
  readonly calls: RecordedCall[] = [];
  /** a signal delivered to this process's handlers (Run.trapSignals) as the first step whose title matches starts */
  signalAt?: { title: RegExp; signal: 'SIGINT' | 'SIGTERM' };

  constructor(private readonly answer: (argv: string[], kind: 'read' | 'change') => Partial<RunResult> | undefined = () => undefined) {}

  private result(argv: string[], kind: 'read' | 'change'): RunResult {
    return { exitCode: 0, stdout: '', stderr: '', ...this.answer(argv, kind) } as RunResult;
  }

  async read(argv: string[], opts?: ProcessOptions): Promise<RunResult> {
    this.calls.push({ kind: 'read', argv, ...(opts?.env ? { env: Object.keys(opts.env) } : {}) });
    return this.result(argv, 'read');
  }

  async change(argv: string[], opts?: ProcessOptions): Promise<RunResult> {
    this.calls.push({ kind: 'change', argv, ...(opts?.env ? { env: Object.keys(opts.env) } : {}) });
    const r = this.result(argv, 'change');
    if (r.exitCode !== 0 && !opts?.allowFailure) throw new OperationError(`command failed (exit ${r.exitCode}): ${shellQuote(argv)}\n${r.stderr}`);
    return r;
  }

  /** the scripted stdout flows through the stages (into the dump file), its stderr into opts.stderr */
  async readStream(argv: string[], stages: (Readable | Writable)[], opts?: StreamOptions): Promise<StreamedOutcome> {
    this.calls.push({ kind: 'read', argv, ...(opts?.env ? { env: Object.keys(opts.env) } : {}) });
    const r = this.result(argv, 'read');
    if (r.stderr) opts?.stderr?.write(r.stderr);
    await (pipeline as (...s: unknown[]) => Promise<void>)(Readable.from([Buffer.from(r.stdout)]), ...stages);
    return { exitCode: r.exitCode, stderrTail: r.stderr };
  }

  /** answered like a read of ['GET', url]: exit 0 is HTTP 200, anything else HTTP 503 */
  async httpGet(url: string): Promise<{ ok: boolean; status: number }> {
    this.calls.push({ kind: 'read', argv: ['GET', url] });
    const r = this.result(['GET', url], 'read');
    return r.exitCode === 0 ? { ok: true, status: 200 } : { ok: false, status: 503 };
  }

  async changeFrom(argv: string[], input: Readable | { file: string }, what: string, opts?: { env?: Record<string, string> }): Promise<string> {
    const file = 'file' in input ? input.file : (input as Readable & { path?: unknown }).path;
    const call: RecordedCall = { kind: 'change', argv, ...(opts?.env ? { env: Object.keys(opts.env) } : {}), ...(typeof file === 'string' ? { input: file } : {}) };
    this.calls.push(call);
    if (input instanceof Readable) {
      // read to its end, as the command would (a stream that fails, a wrong key, fails the change)
      const chunks: Buffer[] = [];
      for await (const c of input) chunks.push(Buffer.from(c as Buffer));
      call.fed = Buffer.concat(chunks);
    }
    const r = this.result(argv, 'change');
    if (r.exitCode !== 0) throw new CommandFailedError(`${what} failed (exit ${r.exitCode}):\n${r.stderr}`, r.exitCode);
    return r.stdout;
  }

  /** started as a read; writes the scripted stdout into `stdout` once its stdin ends */
  readTied(argv: string[], stdout: number | 'pipe'): TiedCommand {
    this.calls.push({ kind: 'read', argv });
    return { child: new ScriptedChild(this.result(argv, 'read'), stdout) as unknown as ChildProcess, lifeline: new PassThrough() };
  }

  /** opened as a read; each question answered like a read of argv + [text] (and recorded as one) */
  readSession(argv: string[]): TextSession {
    this.calls.push({ kind: 'read', argv });
    const ask = async (text: string, marker: string) => {
      const full = [...argv, text];
      this.calls.push({ kind: 'read', argv: full });
      const r = this.result(full, 'read');
      if (r.exitCode !== 0) throw new OperationError(`session ended early (exit ${r.exitCode}): ${r.stderr}`);
      return r.stdout.endsWith(marker + '\n') ? r.stdout.slice(0, -(marker.length + 1)) : r.stdout;
    };
    return { ask, stderr: () => '', finish: async (text) => void (await ask(text, '')), close: async () => undefined };
  }

  async execIn(_docker: ContainerExec, container: string, argv: string[]): Promise<{ exitCode: number; output: string }> {
    const full = ['docker', 'exec', container, ...argv];
    this.calls.push({ kind: 'change', argv: full });
    const r = this.result(full, 'change');
    return { exitCode: r.exitCode, output: r.stdout + r.stderr };
  }

  async sleep(ms: number): Promise<void> {
    this.calls.push({ kind: 'sleep', argv: [String(ms)] });
  }

  stepStarting(_n: number, title: string): void {
    if (!this.signalAt?.title.test(title)) return;
    const { signal } = this.signalAt;
    this.signalAt = undefined;
    // to the handlers only: a real signal with no handler would end the test runner
    process.emit(signal, signal);
  }

  /** the commands that changed something, in order */
  changes(): string[][] {
    return this.calls.filter((c) => c.kind === 'change').map((c) => c.argv);
  }
}

/**
 * TEST ONLY (test/engine/crash-*.test.ts): the real effects, plus a kill or a
 * signal as the Nth step starts, to prove that the next run recovers from a
 * crash at every step boundary. LIFEOPS_TEST_KILL_AT_STEP=N sends SIGKILL;
 * LIFEOPS_TEST_SIGNAL_AT_STEP=N:SIGINT (or N:SIGTERM) sends that signal (undo,
 * then exit 130/143). Chosen by the CLI only when one of them is set; never
 * set them in production.
 */
export function crashTestEffects(env: Record<string, string | undefined>, base: Effects = realEffects): Effects | undefined {
  const kill = env.LIFEOPS_TEST_KILL_AT_STEP ? Number(env.LIFEOPS_TEST_KILL_AT_STEP) : undefined;
  const sig = /^(\d+):(SIGINT|SIGTERM)$/.exec(env.LIFEOPS_TEST_SIGNAL_AT_STEP ?? '');
  if (kill === undefined && !sig) return undefined;
  return {
    ...base,
    stepStarting(n: number) {
      if (kill === n) process.kill(process.pid, 'SIGKILL');
      if (sig && Number(sig[1]) === n) process.kill(process.pid, sig[2] as NodeJS.Signals);
    },
  };
}
