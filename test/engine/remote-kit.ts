// The remote host of testbed/remote-host.sh as the engine tests use it: a
// server in its own network and mount namespaces, with sshd and its own
// dockerd, reached from this (the operator's) side only over SSH.
import { execa } from 'execa';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers.js';

export const BED = path.join(ROOT, 'testbed', 'remote-host.sh');

export interface RemoteBed {
  addr: string;
  hostKeyLine: string;
  sshdLog: string;
  /** the operator's key pair and known_hosts file (empty until `hosts trust`) */
  key: string;
  knownHosts: string;
}

/** Start (or repair) the server, make an operator key and authorize it. */
export async function remoteBed(): Promise<RemoteBed> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-remote-op-'));
  const key = path.join(dir, 'id_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lifeops-remote-test', '-f', key]);
  const r = await execa('bash', [BED, '--authorize', `${key}.pub`], { timeout: 240_000 });
  const facts = Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  return { addr: facts.ADDR, hostKeyLine: facts.HOST_KEY_LINE, sshdLog: facts.SSHD_LOG, key, knownHosts: path.join(dir, 'known_hosts') };
}

/** Run a command inside the server (its network, mounts and engine): for checks, never for lifeops' own work. */
/** The bed, a clean project folder on it, and its host key pinned as `hosts trust --yes` would (remote.test.ts tests that command). */
export async function bedFor(project: string): Promise<RemoteBed> {
  const bed = await remoteBed();
  await cleanServer(project);
  writeFileSync(bed.knownHosts, `${bed.hostKeyLine}\n`);
  chmodSync(bed.knownHosts, 0o600);
  return bed;
}

export async function onServer(argv: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  return execa('bash', [BED, '--in', ...argv], { reject: false, env: opts.env, timeout: opts.timeoutMs ?? 120_000 });
}

/** Remove what an earlier run of a test left on the server under `project` (its containers, volumes, releases). */
export async function cleanServer(project: string, root = '/srv/lifeops'): Promise<void> {
  const script = [
    `ids=$(docker ps -aq --filter label=com.docker.compose.project=${project}); [ -z "$ids" ] || docker rm -f $ids >/dev/null`,
    `vols=$(docker volume ls -q --filter label=com.docker.compose.project=${project}); [ -z "$vols" ] || docker volume rm $vols >/dev/null`,
    `nets=$(docker network ls -q --filter label=com.docker.compose.project=${project}); [ -z "$nets" ] || docker network rm $nets >/dev/null`,
    `rm -rf ${root}/${project}`,
  ].join('\n');
  const r = await onServer(['sh', '-c', script]);
  if (r.exitCode !== 0) throw new Error(`cleaning ${project} on the server failed: ${r.stderr}`);
}

/** The server engine's containers of a project: service -> id. */
export async function serverContainers(project: string): Promise<Record<string, string>> {
  const r = await onServer(['docker', 'ps', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Label "com.docker.compose.service"}} {{.ID}}']);
  return Object.fromEntries(r.stdout.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
}

/** SSH connections the server accepted so far (sshd logs one line per authenticated connection). */
export function acceptedConnections(log: string): number {
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('Accepted publickey')).length : 0;
}

/**
 * A bounded request loop run ON the server against the front it publishes on
 * its own loopback: at most 3000 requests, 50 ms apart, 5 s each, until the
 * file `stop` exists. Resolves to ok/failed counts.
 */
export function loadOnServer(port: number, stop: string): Promise<{ ok: number; failed: number }> {
  const script = `ok=0; failed=0; i=0
while [ ! -e ${stop} ] && [ $i -lt 3000 ]; do
  c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:${port}/ || true)
  if [ "$c" = 200 ]; then ok=$((ok+1)); else failed=$((failed+1)); fi
  i=$((i+1)); sleep 0.05
done
echo "$ok $failed"`;
  return onServer(['sh', '-c', script], { timeoutMs: 400_000 }).then((r) => {
    const [ok, failed] = r.stdout.trim().split(' ').map(Number);
    return { ok, failed };
  });
}

/** The median of a few timed runs of `fn`, in ms. */
export async function medianMs(times: number, fn: () => Promise<unknown>): Promise<number> {
  const all: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await fn();
    all.push(performance.now() - t0);
  }
  return all.sort((a, b) => a - b)[Math.floor(all.length / 2)];
}
