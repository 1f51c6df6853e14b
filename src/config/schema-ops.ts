// The stack's own blocks beside its services: managed Postgres, Redis and
// pgbouncer, the front, monitoring, backups, migrations, deploy, status, cron
// and budget.
import { z } from 'zod';
import { numeric } from './numeric.js';
import { pitrSchema } from './pitr-schema.js';
import { offsiteSchema } from './offsite-schema.js';
import { name, duration, memSize, safeToken, hostname, pgIdent, email, urlPath, port, cpus, stringOrList } from './schema-values.js';

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

/** Let's Encrypt's production directory: the default CA of front.tls.acme. */
export const LETSENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

const acmeSchema = z
  .object({
    email: email.describe('the ACME account contact (expiry notices from the CA)'),
    directory: z.string().regex(/^https:\/\/[^\s"'`$\\]+$/, 'an https URL of an RFC 8555 directory, such as "https://acme-staging-v02.api.letsencrypt.org/directory"').default(LETSENCRYPT_DIRECTORY).describe("the CA's ACME directory URL (default: Let's Encrypt production)"),
    renew_before: numeric(z.number().int().min(1).max(365)).default(30).describe('renew a certificate when fewer days than this are left'),
    ca_bundle: z.string().min(1).optional().describe("PEM file of the CA that signs the directory's own HTTPS listener, for a private CA (relative to the stack file); public CAs need none"),
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
        acme: acmeSchema.optional().describe('lifeops obtains, installs and renews the certificates itself (HTTP-01 through the front); certs_dir is then not read'),
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
    keep_daily: numeric(z.number().int().min(1)).optional().describe('also keep the newest backup of each of the N newest days (here and off-site)'),
    keep_weekly: numeric(z.number().int().min(1)).optional().describe('also keep the newest backup of each of the N newest weeks (here and off-site)'),
    keep_monthly: numeric(z.number().int().min(1)).optional().describe('also keep the newest backup of each of the N newest months (here and off-site)'),
    volumes: z.array(name).default([]).describe('named volumes archived in every backup'),
    compression: numeric(z.number().int().min(0).max(9)).optional().describe("pg_dump -Z level for backups (0-9; default pg_dump's own); safety backups use at most 1"),
    encryption_key_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional().describe('variable holding the encryption passphrase'),
    dir: z.string().optional().describe('where backups go; default <state-dir>/backups'),
    offsite: offsiteSchema,
    pitr: pitrSchema.optional(),
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
    keep_releases: numeric(z.number().int().min(1).max(100))
      .default(5)
      .describe('successful releases per environment kept for `rollback --release`: their rendered files and images; older ones are pruned after each deploy and by `lifeops prune`'),
    prune: z.boolean().default(true).describe('after a successful deploy, remove the images and stopped containers of this stack that no kept release or backup refers to'),
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
    renew_schedule: z.string().regex(/^(\S+\s+){4}\S+$/, 'a five-field cron expression such as "17 3,15 * * *"').default('17 3,15 * * *').describe('when `certs renew` runs (only with front.tls.acme); twice a day, so a refused renewal is retried long before expiry'),
    textfile_dir: z.string().optional().describe("node_exporter's textfile-collector folder; the status job writes lifeops-<project>.prom there"),
    user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'a user name').default('root').describe('the user the jobs run as'),
    ping: z
      .object({ backup: pingUrl.optional(), verify: pingUrl.optional(), status: pingUrl.optional(), renew: pingUrl.optional() })
      .strict()
      .default({})
      .describe("healthchecks-style dead-man's switch URLs per job"),
  })
  .strict();

export const budgetSchema = z
  .object({ memory: memSize, cpus, hard: z.boolean().default(false) })
  .strict();
