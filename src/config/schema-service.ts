// The service-level schema of a stack file: a service, its health check,
// env files, and the networks and volumes it may join or mount.
import { z } from 'zod';
import { numeric } from './numeric.js';
import { name, duration, memSize, safeToken, port, cpus, stringOrList, portMappingInRange, MAX_SIZE_BYTES, urlPath } from './schema-values.js';

// Timings left out follow compose's own defaults (30s, 30s, 3 retries, no start period).
export const healthcheckSchema = z
  .object({
    test: stringOrList.describe('a shell command (string) or an exec array; exit 0 means healthy'),
    interval: duration.default('30s'),
    timeout: duration.default('30s'),
    retries: numeric(z.number().int().min(1).max(1000)).default(3),
    start_period: duration.default('0s'),
    start_interval: duration.optional().describe('how often to check during start_period (Docker Engine 25 and later)'),
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

/** The container side of a volume entry: "SRC:DST[:MODE]" or an anonymous "DST". */
export function containerPath(spec: string): string {
  const parts = spec.split(':');
  return parts.length === 1 ? parts[0] : parts[1];
}

/** A service's options on one network, as compose writes them. */
const networkAttachment = z
  .object({
    aliases: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a host name such as "db-primary"')).optional(),
    ipv4_address: z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/, 'an IPv4 address such as "172.28.0.5"').optional(),
    ipv6_address: z.string().regex(/^[0-9A-Fa-f:.]+$/, 'an IPv6 address such as "fd00:28::5"').optional(),
    link_local_ips: z.array(z.string()).optional(),
    mac_address: z.string().optional(),
    priority: numeric(z.number().int()).optional(),
    gw_priority: numeric(z.number().int()).optional(),
    driver_opts: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  })
  .strict();

export const serviceObjectSchema = z
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
        target: z.string().min(1).optional().describe('the stage of a multi-stage Dockerfile to build (docker build --target)'),
      })
      .strict()
      .optional(),
    command: stringOrList.optional(),
    entrypoint: stringOrList.optional(),
    environment: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'an environment variable name (letters, digits, "_", "." or "-", such as "DATABASE_URL" or "discovery.type")'), z.union([z.string(), z.number(), z.boolean()])).default({}),
    env_file: envFileList.default([]),
    ports: z
      .array(
        z
          .string()
          .regex(/^((\d{1,3}\.){3}\d{1,3}:|:(?=\d+(-\d+)?:))?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp))?$/, 'a port mapping such as "127.0.0.1:8080:80" (or "127.0.0.1::5432" for any free host port, ":8080:80" for every address)')
          .refine(portMappingInRange, 'ports from 1 to 65535 and an IPv4 address with parts up to 255, such as "127.0.0.1:8080:80"'),
      )
      .default([]),
    expose: z.array(port).default([]),
    volumes: z
      .array(z.string().refine((v) => containerPath(v).startsWith('/'), 'a mount whose container path is absolute, such as "./data:/srv/data", "pgdata:/var/lib/postgresql/data:ro" or "/cache"'))
      .default([]),
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
    networks: z
      .union([z.array(composeKey), z.record(composeKey, networkAttachment.nullable())])
      .optional()
      .describe('networks the service joins: default, backend, or ones declared under the top-level networks:; as a mapping, each with its options (aliases, ipv4_address, ipv6_address ...)'),
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

export type NetworkAttachment = z.infer<typeof networkAttachment>;

/** Networks as a list of names; a mapping's per-network options go to network_options. */
export const serviceSchema = serviceObjectSchema.transform((s) => {
  const { networks, ...rest } = s;
  if (networks === undefined || Array.isArray(networks)) return { ...rest, networks } as typeof rest & { networks?: string[]; network_options?: Record<string, NetworkAttachment> };
  const options = Object.fromEntries(Object.entries(networks).filter((e): e is [string, NetworkAttachment] => e[1] !== null));
  return { ...rest, networks: Object.keys(networks), ...(Object.keys(options).length ? { network_options: options } : {}) } as typeof rest & { networks?: string[]; network_options?: Record<string, NetworkAttachment> };
});
