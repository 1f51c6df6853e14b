// Pre-flight checks that fail before anything changes, each with its fix:
// secret strength in production, free disk for backups and images, and
// published host ports that are free or already held by this project.
import { statfs, mkdir } from 'node:fs/promises';
import type { Stack } from '../config/schema.js';
import { ConfigError, OperationError } from '../errors.js';
import type { ContainerState } from '../clients/docker.js';

/** Substrings that mark a value as a placeholder (compared lower-case). */
export const PLACEHOLDER_MARKERS = ['change-me', 'changeme', 'change_me', 'replace-me', 'replaceme', 'secret', 'password', 'passwd', 'xxx', 'example', 'default', 'placeholder', 'dummy', 'todo', 'insecure', 'not-secret', '12345', 'qwerty', 'letmein'];

/** Values shipped as defaults by common images and frameworks. */
export const KNOWN_DEFAULTS = ['postgres', 'admin', 'root', 'redis', 'guest', 'test', 'demo', 'django-insecure', 'minioadmin', 'grafana', 'prom-operator', 'supersecret', 'mysecretpassword'];

export const MIN_SECRET_LENGTH = 32;

export interface SecretProblem {
  name: string;
  reason: string;
}

/** Why a secret value is weak, or undefined when it is acceptable. Never returns the value. */
export function secretWeakness(value: string): string | undefined {
  const low = value.toLowerCase();
  if (!value) return 'is empty';
  if (KNOWN_DEFAULTS.includes(low)) return 'is a well-known default';
  const marker = PLACEHOLDER_MARKERS.find((m) => low.includes(m));
  if (marker) return `looks like a placeholder (contains "${marker}")`;
  if (value.length < MIN_SECRET_LENGTH) return `is shorter than ${MIN_SECRET_LENGTH} characters (${value.length})`;
  if (new Set(value).size < 6) return 'has too few distinct characters';
  return undefined;
}

/** URL-valued secrets (webhooks, DATABASE_URL) are judged by their password part only. */
function secretPart(value: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/@]*)@/i.exec(value);
  if (m) {
    const cred = m[1];
    return cred.includes(':') ? decodeURIComponent(cred.slice(cred.indexOf(':') + 1)) : undefined;
  }
  if (/^https?:\/\//i.test(value)) return undefined; // webhook URLs: the token is in the path, not judged
  return value;
}

export function weakSecrets(stack: Pick<Stack, 'secretNames' | 'vars'>): SecretProblem[] {
  const out: SecretProblem[] = [];
  for (const name of stack.secretNames) {
    const raw = stack.vars[name];
    if (raw === undefined) continue;
    const value = secretPart(raw);
    if (value === undefined) continue;
    const reason = secretWeakness(value);
    if (reason) out.push({ name, reason });
  }
  return out;
}

/** Production only: refuse weak secrets (exit 2: the configuration is wrong, nothing was touched). */
export function checkSecrets(stack: Stack): void {
  if (!stack.production) return;
  const bad = weakSecrets(stack);
  if (!bad.length) return;
  throw new ConfigError(
    `refusing to deploy ${stack.env}: ${bad.length} weak secret${bad.length > 1 ? 's' : ''}:\n${bad.map((b) => `  ${b.name} ${b.reason}`).join('\n')}`,
    `set each to a random value of at least ${MIN_SECRET_LENGTH} characters, e.g. \`openssl rand -hex 32\`, in the environment's env file (or the process environment)`,
  );
}

export async function freeDiskMb(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const s = await statfs(dir);
  return Math.floor((Number(s.bavail) * Number(s.bsize)) / (1024 * 1024));
}

export async function checkDisk(stack: Stack, stateDir: string): Promise<number> {
  const free = await freeDiskMb(stateDir);
  if (free < stack.deploy.min_free_disk_mb) {
    throw new OperationError(
      `only ${free} MB free under ${stateDir}; deploy needs at least ${stack.deploy.min_free_disk_mb} MB (deploy.min_free_disk_mb) for the backup and images`,
      'free space (`docker image prune`, `lifeops backups list` and remove old ones) or lower deploy.min_free_disk_mb',
    );
  }
  return free;
}

export interface PublishedPort {
  service: string;
  ip: string;
  port: number;
  spec: string;
}

/** Host ports the stack publishes explicitly ("127.0.0.1:8080:80", "8080:80"); "127.0.0.1::5432" picks any free port and is skipped. */
export function publishedPorts(stack: Pick<Stack, 'services'>): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const [service, svc] of Object.entries(stack.services)) {
    if (svc.replicas === 0 || svc.profiles?.length) continue;
    for (const spec of svc.ports) {
      const bare = spec.replace(/\/(tcp|udp)$/, '');
      if (spec.endsWith('/udp')) continue;
      const parts = bare.split(':');
      let ip = '0.0.0.0';
      let host = '';
      if (parts.length === 3) [ip, host] = parts;
      else if (parts.length === 2) host = parts[0];
      if (!host || host.includes('-')) continue;
      out.push({ service, ip, port: Number(host), spec });
    }
  }
  return out;
}

import { portFree } from '../clients/ports.js';

/** Every published host port is either held by this project's containers or free to bind. */
export async function checkPorts(stack: Stack, containers: ContainerState[]): Promise<void> {
  const ours = new Set(containers.filter((c) => c.state === 'running').flatMap((c) => Object.values(c.ports)));
  const busy: PublishedPort[] = [];
  for (const p of publishedPorts(stack)) {
    if (ours.has(p.port)) continue;
    if (!(await portFree(p.port, p.ip === '0.0.0.0' ? '0.0.0.0' : p.ip))) busy.push(p);
  }
  if (busy.length) {
    throw new OperationError(
      `published port${busy.length > 1 ? 's' : ''} already in use by something outside ${stack.project}: ${busy.map((b) => `${b.ip}:${b.port} (${b.service}: "${b.spec}")`).join(', ')}`,
      `find the holder with \`ss -ltnp 'sport = :${busy[0].port}'\` (or \`docker ps --filter publish=${busy[0].port}\`) and stop it, or change the port in the stack file`,
    );
  }
}
