// The one place external commands run. Every argv comes from a pure builder
// in src/commands; output is captured for the step log (redacted there).
import type { ResultPromise } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { open as openFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { OperationError } from '../errors.js';
import { CommandFailedError } from './command-error.js';
import { shellQuote } from '../commands/compose.js';

type Execa = typeof import('execa').execa;
let execaModule: Promise<Execa> | undefined;
/** execa, loaded with the first command (its own chunk): a run that spawns nothing, as `status`, never compiles it. */
export const loadExeca = (): Promise<Execa> => (execaModule ??= import('execa').then((m) => m.execa));

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * A target whose engine is elsewhere (a server over SSH) adjusts the argv of
 * every process before it starts (compose's project folder: the server's).
 * Identity unless one is installed.
 */
let adjustArgv: (argv: string[]) => string[] = (argv) => argv;
export function setArgvAdjuster(fn: ((argv: string[]) => string[]) | undefined): void {
  adjustArgv = fn ?? ((argv) => argv);
}

export async function run(argvAsked: string[], opts: { env?: Record<string, string>; timeoutMs?: number; input?: string; cwd?: string; ignoreStdout?: boolean } = {}): Promise<RunResult> {
  const execa = await loadExeca();
  const argv = adjustArgv(argvAsked);
  const [file, ...args] = argv;
  const r = await execa(file, args, {
    reject: false,
    env: opts.env,
    extendEnv: true,
    timeout: opts.timeoutMs,
    input: opts.input,
    cwd: opts.cwd,
    stripFinalNewline: true,
    ...(opts.ignoreStdout ? { stdout: 'ignore' as const } : {}),
  });
  if (r.failed && r.exitCode === undefined) {
    throw new OperationError(`could not run ${shellQuote(argv.slice(0, 3))}: ${r.shortMessage ?? 'failed to start'}`);
  }
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 1 };
}

export async function runChecked(argv: string[], opts: Parameters<typeof run>[1] = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.exitCode !== 0) {
    const tail = (r.stderr || r.stdout).split('\n').slice(-15).join('\n');
    throw new OperationError(`command failed (exit ${r.exitCode}): ${shellQuote(argv)}\n${tail}`);
  }
  return r;
}

// ------------------------------------------------------------- streaming

/** How a command whose stdout was streamed ended: its exit code, the tail of its stderr, and a pipeline error if any. */
export interface StreamedOutcome {
  exitCode?: number;
  stderrTail: string;
  pipeErr?: unknown;
}

/**
 * Run argv, streaming its stdout through `stages` (transforms, the last one a
 * writable). A failed pipeline kills the command. The outcome, whatever it is:
 * the caller decides which failure explains the other.
 */
export async function runStreamingOut(argv: string[], stages: (Readable | Writable)[], opts: { env?: Record<string, string>; stderr?: Writable } = {}): Promise<StreamedOutcome> {
  const [cmd, ...args] = adjustArgv(argv);
  const execa = await loadExeca();
  const child = execa(cmd, args, { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore', reject: false, buffer: { stdout: false, stderr: true }, env: opts.env, extendEnv: true });
  if (opts.stderr) child.stderr?.on('data', (d: Buffer) => opts.stderr!.write(d));
  let pipeErr: unknown;
  try {
    await (pipeline as (...s: unknown[]) => Promise<void>)(child.stdout as Readable, ...stages);
  } catch (e) {
    pipeErr = e;
    child.kill('SIGTERM');
  }
  const r = await child;
  return { exitCode: r.exitCode, stderrTail: String(r.stderr ?? '').split('\n').slice(-5).join('\n'), ...(pipeErr !== undefined ? { pipeErr } : {}) };
}

/** The outcome of a command fed on its stdin. */
export type Piped = { exitCode?: number | null; stdout?: unknown; stderr?: unknown; pipeErr?: unknown };

/**
 * Run argv with input on its stdin; the outcome, whatever it is. A `{ file }`
 * is handed to the command as its stdin, as `< file` would: no copy through
 * this process.
 */
export async function runWithStdin(argv: string[], input: Readable | { file: string }, env?: Record<string, string>): Promise<Piped> {
  if ('file' in input) {
    const fh = await openFile(input.file, 'r');
    try {
      return await new Promise((resolve) => {
        const child = spawn(argv[0], argv.slice(1), { stdio: [fh.fd, 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout!.on('data', (d: Buffer) => out.push(d));
        child.stderr!.on('data', (d: Buffer) => err.push(d));
        child.once('error', (e) => resolve({ exitCode: null, stderr: e.message }));
        child.once('close', (code) => resolve({ exitCode: code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
      });
    } finally {
      await fh.close();
    }
  }
  const execa = await loadExeca();
  const child = execa(argv[0], argv.slice(1), { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, env, extendEnv: true });
  let pipeErr: unknown;
  try {
    await pipeline(input, child.stdin!);
  } catch (e) {
    pipeErr = e;
  }
  return { ...(await child), pipeErr };
}


/** The output of a piped command that must succeed; a clear error otherwise. */
export function pipedOutput(r: Piped, what: string): string {
  if (r.exitCode !== 0) {
    const tail = String(r.stderr || r.stdout).split('\n').slice(-6).join('\n');
    throw new CommandFailedError(`${what} failed (exit ${r.exitCode}):\n${tail}`, r.exitCode);
  }
  if (r.pipeErr && (r.pipeErr as NodeJS.ErrnoException).code !== 'EPIPE') throw new OperationError(`${what}: ${(r.pipeErr as Error).message}`);
  return String(r.stdout ?? '');
}

/** Run argv with a file (or a stream) on its stdin; returns its stdout, or throws naming `what`. */
export async function pipeInto(argv: string[], input: Readable | { file: string }, what: string, env?: Record<string, string>): Promise<string> {
  return pipedOutput(await runWithStdin(argv, input, env), what);
}

export type SessionProcess = ResultPromise<{ stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; reject: false; buffer: false }>;

/** A long-lived command talked to through its stdin and stdout (a psql session); nothing buffered, never rejects. Wrapped: the process is itself a promise. */
export async function startSession(argv: string[]): Promise<{ proc: SessionProcess }> {
  const execa = await loadExeca();
  return { proc: execa(argv[0], argv.slice(1), { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, buffer: false }) };
}

/**
 * Runs its arguments (the docker client) on the host and kills it when fd 3
 * reaches end-of-file: lifeops holds the other end, so a lifeops that dies
 * takes the docker client with it, and with it the container's command,
 * whose output then has nowhere to go. Writing a file directly, the client
 * would otherwise never notice. (A background job's stdin is /dev/null in
 * sh: hence the copy on fd 4.)
 */
const STOP_WITH_LIFEOPS = [
  'exec 4<&0',
  '"$@" <&4 3<&- 4<&- & p=$!',
  '(while read -r _; do :; done; kill $p) <&3 >/dev/null 2>&1 4<&- & w=$!',
  'exec 3<&- 4<&-',
  'wait $p; s=$?',
  'kill $w 2>/dev/null; wait $w',
  'exit $s',
].join('\n');

/**
 * Start argv tied to this process's life (see STOP_WITH_LIFEOPS): its stdout
 * an open file descriptor (written directly, as `> file` would) or a pipe.
 * Destroying `lifeline` (never written to) stops it.
 */
export function spawnTiedToUs(argv: string[], stdout: number | 'pipe'): { child: ChildProcess; lifeline: Writable } {
  const child = spawn('sh', ['-c', STOP_WITH_LIFEOPS, 'sh', ...argv], { stdio: ['pipe', stdout, 'pipe', 'pipe'] });
  return { child, lifeline: child.stdio[3] as Writable };
}

// the error class and compose detection have files of their own; their importers keep this name
export { CommandFailedError } from './command-error.js';
export { composeFingerprint, detectCompose } from './compose-detect.js';
