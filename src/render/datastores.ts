// Data store configs: postgres/postgresql.conf, pgbouncer/pgbouncer.ini,
// redis/redis.conf, and the python logging.conf.
import type { Stack } from '../config/schema.js';
import type { RenderedFile, RenderContext } from './types.js';
import { renderTemplate } from './templates.js';
import { renderedHeader } from './header.js';
import { parseSize } from '../util/units.js';
import { ConfigError } from '../errors.js';
import { escapeDollar } from './values.js';
import { pitrSettings } from './pitr.js';

export const POSTGRES_CONF = '/etc/postgresql/postgresql.conf';
export const REDIS_CONF = '/usr/local/etc/redis/redis.conf';
export const PGBOUNCER_DIR = '/etc/pgbouncer';

/** Defaults for a small box (~1 GB RAM, 2 vCPU, SSD) where the stack sets nothing. */
export const POSTGRES_DEFAULTS: Record<string, string | number | boolean> = {
  max_connections: 100,
  shared_buffers: '128MB',
  effective_cache_size: '384MB',
  maintenance_work_mem: '64MB',
  work_mem: '4MB',
  wal_buffers: '4MB',
  min_wal_size: '80MB',
  max_wal_size: '1GB',
  checkpoint_completion_target: 0.9,
  random_page_cost: 1.1,
  effective_io_concurrency: 200,
  default_statistics_target: 100,
  log_min_duration_statement: 1000,
  log_line_prefix: '%m [%p] %q%u@%d ',
  log_timezone: 'UTC',
  timezone: 'UTC',
  dynamic_shared_memory_type: 'posix',
};

/** A postgresql.conf value: numbers bare, booleans on/off, strings single-quoted ('' and \\ escaped). */
export function pgValue(key: string, v: string | number | boolean): string {
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw ConfigError.at(['postgres', 'tuning', key], `${v} is not a finite number; valid: a number, a string or true/false`);
    return String(v);
  }
  if (/[\n\r\0]/.test(v)) throw ConfigError.at(['postgres', 'tuning', key], 'a value cannot contain a newline (or NUL); valid: a single-line string');
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

export function renderPostgresConf(stack: Stack): string {
  const pg = stack.postgres!;
  const pitr = pitrSettings(stack);
  const settings: Record<string, string | number | boolean> = { ...POSTGRES_DEFAULTS, ...pg.tuning, ...pitr };
  delete settings.listen_addresses;
  delete settings.port;
  const keys = Object.keys(settings).sort();
  const origin = (k: string) => (k in pitr ? '   # backup.pitr' : k in pg.tuning ? '' : '   # default');
  const body = keys.map((k) => `${k} = ${pgValue(k, settings[k])}${origin(k)}`).join('\n');
  return renderTemplate(stack, 'postgres/postgresql.conf', 'postgres/postgresql.conf', { header: renderedHeader(stack), settings: body });
}

/** PgBouncer's md5 form: "md5" + md5(password + user). */
const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function ident(keyPath: (string | number)[], v: string): string {
  if (!IDENT.test(v)) throw ConfigError.at(keyPath, `"${v}" cannot go into pgbouncer.ini; valid: letters, digits, "_" or "-", starting with a letter or "_"`);
  return v;
}

export function renderPgbouncer(stack: Stack): RenderedFile[] {
  const pb = stack.pgbouncer!;
  const pg = stack.postgres;
  if (!pg) throw ConfigError.at(['pgbouncer'], 'needs a postgres: block (the server it pools)', 'add a postgres: block, or remove pgbouncer:');
  const user = ident(['postgres', 'user'], pg.user);
  ident(['postgres', 'database'], pg.database);
  pg.databases.forEach((d, i) => ident(['postgres', 'databases', i], d));
  const dbs = [...new Set([pg.database, ...pg.databases])];
  const header = renderedHeader(stack);
  const ini = renderTemplate(stack, 'pgbouncer/pgbouncer.ini', 'pgbouncer/pgbouncer.ini', {
    header,
    service: pb.service,
    postgres_host: pg.service,
    databases: dbs.map((d) => `${d} = host=${pg.service} port=5432 dbname=${d}`).join('\n'),
    listen_port: pb.listen_port,
    admin_user: user,
    pool_mode: pb.pool_mode,
    max_client_conn: pb.max_client_conn,
    default_pool_size: pb.default_pool_size,
    min_pool_size: pb.min_pool_size,
    reserve_pool_size: pb.reserve_pool_size,
  });
  // No userlist is rendered: the image writes it at start from DB_USER and
  // DB_PASSWORD (compose passes the password from the environment), in plain
  // text so that pgbouncer can answer SCRAM and log in to a SCRAM server.
  return [{ path: 'pgbouncer/pgbouncer.ini', content: ini }];
}

/** Redis wants whole bytes or units without decimals: write bytes. */
function redisSize(text: string): string {
  return String(parseSize(text));
}

export function renderRedisConf(stack: Stack): string {
  const r = stack.redis!;
  return renderTemplate(stack, 'redis/redis.conf', 'redis/redis.conf', {
    header: renderedHeader(stack),
    maxmemory: r.maxmemory ? `maxmemory ${redisSize(r.maxmemory)}\n` : '',
    maxmemory_policy: r.maxmemory_policy,
    appendonly: r.appendonly ? 'yes' : 'no',
    save: r.save.length ? r.save.map((s) => `save ${s}`).join('\n') : 'save ""',
  });
}

/**
 * The password reaches redis-server through a config file, never its argv:
 * a command line is readable by every local user (`ps`) and in `docker
 * inspect`. The container gets the password in REDISCLI_AUTH (which
 * redis-cli also reads, so a healthcheck's `redis-cli ping` and lifeops'
 * `docker exec redis-cli` authenticate without `-a`); this start script
 * writes `include <rendered redis.conf>` and `requirepass "..."` (escaped for
 * redis.conf) into REDIS_AUTH_CONF, mode 0600 and owned by the user the
 * server runs as, then starts `redis-server REDIS_AUTH_CONF [args]`, through
 * the image's entrypoint when it has one (the official image's drops root
 * for the redis user). Only shell builtins see the password (printf, case),
 * so no process is ever started with it; an empty password stops the start
 * rather than run a server without one.
 */
export const REDIS_PASSWORD_ENV = 'REDISCLI_AUTH';
export const REDIS_AUTH_CONF = '/tmp/lifeops-redis.conf';
const REDIS_START_SCRIPT = [
  'set -eu',
  'umask 077',
  `s=\${${REDIS_PASSWORD_ENV}:-} q=`,
  `[ -n "$s" ] || { echo "redis: ${REDIS_PASSWORD_ENV} is empty; not starting without the password" >&2; exit 1; }`,
  'while [ -n "$s" ]; do r=${s#?}; c=${s%"$r"}; case $c in \\\\|\\") q="$q\\\\$c" ;; *) q="$q$c" ;; esac; s=$r; done',
  `f=${REDIS_AUTH_CONF} prog=$1 conf=$2`,
  'shift 2',
  `printf 'include %s\\nrequirepass "%s"\\n' "$conf" "$q" > "$f"`,
  'if [ "$(id -u)" = 0 ] && command -v docker-entrypoint.sh >/dev/null 2>&1; then',
  '  chown redis "$f" 2>/dev/null || true',
  '  exec docker-entrypoint.sh "$prog" "$f" "$@"',
  'fi',
  'exec "$prog" "$f" "$@"',
].join('\n');

/** A redis.password that redis.conf can hold: one line (the escaping covers `"` and `\`). */
export function checkRedisPassword(password: string): void {
  if (/[\r\n\0]/.test(password)) throw ConfigError.at(['redis', 'password'], 'contains a line break or NUL, which redis.conf cannot hold; valid: a single-line password');
}

/**
 * The redis service's command when the stack sets a password: `argv` is
 * `redis-server <rendered conf> [args]`, already written for compose; the
 * script's own `$` are escaped so that compose leaves them to the shell.
 */
export function redisCommandWithPassword(argv: string[]): string[] {
  return ['sh', '-c', escapeDollar(REDIS_START_SCRIPT), 'redis-start', ...argv];
}

export function renderLoggingConf(stack: Stack): string {
  return renderTemplate(stack, 'logging.conf', 'logging.conf', { header: renderedHeader(stack), level: 'INFO' });
}

export function renderDatastores(stack: Stack, _ctx?: RenderContext): RenderedFile[] {
  const files: RenderedFile[] = [];
  if (stack.postgres && !stack.postgres.external_url && stack.services[stack.postgres.service]) {
    files.push({ path: 'postgres/postgresql.conf', content: renderPostgresConf(stack) });
  }
  if (stack.pgbouncer) files.push(...renderPgbouncer(stack));
  if (stack.redis && stack.services[stack.redis.service]) files.push({ path: 'redis/redis.conf', content: renderRedisConf(stack) });
  if (Object.values(stack.services).some((s) => s.gunicorn || s.role === 'web')) files.push({ path: 'logging.conf', content: renderLoggingConf(stack) });
  return files;
}
