// `lifeops hosts trust <env>`: pin the host key of an environment's server.
// ssh refuses unknown keys (StrictHostKeyChecking=yes); this shows the key's
// fingerprint as the server offers it, and writes it into known_hosts only
// after the operator confirmed it (compare it with the server's own
// `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`).
import os from 'node:os';
import path from 'node:path';
import { appendFileSync, chmodSync, existsSync, mkdirSync } from 'node:fs';
import type { Stack } from '../config/schema.js';
import { OperationError, UsageError } from '../errors.js';
import type { Effects } from './effects.js';
import { parseSshHost, sshFingerprints, sshKeyscan, sshKnownHostsFind, type SshHost } from '../commands/ssh.js';

export interface TrustFacts {
  host: string;
  known_hosts: string;
  already_known: boolean;
  fingerprints: string[];
  lines: string[];
}

export const knownHostsFile = (env: Record<string, string | undefined>) => env.LIFEOPS_SSH_KNOWN_HOSTS || path.join(env.HOME ?? os.homedir(), '.ssh', 'known_hosts');

/** What ssh itself resolves the destination to (~/.ssh/config's HostName and Port). */
async function resolved(effects: Effects, host: SshHost): Promise<SshHost> {
  const r = await effects.read(['ssh', '-G', ...(host.port ? ['-p', String(host.port)] : []), host.destination]);
  if (r.exitCode !== 0) return host;
  const get = (k: string) => r.stdout.split('\n').find((l) => l.startsWith(`${k} `))?.slice(k.length + 1).trim();
  const port = Number(get('port') ?? '22');
  return { ...host, hostname: get('hostname') ?? host.hostname, ...(port !== 22 ? { port } : {}) };
}

/** Scan the server's keys and their fingerprints; nothing is written. */
export async function scanHostKeys(effects: Effects, stack: Stack, env: Record<string, string | undefined>): Promise<TrustFacts> {
  if (!stack.host) throw new UsageError(`environment ${stack.env} has no host: (it runs on this machine)`, `add environments.${stack.env}.host: ssh://user@server`);
  const parsed = parseSshHost(stack.host);
  if (!parsed) throw new UsageError(`environments.${stack.env}.host: "${stack.host}" is not an SSH address`);
  const host = await resolved(effects, parsed);
  const file = knownHostsFile(env);
  const known = existsSync(file) && (await effects.read(sshKnownHostsFind(host, file))).exitCode === 0;
  const scan = await effects.read(sshKeyscan(host), { timeoutMs: 30_000 });
  const lines = scan.stdout.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  if (!lines.length) throw new OperationError(`no host key from ${host.hostname}${host.port ? `:${host.port}` : ''}: ${scan.stderr.trim().split('\n').slice(-1)[0] || 'no answer'}`);
  const fp = await effects.read(sshFingerprints(), { input: lines.join('\n') + '\n' });
  if (fp.exitCode !== 0) throw new OperationError(`ssh-keygen could not read the scanned keys: ${fp.stderr.trim()}`);
  return { host: host.hostname + (host.port ? `:${host.port}` : ''), known_hosts: file, already_known: known, fingerprints: fp.stdout.split('\n').filter(Boolean), lines };
}

/** Append the scanned lines (the file 0600, its folder 0700 when lifeops makes it). */
export function pinHostKeys(facts: TrustFacts): void {
  const dir = path.dirname(facts.known_hosts);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  appendFileSync(facts.known_hosts, facts.lines.join('\n') + '\n', { mode: 0o600 });
  chmodSync(facts.known_hosts, 0o600);
}
