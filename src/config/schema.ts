// The stack file schema. The TypeScript types (z.infer) and the JSON Schema
// (`lifeops schema`) both come from here, so editors and the loader agree.
import { z } from 'zod';
import { swarmSchema, targetSchema } from './swarm-schema.js';
import { numeric } from './numeric.js';

const name = z
  .string()
  .regex(/^[a-z][a-z0-9_-]*$/, 'lower-case letters, digits, "-" or "_", starting with a letter');
export const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as "500ms", "30s", "5m", "1h", "7d"');
// At least one byte and at most 64 TiB: "0M" means "unlimited" to Docker and
// "99999999999999999999g" would render as 1.024e+23m.
const MAX_SIZE_BYTES = 64 * 1024 ** 4;
const sizeBytes = (t: string) => {
  const m = /^(\d+(?:\.\d+)?)([kmg])?b?$/i.exec(t);
  const unit: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  return m ? Number(m[1]) * unit[(m[2] ?? '').toLowerCase()] : NaN;
};
export const memSize = z
  .string()
  .regex(/^\d+(\.\d+)?[kmg]b?$/i, 'a size such as "512M", "1.5G", "200MB"')
  .refine((t) => { const b = sizeBytes(t); return b >= 1 && b <= MAX_SIZE_BYTES; }, 'a size of at least 1 byte and at most 64 TiB, such as "512M"');
// Values that reach nginx/prometheus/gunicorn directives: no quotes, braces,
// semicolons or newlines, so nothing can close a directive or open another.
export const safeToken = z
  .string()
  .regex(/^[A-Za-z0-9_.:\/@*+=,%~-]+$/, 'letters, digits and . : / @ * + = , % ~ - _ only (no spaces, quotes, ";", "{", "}" or newlines)');
export const hostname = z
  .string()
  // lower case only, as the JSON Schema (`lifeops schema`) says: the name becomes file names and nginx's server_name
  .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a DNS host name in lower case such as "example.com"');
// Postgres user and database names that reach pgbouncer.ini/userlist.txt.
export const pgIdent = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'letters, digits, "_" or "-", starting with a letter or "_"');
export const email = z.string().regex(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/, 'an e-mail address such as "ops@example.com"');
const urlPath = z.string().regex(/^\/[A-Za-z0-9_.\/~-]*$/, 'an absolute URL path such as "/health"');
const port = numeric(z.number().int().min(1).max(65535));
const cpus = numeric(z.number().positive().max(256));

/** "IP:HOST:CONTAINER" with every port in 1..65535 and every address part in 0..255. */
function portMappingInRange(spec: string): boolean {
  const parts = spec.replace(/\/(tcp|udp)$/, '').split(':');
  const ip = parts.length === 3 ? parts.shift()! : undefined;
  if (ip !== undefined && ip.split('.').some((o) => Number(o) > 255)) return false;
  return parts.filter(Boolean).every((p) => p.split('-').every((n) => Number(n) >= 1 && Number(n) <= 65535));
}

const stringOrList = z.union([z.string(), z.array(z.string())]);

// Timings left out follow compose's own defaults (30s, 30s, 3 retries, no start period).
export const healthcheckSchema = z
  .object({
    test: stringOrList.describe('a shell command (string) or an exec array; exit 0 means healthy'),
    interval: duration.default('30s'),
    timeout: duration.default('30s'),
    retries: numeric(z.number().int().min(1).max(1000)).default(3),
    start_period: duration.default('0s'),
  })
  .strict();

/** An env_file entry as compose writes it: a path, or { path, required: false } for one that may be absent. */
export const envFileEntry = z.union([
  z.string().min(1),
  z.object({ path: z.string().min(1), required: z.boolean().default(true) }).strict(),
]);
const envFileList = z
  .union([envFileEntry, z.array(envFileEntry)])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .describe('env file(s), relative to the stack file\'s folder; a missing one is an error unless required: false');

/** Compose's network and volume names (keys in the compose file). */
export const composeKey = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." or "-", starting with a letter or digit');
/** The compose project name, by compose's own rule. */
export const projectName = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'a compose project name: lower-case letters, digits, "_" or "-", starting with a letter or digit');

export const networkSchema = z
  .object({
    internal: z.boolean().optional().describe('no route to the outside (compose: internal)'),
    external: z.boolean().optional().describe('created outside this stack; compose neither creates nor removes it'),
    name: composeKey.optional().describe('the Docker name of the network (default: <project>_<key>, or the key itself when external)'),
    driver: safeToken.optional(),
    attachable: z.boolean().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  })
  .strict();

export const volumeSchema = z
  .object({
    external: z.boolean().optional().describe('an existing volume (moving in from plain compose): never created or removed'),
    name: composeKey.optional().describe('the Docker name of the volume (default: <project>_<key>, or the key itself when external)'),
    driver: safeToken.optional(),
    driver_opts: z.record(z.string(), z.string()).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  })
  .strict();

const resourceSet = z
  .object({ memory: memSize.optional(), cpus: cpus.optional() })
  .strict();

export const gunicornSchema = z
  .object({
    module: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$/, 'MODULE:APP such as "app:application"'),
    bind: safeToken.default('0.0.0.0:8000'),
    workers: z.union([z.literal('auto'), numeric(z.number().int().min(1).max(64))]).default('auto'),
    threads: numeric(z.number().int().min(1).max(64)).default(1),
    worker_class: z
      .union([
        z.enum(['sync', 'gthread', 'gevent', 'eventlet', 'tornado']),
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/, 'a built-in worker class (sync, gthread, gevent, eventlet, tornado) or a dotted class path such as "uvicorn.workers.UvicornWorker"'),
      ])
      .default('sync'),
    worker_connections: numeric(z.number().int().min(1)).default(1000),
    timeout: numeric(z.number().int().min(1)).default(30),
    graceful_timeout: numeric(z.number().int().min(1)).default(30),
    keepalive: numeric(z.number().int().min(0)).default(2),
    max_requests: numeric(z.number().int().min(0)).default(1000),
    max_requests_jitter: numeric(z.number().int().min(0)).default(50),
    limit_request_line: numeric(z.number().int().min(0)).default(4094),
    limit_request_fields: numeric(z.number().int().min(0)).default(100),
    limit_request_field_size: numeric(z.number().int().min(0)).default(8190),
    statsd_host: safeToken.optional(),
    statsd_prefix: safeToken.optional(),
    access_log_json: z.boolean().default(true),
    preload_app: z.boolean().default(false),
    forwarded_allow_ips: safeToken.default('*'),
    reuse_port: z.boolean().default(false),
  })
  .strict();

export const serviceSchema = z
  .object({
    role: z
      .enum(['web', 'worker', 'postgres', 'redis', 'front', 'pgbouncer', 'monitoring', 'job', 'other'])
      .default('other')
      .describe('what the service is; drives health checks, rollout and backups'),
    image: z.string().min(1),
    build: z
      .object({
        context: z.string(),
        dockerfile: z.string().optional(),
        args: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .optional(),
    command: stringOrList.optional(),
    entrypoint: stringOrList.optional(),
    environment: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), z.union([z.string(), z.number(), z.boolean()])).default({}),
    env_file: envFileList.default([]),
    ports: z
      .array(
        z
          .string()
          .regex(/^((\d{1,3}\.){3}\d{1,3}:)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp))?$/, 'a port mapping such as "127.0.0.1:8080:80" (or "127.0.0.1::5432" for any free host port)')
          .refine(portMappingInRange, 'ports from 1 to 65535 and an IPv4 address with parts up to 255, such as "127.0.0.1:8080:80"'),
      )
      .default([]),
    expose: z.array(port).default([]),
    volumes: z.array(z.string()).default([]),
    depends_on: z.record(z.string(), z.enum(['started', 'healthy', 'completed'])).default({}),
    healthcheck: healthcheckSchema.optional(),
    http: z
      .object({ port, health: urlPath.default('/health'), ready: urlPath.optional() })
      .strict()
      .optional()
      .describe('HTTP endpoints lifeops checks from inside the container'),
    restart: z.enum(['no', 'always', 'on-failure', 'unless-stopped']).default('unless-stopped'),
    resources: z.object({ limits: resourceSet.optional(), reservations: resourceSet.optional() }).strict().optional(),
    replicas: numeric(z.number().int().min(0)).default(1),
    strategy: z.enum(['rolling', 'recreate']).optional().describe('rollout strategy; rolling is the default for web services'),
    stop_grace_period: duration.optional(),
    health_timeout: duration.default('120s').describe('how long deploy waits for this service to become healthy'),
    labels: z.record(z.string(), z.string()).default({}),
    networks: z.array(name).optional().describe('networks the service joins: default, backend, or ones declared under the top-level networks:'),
    shm_size: z.union([memSize, numeric(z.number().int().min(1).max(MAX_SIZE_BYTES))]).optional().describe('size of /dev/shm, such as "256M"'),
    tmpfs: z.union([z.string(), z.array(z.string())]).optional().describe('container paths mounted as tmpfs, such as "/tmp" or "/run:size=64m"'),
    stdin_open: z.boolean().optional(),
    tty: z.boolean().optional(),
    user: z.string().optional(),
    profiles: z.array(name).optional(),
    gunicorn: gunicornSchema.optional(),
    logging: z
      .object({ max_size: z.string().default('10m'), max_file: numeric(z.number().int().min(1)).default(3) })
      .strict()
      .optional(),
  })
  .strict();

const tuningValue = z.union([z.string(), z.number(), z.boolean()]);

export const postgresSchema = z
  .object({
    service: name.describe('the compose service running Postgres'),
    user: pgIdent.default('postgres'),
    password: z.string().optional().describe('usually "${POSTGRES_PASSWORD}"'),
    database: pgIdent,
    databases: z.array(pgIdent).default([]).describe('further databases on the same server'),
    external_url: z.string().optional().describe('a DATABASE_URL outside the stack; backups use a host pg_dump'),
    tuning: z.record(z.string().regex(/^[a-z_.]+$/, 'a postgresql.conf parameter name'), tuningValue).default({}),
  })
  .strict();

export const redisSchema = z
  .object({
    service: name,
    password: z.string().optional(),
    maxmemory: memSize.optional(),
    maxmemory_policy: z.enum(['noeviction', 'allkeys-lru', 'volatile-lru', 'allkeys-lfu', 'volatile-lfu', 'allkeys-random', 'volatile-random', 'volatile-ttl']).default('noeviction'),
    appendonly: z.boolean().default(false),
    save: z.array(z.string().regex(/^\d+ \d+$/, '"SECONDS CHANGES" such as "900 1"')).default(['900 1', '300 10', '60 10000']),
  })
  .strict();

export const pgbouncerSchema = z
  .object({
    service: name,
    pool_mode: z.enum(['session', 'transaction', 'statement']).default('transaction'),
    max_client_conn: numeric(z.number().int().min(1)).default(100),
    default_pool_size: numeric(z.number().int().min(1)).default(20),
    min_pool_size: numeric(z.number().int().min(0)).default(0),
    reserve_pool_size: numeric(z.number().int().min(0)).default(0),
    listen_port: port.default(6432),
  })
  .strict();

const rateLimit = z
  .object({ rate: z.string().regex(/^\d+r\/[sm]$/, 'a rate such as "200r/s" or "30r/m"'), burst: numeric(z.number().int().min(0)).default(20), zone_size: z.string().regex(/^\d+[km]$/, 'a size such as "10m"').default('10m') })
  .strict();

export const locationSchema = z
  .object({
    path: urlPath.describe('URL prefix routed to this upstream, such as "/api/v1/streaming"'),
    upstream: name.describe('the service requests under this path go to'),
    upstream_port: port.optional(),
    websocket: z.boolean().default(false).describe('long-lived upgraded connections: no buffering, timeouts of 1h unless proxy_timeout says otherwise'),
    proxy_timeout: duration.optional().describe('proxy read/send timeout for this path (default 60s; 1h with websocket)'),
  })
  .strict();

export const domainSchema = z
  .object({
    name: hostname,
    aliases: z.array(hostname).default([]),
    upstream: name.describe('the service requests are proxied to'),
    upstream_port: port.optional(),
    api_prefix: urlPath.optional().describe('location getting the API rate limit'),
    static: z.object({ location: urlPath, root: safeToken.refine((r) => r.startsWith('/') && !r.split('/').includes('..'), 'an absolute path inside the front container, without "..", such as "/app/staticfiles"'), expires: z.string().regex(/^\d+[smhdwMy]$/, 'an nginx time such as "30d"').default('30d') }).strict().optional(),
    basic_auth: z.boolean().default(false).describe('protect with HTTP basic auth (monitoring dashboards)'),
    tls: z.boolean().optional().describe('defaults to front.tls.enabled'),
    locations: z.array(locationSchema).default([]).describe('further upstreams on this domain by path prefix'),
    proxy_timeout: duration.optional().describe('proxy read/send timeout for the domain\'s own location (default 60s)'),
    health: z.enum(['front', 'upstream']).default('front').describe('who answers /health: the front itself, or the upstream app'),
  })
  .strict();

export const frontSchema = z
  .object({
    kind: z.enum(['nginx', 'traefik']).default('nginx'),
    service: name,
    domains: z.array(domainSchema).min(1),
    listen_port: port.default(80),
    tls: z
      .object({
        enabled: z.boolean().default(false),
        letsencrypt_email: email.optional(),
        certs_dir: safeToken.default('/etc/letsencrypt/live'),
      })
      .strict()
      .default({ enabled: false, certs_dir: '/etc/letsencrypt/live' }),
    rate_limits: z.object({ general: rateLimit.optional(), api: rateLimit.optional() }).strict().default({}),
    client_max_body_size: z.string().regex(/^\d+[kmg]?$/i, 'a size such as "10m"').default('10m'),
    client_body_buffer_size: z.string().regex(/^\d+[kmg]?$/i, 'a size such as "128k"').default('128k'),
    proxy_buffers: z.string().regex(/^\d+ \d+[km]$/, '"COUNT SIZE" such as "8 16k"').default('8 16k'),
    gzip: z.boolean().default(true),
    security_headers: z
      .object({
        hsts: z.boolean().default(true),
        frame_options: z.enum(['DENY', 'SAMEORIGIN']).default('SAMEORIGIN'),
        content_security_policy: z.string().regex(/^[^"\n;{}]*(;[^"\n;{}]*)*$/, 'a CSP without double quotes, braces or newlines').default("default-src 'self'"),
      })
      .strict()
      .default({ hsts: true, frame_options: 'SAMEORIGIN', content_security_policy: "default-src 'self'" }),
    resolver: safeToken.default('127.0.0.11').describe('DNS server the front re-resolves upstream names with'),
  })
  .strict();

const thresholds = z
  .object({
    web_down_for: duration.default('2m'),
    database_down_for: duration.default('1m'),
    redis_down_for: duration.default('1m'),
    error_rate_ratio: numeric(z.number().min(0).max(1)).default(0.05),
    error_rate_for: duration.default('5m'),
    latency_p95_seconds: numeric(z.number().positive()).default(1),
    latency_for: duration.default('5m'),
    db_connections: numeric(z.number().int().positive()).default(150),
    db_connections_for: duration.default('5m'),
    worker_backlog: numeric(z.number().int().positive()).default(1000),
    worker_backlog_for: duration.default('10m'),
    container_cpu_ratio: numeric(z.number().min(0).max(1)).default(0.8),
    container_memory_ratio: numeric(z.number().min(0).max(1)).default(0.8),
    container_for: duration.default('5m'),
    disk_free_ratio: numeric(z.number().min(0).max(1)).default(0.1),
    disk_for: duration.default('5m'),
  })
  .strict();

export const monitoringSchema = z
  .object({
    enabled: z.boolean().default(true),
    scrape_interval: duration.default('15s'),
    evaluation_interval: duration.default('15s'),
    retention: duration.default('15d'),
    log_retention_days: numeric(z.number().int().min(1).max(3650)).default(30).describe('days Loki keeps logs (its compactor deletes older ones)'),
    external_labels: z.record(z.string(), safeToken).default({}),
    exporters: z
      .array(z.enum(['statsd', 'cadvisor', 'node', 'postgres', 'redis', 'loki', 'promtail', 'pgbouncer', 'blackbox']))
      .default(['statsd', 'cadvisor', 'postgres', 'redis']),
    grafana: z.boolean().default(true),
    alertmanager: z
      .object({
        slack_webhook_url: z.string().optional().describe('usually "${SLACK_WEBHOOK_URL}"'),
        slack_channel: z.string().regex(/^#?[a-z0-9_-]+$/, 'a Slack channel such as "#alerts"').default('#alerts'),
    slack_channel_nonproduction: z.string().regex(/^#?[a-z0-9_-]+$/, 'a Slack channel such as "#alerts-staging"').optional().describe('channel for alerts from non-production environments; default "<slack_channel>-nonprod"'),
        pagerduty_routing_key: z.string().optional(),
        group_wait: duration.default('30s'),
        group_interval: duration.default('5m'),
        repeat_interval: duration.default('4h'),
      })
      .strict()
      .default({ slack_channel: '#alerts', group_wait: '30s', group_interval: '5m', repeat_interval: '4h' }),
    thresholds: thresholds.default(thresholds.parse({})),
    docker_daemon_metrics: safeToken.optional().describe('host:port of the Docker daemon metrics endpoint'),
    prometheus_port: port.optional().describe('publish Prometheus on 127.0.0.1:PORT (host port) -> 9090'),
  })
  .strict();

export const backupSchema = z
  .object({
    before_deploy: z.boolean().default(true),
    schedule: z.string().regex(/^(\S+\s+){4}\S+$/, 'a five-field cron expression such as "0 3 * * *"').default('0 3 * * *'),
    keep_last: numeric(z.number().int().min(1)).optional(),
    max_age_days: numeric(z.number().int().min(1)).optional(),
    volumes: z.array(name).default([]).describe('named volumes archived in every backup'),
    compression: numeric(z.number().int().min(0).max(9)).optional().describe("pg_dump -Z level for backups (0-9; default pg_dump's own); safety backups use at most 1"),
    encryption_key_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional().describe('variable holding the encryption passphrase'),
    dir: z.string().optional().describe('where backups go; default <state-dir>/backups'),
  })
  .strict();

export const migrationsSchema = z
  .object({
    command: stringOrList,
    service: name.describe('whose image runs the migration (in a one-off container)'),
    path: z.string().describe('folder of migration files, relative to the stack file'),
    dangerous_patterns: z.array(z.string()).default(['drop_table', 'drop_column', 'execute(']),
    alembic: z.boolean().default(false).describe('refuse more than one Alembic head'),
  })
  .strict();

const hookList = z.array(z.string()).default([]);

export const deploySchema = z
  .object({
    version: z.string().default('latest').describe('default app version, interpolated as ${VERSION}'),
    min_free_disk_mb: numeric(z.number().int().min(0)).default(1024),
    smoke_test: z.boolean().default(true),
    hooks: z.object({ pre_deploy: hookList, post_deploy: hookList, on_failure: hookList }).strict().default({ pre_deploy: [], post_deploy: [], on_failure: [] }),
    notifications: z
      .array(z.object({ type: z.enum(['slack', 'webhook']), url: z.string() }).strict())
      .default([]),
    confirm: z.boolean().optional().describe('ask before mutating; default true for production'),
  })
  .strict();

// `lifeops status`: what counts as WARNING and CRITICAL. Ages are durations
// ("26h", "8d"); every key has the default an operator would expect and can be
// set per environment like any other top-level key.
const ageLimits = (warn: string, crit: string) =>
  z.object({ warn: duration.default(warn), crit: duration.default(crit) }).strict().default({ warn, crit });

export const statusSchema = z
  .object({
    timeout: duration.default('10s').describe('deadline for all probes of one status run; a probe without an answer by then is UNKNOWN'),
    backup: ageLimits('26h', '50h').describe('age of the newest complete backup'),
    verified_backup: ageLimits('8d', '15d').describe('age of the newest backup that passed `backups verify`'),
    drill: ageLimits('8d', '15d').describe('age of the last restore drill (`backups verify --latest`); a failed drill is a WARNING'),
    lock: ageLimits('1h', '4h').describe('how long a deploy/backup lock may be held'),
    disk: z
      .object({
        warn: numeric(z.number().min(0).max(1)).default(0.15).describe('free fraction of the file system below which status warns'),
        crit: numeric(z.number().min(0).max(1)).default(0.05),
      })
      .strict()
      .default({ warn: 0.15, crit: 0.05 })
      .describe('free space where backups and Docker data live'),
    tls: z
      .object({ warn_days: numeric(z.number().int().min(0)).default(21), crit_days: numeric(z.number().int().min(0)).default(7) })
      .strict()
      .default({ warn_days: 21, crit_days: 7 })
      .describe("days left on the front's certificates"),
    front: z.boolean().default(true).describe("request the app's readiness path through the front's published 127.0.0.1 port"),
  })
  .strict();

// What `lifeops cron --install` writes to /etc/cron.d, and the dead-man's
// switch: a healthchecks-style ping URL per job (usually "${HC_BACKUP_URL}":
// the URL is a secret and never written into the cron file, lifeops reads it
// from the stack when the job runs and pings URL/start, then URL/<exit code>).
const pingUrl = z.string().regex(/^https?:\/\/\S+$/, 'an http(s) URL such as "https://hc-ping.com/<uuid>"');

export const cronSchema = z
  .object({
    verify_schedule: z.string().regex(/^(\S+\s+){4}\S+$/, 'a five-field cron expression such as "30 4 * * 0"').default('30 4 * * 0').describe('when the restore drill (`backups verify --latest`) runs'),
    status_schedule: z.string().regex(/^(\S+\s+){4}\S+$/, 'a five-field cron expression such as "* * * * *"').default('* * * * *'),
    textfile_dir: z.string().optional().describe("node_exporter's textfile-collector folder; the status job writes lifeops-<project>.prom there"),
    user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'a user name').default('root').describe('the user the jobs run as'),
    ping: z
      .object({ backup: pingUrl.optional(), verify: pingUrl.optional(), status: pingUrl.optional() })
      .strict()
      .default({})
      .describe("healthchecks-style dead-man's switch URLs per job"),
  })
  .strict();

export const budgetSchema = z
  .object({ memory: memSize, cpus, hard: z.boolean().default(false) })
  .strict();

export const stackBaseShape = {
  version: z.literal(1).default(1),
  name,
  project: projectName.optional().describe('the compose project name (default <name>-<environment>); set it to adopt a stack already running under plain compose'),
  description: z.string().optional(),
  default_environment: name.optional(),
  variables: z
    .object({
      required: z.array(z.string()).default([]),
      secrets: z.array(z.string()).default([]).describe('extra variable names to treat as secrets (PASSWORD/SECRET/TOKEN/KEY names always are)'),
      defaults: z.record(z.string(), z.string()).default({}),
    })
    .strict()
    .default({ required: [], secrets: [], defaults: {} }),
  images: z.record(z.string(), z.string()).default({}).describe('image mapping: official repository -> local image'),
  services: z.record(name, serviceSchema),
  networks: z.record(name, networkSchema).default({}).describe('networks services may join besides the built-in default and backend'),
  volumes: z.record(composeKey, volumeSchema).default({}).describe('named volumes with options (external, name ...); volumes only used by services need no entry'),
  postgres: postgresSchema.optional(),
  redis: redisSchema.optional(),
  pgbouncer: pgbouncerSchema.optional(),
  front: frontSchema.optional(),
  monitoring: monitoringSchema.optional(),
  backup: backupSchema.default(backupSchema.parse({})),
  migrations: migrationsSchema.optional(),
  deploy: deploySchema.default(deploySchema.parse({})),
  budget: budgetSchema.optional(),
  status: statusSchema.default(statusSchema.parse({})),
  cron: cronSchema.default(cronSchema.parse({})),
  templates: z.record(z.string(), z.string()).default({}).describe('rendered file -> template file overriding the built-in one'),
  target: targetSchema.default('compose'),
  swarm: swarmSchema.optional(),
};

export const environmentSchema = z
  .object({
    env_file: envFileEntry.optional().describe('variables for this environment, relative to the stack file\'s folder; missing is an error unless required: false'),
    production: z.boolean().optional().describe('apply production rules (secret strength, confirmations); default: name is "production"'),
  })
  .catchall(z.unknown())
  .describe('overlay: any top-level key (services, front, monitoring ...) merged onto the base');

export const stackFileSchema = z
  .object({ ...stackBaseShape, environments: z.record(name, environmentSchema).default({}) })
  .strict();

export type StackFile = z.infer<typeof stackFileSchema>;
/** `compose`: the service's keys that only the Compose Specification has (ulimits, cap_add, ...), passed through as written. */
export type Service = z.infer<typeof serviceSchema> & { compose?: Record<string, unknown> };
export type Gunicorn = z.infer<typeof gunicornSchema>;
export type Front = z.infer<typeof frontSchema>;
export type Monitoring = z.infer<typeof monitoringSchema>;
export type StatusThresholds = z.infer<typeof statusSchema>;

/** A stack resolved for one environment: overlay merged, variables interpolated, validated. */
export interface Stack extends StackFile {
  env: string;
  production: boolean;
  /** the project name compose runs under */
  project: string;
  /** absolute folder of the stack file; relative paths resolve against it */
  baseDir: string;
  file: string;
  /** resolved variables (process env + env file + defaults) */
  vars: Record<string, string>;
  /** names of variables whose values are secret */
  secretNames: string[];
  /** for values that came from a secret variable: dotted path -> template with ${VAR} kept */
  secretTemplates: Record<string, string>;
  /** top-level compose `secrets:` and `configs:`, passed through (checked against the Compose Specification) */
  composeTop?: { secrets?: Record<string, unknown>; configs?: Record<string, unknown> };
  /** the state dir that manages this stack's containers (set by the CLI; rendered as their lifeops.state labels) */
  owner?: { id: string; dir: string; host?: string };
}

export function jsonSchema(): unknown {
  return z.toJSONSchema(stackFileSchema, {
    io: 'input',
    unrepresentable: 'any',
    // zod leaves out the defaults of values it reads through a transform (numeric(): "8000" -> 8000); an editor should still see them
    override: (ctx) => {
      const def = (ctx.zodSchema as { _zod: { def: { type: string; defaultValue?: unknown } } })._zod.def;
      if (def.type === 'default' && ctx.jsonSchema.default === undefined) ctx.jsonSchema.default = JSON.parse(JSON.stringify(def.defaultValue));
    },
  });
}
