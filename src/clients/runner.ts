// The one place external commands run. Every argv comes from a pure builder
// in src/commands; output is captured for the step log (redacted there).
import { execa } from 'execa';
import { statSync, readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { OperationError } from '../errors.js';
import type { ComposeCli } from '../commands/compose.js';
import { shellQuote } from '../commands/compose.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function run(argv: string[], opts: { env?: Record<string, string>; timeoutMs?: number; input?: string; cwd?: string } = {}): Promise<RunResult> {
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
  const forced = process.env.LIFEOPS_COMPOSE;
  if (forced !== 'v1') {
    const v2 = await execa('docker', ['compose', 'version', '--short'], { reject: false });
    if (v2.exitCode === 0) return { kind: 'v2' as const, argv: ['docker', 'compose'], version: String(v2.stdout).trim() };
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
    try {
      const cached = JSON.parse(readFileSync(file, 'utf8')) as { fingerprint: string; cli: ComposeCli };
      if (cached.fingerprint === fp && (cached.cli.kind === 'v1' || cached.cli.kind === 'v2')) return cached.cli;
    } catch {
      /* no cache yet, or unreadable: ask */
    }
    const cli = await askCompose();
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      writeFileSync(tmp, JSON.stringify({ fingerprint: fp, cli }) + '\n');
      renameSync(tmp, file);
    } catch {
      /* a read-only home only costs the detection next time */
    }
    return cli;
  })();
  return detected;
}
