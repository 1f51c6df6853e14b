// Small pieces of \`lifeops import\`: role guesses, compose value forms in
// lifeops' forms (durations, sizes, ports, depends_on conditions), and the
// variables literal secrets move into. Pure.
import { ConfigError } from '../errors.js';
import { isSecretName } from '../util/redact.js';

export type Json = Record<string, unknown>;
export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Compose's project name rule: lower-case, only a-z 0-9 _ -, starting with a letter or digit. */
export function composeProjectName(raw: string): string {
  return raw.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[^a-z0-9]+/, '');
}


const argvOf = (command: unknown): string => (Array.isArray(command) ? command.map(String).join(' ') : typeof command === 'string' ? command : '');

/** The role a service most likely plays, and why (shown as a comment). */
export function guessRole(name: string, svc: Json): { role: string; why: string } {
  const image = typeof svc.image === 'string' ? svc.image : '';
  const repo = image.replace(/@.*$/, '').replace(/:[^/]*$/, '').split('/').pop() ?? '';
  const cmd = `${argvOf(svc.entrypoint)} ${argvOf(svc.command)}`.trim();
  if (/^(postgres|postgis|timescaledb(-ha)?|pgvector)$/.test(repo)) return { role: 'postgres', why: `image ${image}` };
  if (/^(redis|redis-stack-server|valkey|keydb)$/.test(repo)) return { role: 'redis', why: `image ${image}` };
  if (/\b(redis-server|valkey-server)\b/.test(cmd)) return { role: 'redis', why: `command runs ${/valkey/.test(cmd) ? 'valkey-server' : 'redis-server'}` };
  if (/\bcelery\b.*\b(worker|beat)\b/.test(cmd)) return { role: 'worker', why: `command runs celery ${/\bbeat\b/.test(cmd) ? 'beat' : 'worker'}` };
  if (/\b(sidekiq|rq worker|rqworker|dramatiq|huey|arq|bull|resque)\b/.test(cmd)) return { role: 'worker', why: `command runs ${/\b(sidekiq|rq worker|rqworker|dramatiq|huey|arq|bull|resque)\b/.exec(cmd)![1]}` };
  if (/\b(gunicorn|uvicorn|daphne|hypercorn|puma|unicorn)\b/.test(cmd)) return { role: 'web', why: `command runs ${/\b(gunicorn|uvicorn|daphne|hypercorn|puma|unicorn)\b/.exec(cmd)![1]}` };
  if (/\brails (s|server)\b/.test(cmd)) return { role: 'web', why: 'command runs rails server' };
  if (/^(nginx|openresty|caddy|traefik|haproxy)$/.test(repo)) return { role: 'other', why: `image ${image} is a proxy with its own configuration, kept as it is (a front: block would render lifeops' own)` };
  if (/worker/i.test(name) || /\bworker\b/.test(cmd)) return { role: 'worker', why: `${/worker/i.test(name) ? 'service name' : 'command'} says worker` };
  return { role: 'other', why: 'nothing in the image or command says more' };
}

/** "1m30s" (compose) as lifeops' single-unit duration. */
export function duration(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const s = String(v).trim();
  if (/^\d+(ms|s|m|h|d)$/.test(s)) return s;
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g;
  let matched = '';
  for (const m of s.matchAll(re)) {
    matched += m[0];
    const n = Number(m[1]);
    total += m[2] === 'h' ? n * 3600000 : m[2] === 'm' ? n * 60000 : m[2] === 's' ? n * 1000 : m[2] === 'ms' ? n : m[2] === 'us' ? n / 1000 : n / 1e6;
  }
  if (matched !== s) return s;
  return total % 1000 === 0 ? `${total / 1000}s` : `${Math.round(total)}ms`;
}

export class Secrets {
  readonly values = new Map<string, string>();
  /** the project's .env variables: a name there is free only for the same value */
  constructor(private readonly taken: Record<string, string> = {}) {}
  private free(name: string, value: string): boolean {
    return !this.values.has(name) && (!(name in this.taken) || this.taken[name] === value);
  }
  /** a variable for a literal secret value: the key's own name when free, else prefixed by the service */
  varFor(preferred: string, service: string, value: string): string {
    for (const [name, v] of this.values) if (v === value) return name;
    let name = preferred.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
    if (!this.free(name, value)) name = `${service.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}_${name}`;
    let n = 2;
    const base = name;
    while (!this.free(name, value)) name = `${base}_${n++}`;
    this.values.set(name, value);
    return name;
  }
}

/** A URL's password (scheme://user:PASSWORD@host) as a variable; other values unchanged. */
export function urlPassword(key: string, service: string, value: string, secrets: Secrets, vars: Record<string, string>): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)([^@\s]+)(@.*)$/i.exec(value);
  if (!m || m[2].includes('${')) return value;
  const raw = m[2];
  let pw = raw;
  try {
    pw = decodeURIComponent(raw);
  } catch {
    pw = raw;
  }
  // the same password under a variable already known (POSTGRES_PASSWORD) is that variable
  const known = Object.entries(vars).find(([k, v]) => isSecretName(k) && v === pw && encodeURIComponent(v) === raw)?.[0];
  const name = known ?? secrets.varFor(`${key.replace(/_URL$|_URI$|_DSN$/, '')}_PASSWORD`, service, raw);
  return `${m[1]}\${${name}}${m[3]}`;
}

export function conditionOf(c: unknown): string {
  if (c === 'service_healthy') return 'healthy';
  if (c === 'service_completed_successfully') return 'completed';
  return 'started';
}

/** compose memory ("512m", "1g", 536870912) as a lifeops size ("512M"). */
export function memory(v: unknown): string {
  if (typeof v === 'number') return `${Math.max(1, Math.round(v / 1024))}k`;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg])?b?$/i.exec(String(v).trim());
  if (!m) return String(v);
  const unit = (m[2] ?? 'b').toLowerCase();
  return unit === 'b' ? `${Math.max(1, Math.round(Number(m[1]) / 1024))}k` : `${m[1]}${unit.toUpperCase()}`;
}

/** A compose port (short string, number or long syntax) as the short string. */
export function portString(p: unknown, at: string): string {
  if (typeof p === 'number') return String(p);
  if (typeof p === 'string') return p;
  if (isObject(p)) {
    const proto = p.protocol && p.protocol !== 'tcp' ? `/${p.protocol}` : '';
    const host = p.published !== undefined ? String(p.published) : '';
    const ip = p.host_ip ? `${p.host_ip}:` : '';
    return host || ip ? `${ip}${host}:${p.target}${proto}` : `${p.target}${proto}`;
  }
  throw new ConfigError(`${at}: cannot read port ${JSON.stringify(p)}`);
}

const ORDER = ['role', 'image', 'build', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'expose', 'volumes', 'networks', 'depends_on', 'healthcheck', 'restart'];
export function orderKeys(o: Json): Json {
  const keys = Object.keys(o).sort((a, b) => (ORDER.indexOf(a) < 0 ? 99 : ORDER.indexOf(a)) - (ORDER.indexOf(b) < 0 ? 99 : ORDER.indexOf(b)));
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}
