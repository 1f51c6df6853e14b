// The one place external commands run. Every argv comes from a pure builder
// in src/commands; output is captured for the step log (redacted there).
import { execa, type ResultPromise } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { open as openFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { statSync, readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { OperationError } from '../errors.js';
import type { ComposeCli } from '../commands/compose.js';
import { dockerExecWith, shellQuote } from '../commands/compose.js';

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

export async function run(argvAsked: string[], opts: { env?: Record<string, string>; timeoutMs?: number; input?: string; cwd?: string } = {}): Promise<RunResult> {
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

/** stdout and stderr interleaved as the program wrote them, for validators' and hooks' messages. */
export interface CombinedResult {
  exitCode: number;
  output: string;
  /** the program is not installed */
  notFound: boolean;
}

export async function runCombined(argv: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; ignoreStdout?: boolean } = {}): Promise<CombinedResult> {
  const [file, ...args] = adjustArgv(argv);
  // ignoreStdout: a program that opens /dev/stdout itself (nginx's access_log) cannot open a socket pair
  const r = await execa(file, args, { reject: false, all: true, env: opts.env, extendEnv: true, cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, stdin: 'ignore', ...(opts.ignoreStdout ? { stdout: 'ignore' as const } : {}) });
  const notFound = (r as { code?: string }).code === 'ENOENT';
  return { exitCode: r.exitCode ?? (notFound ? 127 : 1), output: String(r.all ?? r.shortMessage ?? ''), notFound };
}

/** Run a program whose output goes to the caller as it comes (logs --follow); resolves with the exit code. */
export async function runStreaming(argv: string[], onStdout: (chunk: string) => void, onStderr: (chunk: string) => void, opts: { env?: Record<string, string> } = {}): Promise<number> {
  const [file, ...args] = adjustArgv(argv);
  const child = execa(file, args, { reject: false, env: opts.env, buffer: false });
  child.stdout?.on('data', (d: Buffer) => onStdout(d.toString()));
  child.stderr?.on('data', (d: Buffer) => onStderr(d.toString()));
  const r = await child;
  return r.exitCode ?? 1;
}

/** docker exec (argv, not through a shell) returning stdout; env names are passed through from ours. */
export async function dockerExec(id: string, cmd: string[], opts: { input?: string; envNames?: string[]; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const [file, ...args] = dockerExecWith(id, cmd, { stdin: opts.input !== undefined, envNames: opts.envNames });
  const r = await execa(file, args, {
    reject: false,
    input: opts.input,
    env: opts.env,
    extendEnv: true,
    timeout: opts.timeoutMs ?? 120_000,
  });
  if (r.exitCode !== 0) {
    const tail = String(r.stderr || r.stdout).split('\n').slice(-5).join('\n');
    throw new OperationError(`docker exec ${cmd.slice(0, 3).join(' ')} … failed (exit ${r.exitCode}): ${tail}`);
  }
  return String(r.stdout);
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
export async function runStreamingOut(argv: string[], stages: (Readable | Writable)[], opts: { env?: Record<string, string> } = {}): Promise<StreamedOutcome> {
  const [cmd, ...args] = argv;
  const child = execa(cmd, args, { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore', reject: false, buffer: { stdout: false, stderr: true }, env: opts.env, extendEnv: true });
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
  const child = execa(argv[0], argv.slice(1), { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, env, extendEnv: true });
  let pipeErr: unknown;
  try {
    await pipeline(input, child.stdin!);
  } catch (e) {
    pipeErr = e;
  }
  return { ...(await child), pipeErr };
}

/** A command that exited non-zero: `commandExit` is its exit code (null: ended by a signal or never started). */
export class CommandFailedError extends OperationError {
  constructor(
    message: string,
    readonly commandExit: number | null | undefined,
  ) {
    super(message);
  }
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

/** A long-lived command talked to through its stdin and stdout (a psql session); nothing buffered, never rejects. */
export function startSession(argv: string[]): ResultPromise<{ stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; reject: false; buffer: false }> {
  return execa(argv[0], argv.slice(1), { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, buffer: false });
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

/** Put NAME=value into our environment: every process started from now on inherits it (how a dead run's clients are found again). */
export function inheritedByChildren(name: string, value: string): void {
  process.env[name] = value;
}

let detected: Promise<ComposeCli> | undefined;

const PLUGIN_DIRS = ['/usr/local/lib/docker/cli-plugins', '/usr/local/libexec/docker/cli-plugins', '/usr/lib/docker/cli-plugins', '/usr/libexec/docker/cli-plugins'];

/**
 * What the answer of detection depends on: the compose binaries on PATH and
 * the docker CLI plugin folders (path, size, mtime), and LIFEOPS_COMPOSE.
 * Stat calls only: microseconds, where asking the binaries costs 0.3-1 s
 * (docker-compose v1 is a Python program).
 */
export function composeFingerprint(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME ?? os.homedir();
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const candidates = [
    ...dirs.flatMap((d) => [path.join(d, 'docker'), path.join(d, 'docker-compose')]),
    ...[path.join(env.DOCKER_CONFIG ?? path.join(home, '.docker'), 'cli-plugins'), ...PLUGIN_DIRS].map((d) => path.join(d, 'docker-compose')),
  ];
  const h = createHash('sha256').update(`LIFEOPS_COMPOSE=${env.LIFEOPS_COMPOSE ?? ''}\n`);
  for (const c of candidates) {
    try {
      const st = statSync(c);
      h.update(`${c} ${st.size} ${st.mtimeMs}\n`);
    } catch {
      /* absent: its absence is part of the fingerprint through the others */
    }
  }
  return h.digest('hex').slice(0, 16);
}

function cacheFile(env: NodeJS.ProcessEnv): string {
  return path.join(env.XDG_CACHE_HOME ?? path.join(env.HOME ?? os.homedir(), '.cache'), 'lifeops', 'compose.json');
}

async function askCompose(): Promise<ComposeCli> {
  // LIFEOPS_COMPOSE=v1 or v2 insists on one (the test lanes do): no silent fallback to the other
  const forced = process.env.LIFEOPS_COMPOSE;
  if (forced !== 'v1') {
    const v2 = await execa('docker', ['compose', 'version', '--short'], { reject: false });
    if (v2.exitCode === 0) return { kind: 'v2' as const, argv: ['docker', 'compose'], version: String(v2.stdout).trim() };
    if (forced === 'v2') throw new OperationError('LIFEOPS_COMPOSE=v2 but `docker compose` (the v2 plugin) does not answer', 'install the compose plugin (testbed/setup.sh does), or unset LIFEOPS_COMPOSE');
  }
  const v1 = await execa('docker-compose', ['version', '--short'], { reject: false });
  if (v1.exitCode === 0) return { kind: 'v1' as const, argv: ['docker-compose'], version: String(v1.stdout).trim() };
  throw new OperationError('neither `docker compose` (v2) nor `docker-compose` (v1) was found', 'install the compose plugin or docker-compose (apt-get install docker-compose)');
}

/**
 * compose v2 (`docker compose`) if the plugin is there, else v1
 * (`docker-compose`). The answer is cached (~/.cache/lifeops/compose.json)
 * under a fingerprint of the binaries, so it is asked again only when one of
 * them is installed, removed or upgraded.
 */
export function detectCompose(): Promise<ComposeCli> {
  detected ??= (async () => {
    const file = cacheFile(process.env);
    const fp = composeFingerprint();
    // one answer per fingerprint: runs forcing v1 and v2 side by side (cron, CI lanes) must not evict each other
    let answers: Record<string, ComposeCli> = {};
    try {
      const cached = JSON.parse(readFileSync(file, 'utf8')) as { answers?: Record<string, ComposeCli> };
      answers = cached.answers ?? {};
      const hit = answers[fp];
      if (hit && (hit.kind === 'v1' || hit.kind === 'v2')) return hit;
    } catch {
      /* no cache yet, or unreadable: ask */
    }
    const cli = await askCompose();
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      const kept = Object.entries(answers).slice(-7); // a few installations' worth; stale fingerprints age out
      writeFileSync(tmp, JSON.stringify({ answers: Object.fromEntries([...kept, [fp, cli]]) }) + '\n');
      renameSync(tmp, file);
    } catch {
      /* a read-only home only costs the detection next time */
    }
    return cli;
  })();
  return detected;
}
