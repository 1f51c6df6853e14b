// Which compose this host has (v2's plugin or v1's docker-compose), asked
// once and cached under a fingerprint of the binaries. A read of this host's
// tools, not of the target: it runs before any run's port exists.
import { statSync, readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { OperationError } from '../errors.js';
import type { ComposeCli } from '../commands/compose.js';

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
  const { execa } = await import('execa'); // its own chunk: asked only when the cached answer is stale
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
