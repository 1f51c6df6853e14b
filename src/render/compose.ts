// The compose file: pure function of the resolved stack. Works with compose
// v2 and v1 (--compatibility for deploy.resources): no top-level `name:`,
// project name passed with -p. Secret values never appear: a value that came
// from a secret variable is written as its ${VAR} reference, and compose
// reads the value from the environment lifeops gives it.
import { renderedStopGrace } from '../config/grace.js';
import { mapImage } from '../config/images.js';
import path from 'node:path';
import type { Service, Stack } from '../config/schema.js';
import { dockerSize } from '../util/units.js';
import { toYaml } from './yaml.js';
import { applyRenderedMounts, isSecretVar } from './extras.js';
import { secretsExpandedOntoArgv, startArgv } from './secret-commands.js';
import { composeValue, escapeDollar } from './values.js';
import { aliasClashes, hostAlias } from './hostnames.js';
import { ConfigError } from '../errors.js';
import { pitrOn, WAL_ARCHIVE_VOLUME } from '../config/pitr-schema.js';

export const BACKEND_NETWORK = 'backend';

/** Where rendered files live by default, relative to the stack file. */
export function defaultRenderDir(stack: Pick<Stack, 'baseDir' | 'env'>, stateDir: string): string {
  return path.join(stateDir, 'render', stack.env);
}

function envValue(stack: Stack, service: string, key: string, value: string | number | boolean): string {
  return composeValue(stack, `services.${service}.environment.${key}`, String(value));
}

/**
 * A secret never goes where it would be kept or shown outside its container's
 * environment: a healthcheck's test (written out with the value in it, and
 * every run shows it in `ps` on the host and in `docker inspect`) or a build
 * argument. Refused, naming the key and the variables.
 */
function refuseSecretAt(stack: Stack, at: string, where: string, hint: string): void {
  const hit = Object.keys(stack.secretTemplates).find((k) => k === at || k.startsWith(`${at}.`));
  if (hit === undefined) return;
  const vars = [...new Set([...stack.secretTemplates[hit].matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))];
  throw ConfigError.at(hit.split('.'), `holds the secret ${vars.map((v) => `\${${v}}`).join(', ')}, which would ${where}`, hint);
}

const refuseSecretInHealthcheck = (stack: Stack, name: string) =>
  refuseSecretAt(
    stack,
    `services.${name}.healthcheck.test`,
    "be on a process's command line (readable by every local user with ps, and in docker inspect)",
    'read it from the container\'s environment or a file instead (redis-cli reads REDISCLI_AUTH, which lifeops sets on the redis: service; psql reads PGPASSWORD; curl takes headers from a file with -H @FILE): a $$VAR that the container\'s shell expands still lands on that command\'s line',
  );

// A build argument is stored in the image's metadata for good: `docker history`
// shows it to anyone who has the image, wherever the image is pushed.
const refuseSecretInBuildArgs = (stack: Stack, name: string) =>
  refuseSecretAt(
    stack,
    `services.${name}.build.args`,
    'be stored in the built image (docker history shows build arguments to anyone who has the image)',
    'pass it to the container at run time (environment:) instead of at build time',
  );

const ON_COMMAND_LINE = "be on the container process's command line (readable by every local user with ps, and in docker inspect)";
const COMMAND_HINT =
  "give the program the secret through its environment or a file instead: a shell builtin can write it to a file first (printf 'requirepass %s\\n' \"$$REDIS_PASSWORD\" > /tmp/redis.conf; exec redis-server /tmp/redis.conf), and lifeops' redis: block hands Redis its password that way";

/**
 * A service's command or entrypoint never carries a secret: neither one that
 * compose interpolates into it, nor one that the container's shell expands
 * from its environment into a program's arguments (secret-commands.ts).
 */
function refuseSecretOnCommandLine(stack: Stack, name: string, svc: Service): void {
  refuseSecretAt(stack, `services.${name}.entrypoint`, ON_COMMAND_LINE, COMMAND_HINT);
  refuseSecretAt(stack, `services.${name}.command`, ON_COMMAND_LINE, COMMAND_HINT);
  const isSecret = (v: string) => isSecretVar(stack, v) || stack.secretTemplates[`services.${name}.environment.${v}`] !== undefined;
  const inCommand = secretsExpandedOntoArgv(startArgv(undefined, svc.command), isSecret);
  const hits = inCommand.length ? inCommand : secretsExpandedOntoArgv(startArgv(svc.entrypoint, svc.command), isSecret);
  if (!hits.length) return;
  // the key that holds the script (a shell in the entrypoint often runs a command's text)
  const key = inCommand.length || JSON.stringify(svc.command ?? '').includes(hits[0].name) ? 'command' : 'entrypoint';
  throw ConfigError.at(
    ['services', name, key],
    `runs a shell that expands the secret ${hits.map((h) => `$${h.name} onto ${h.program}'s command line`).join(', ')} (readable by every local user with ps, and in docker inspect)`,
    COMMAND_HINT,
  );
}

function healthcheck(svc: Service) {
  const hc = svc.healthcheck!;
  const test = typeof hc.test === 'string' ? ['CMD-SHELL', hc.test] : ['CMD', 'NONE', 'CMD-SHELL'].includes(hc.test[0]) ? hc.test : ['CMD', ...hc.test];
  return { test: test.map(escapeDollar), interval: hc.interval, timeout: hc.timeout, retries: hc.retries, start_period: hc.start_period, ...(hc.start_interval ? { start_interval: hc.start_interval } : {}) };
}

const DEPENDS = { started: 'service_started', healthy: 'service_healthy', completed: 'service_completed_successfully' } as const;

/** The networks a service joins when the stack names none. */
function implicitNetworks(svc: Service): string[] {
  const backendOnly = ['postgres', 'redis', 'pgbouncer'].includes(svc.role);
  // A published port needs a non-internal network to reach the host.
  if (backendOnly && svc.ports.length === 0) return [BACKEND_NETWORK];
  if (svc.role === 'front') return ['default'];
  return ['default', BACKEND_NETWORK];
}

/** Every service the front routes to: domains' upstreams and their path locations'. */
export function frontUpstreams(stack: Stack): string[] {
  const out: string[] = [];
  for (const d of stack.front?.domains ?? []) for (const u of [d.upstream, ...d.locations.map((l) => l.upstream)]) if (!out.includes(u)) out.push(u);
  return out;
}

/**
 * The networks a service joins: its own `networks:`, else the built-in
 * layout (apps on default + backend, data stores on backend only). The
 * front also joins every network an upstream of it names, so it can reach
 * each one; an upstream without `networks:` is on default, as the front is.
 */
export function serviceNetworks(stack: Stack, name: string, svc: Service): string[] {
  const own = svc.networks ?? implicitNetworks(svc);
  if (stack.front?.service !== name) return own;
  const joined = [...own];
  for (const u of frontUpstreams(stack)) {
    for (const net of stack.services[u]?.networks ?? ['default']) if (!joined.includes(net)) joined.push(net);
  }
  return joined;
}

/**
 * A service's `networks:` for compose: the list of serviceNetworks, or, for an
 * HTTP service whose name is not a valid host name (web_prod), a map giving it
 * the alias in-stack HTTP clients use on each network (hostnames.ts).
 */
function networksWithAlias(stack: Stack, name: string, svc: Service): string[] | Record<string, Record<string, unknown> | null> {
  const nets = serviceNetworks(stack, name, svc);
  const alias = svc.http ? hostAlias(name) : undefined;
  const options = svc.network_options ?? {};
  if (alias === undefined && !Object.keys(options).length) return nets;
  // per-network options as written (fixed addresses, aliases), with the HTTP alias added
  return Object.fromEntries(
    nets.map((n) => {
      const o: Record<string, unknown> = { ...(options[n] ?? {}) };
      if (alias !== undefined) o.aliases = [...new Set([...((o.aliases as string[] | undefined) ?? []), alias])];
      return [n, Object.keys(o).length ? o : null];
    }),
  );
}

/** Refuses a stack where an HTTP service's alias (web_prod -> web-prod) is another service's name. */
export function checkHostAliases(stack: Stack): void {
  const http = Object.keys(stack.services).filter((n) => stack.services[n].http);
  for (const c of aliasClashes(Object.keys(stack.services)).filter((x) => http.includes(x.service))) {
    throw ConfigError.at(['services', c.service], `needs the host name "${c.alias}" (a "_" is not valid in an HTTP Host header), but another service is named "${c.alias}"`, `rename one of "${c.service}" and "${c.alias}"`);
  }
}

const definedOnly = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** Top-level networks: the built-in default and backend, then the stack's own (which may redefine those two). */
function composeNetworks(stack: Stack): Record<string, unknown> {
  const out: Record<string, unknown> = { default: {}, [BACKEND_NETWORK]: { internal: true } };
  for (const [key, def] of Object.entries(stack.networks)) out[key] = definedOnly({ ...def });
  return out;
}

/** Top-level volumes: every named volume a service mounts, and every declared one, with its options. */
function composeVolumes(stack: Stack): Record<string, unknown> | undefined {
  const names = [...new Set([...namedVolumes(stack), ...Object.keys(stack.volumes), ...(pitrOn(stack) && !stack.postgres?.external_url ? [WAL_ARCHIVE_VOLUME] : [])])].sort();
  if (!names.length) return undefined;
  return Object.fromEntries(names.map((v) => [v, stack.volumes[v] ? definedOnly({ ...stack.volumes[v] }) : {}]));
}

/** Paths in the stack file are relative to it; in the compose file, relative to the render dir. */
function relocate(stack: Stack, renderDir: string, p: string): string {
  if (!(p.startsWith('./') || p.startsWith('../') || p === '.' || p === '..')) return p;
  const rel = path.relative(renderDir, path.resolve(stack.baseDir, p));
  return rel.startsWith('.') ? rel : `./${rel}`;
}

/** An env_file path: relative ones (`env/app.env`, `.env.production`) are relative to the stack file, as in a compose file beside it. */
function relocateFile(stack: Stack, renderDir: string, p: string): string {
  if (path.isAbsolute(p) || p.includes('$') || p.startsWith('~')) return p;
  const rel = path.relative(renderDir, path.resolve(stack.baseDir, p));
  return rel.startsWith('.') || path.isAbsolute(rel) ? rel : `./${rel}`;
}

function volumeSpec(stack: Stack, renderDir: string, spec: string): string {
  const [source, ...rest] = spec.split(':');
  if (rest.length === 0) return spec;
  return [relocate(stack, renderDir, source), ...rest].join(':');
}

export function namedVolumes(stack: Stack): string[] {
  const names = new Set<string>();
  for (const svc of Object.values(stack.services)) {
    for (const v of svc.volumes) {
      const source = v.split(':')[0];
      if (v.includes(':') && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source)) names.add(source);
    }
  }
  return [...names].sort();
}

/** The state dir in charge of the containers (plan/ownership.ts reads these labels back); none when the stack was loaded without one. */
export function ownerLabels(stack: Pick<Stack, 'owner'>): Record<string, string> {
  const o = stack.owner;
  if (!o) return {};
  return { 'lifeops.state': o.id, 'lifeops.state_dir': o.dir, ...(o.host ? { 'lifeops.state_host': o.host } : {}) };
}

export function composeService(stack: Stack, name: string, svc: Service, renderDir: string): Record<string, unknown> {
  const out: Record<string, unknown> = { image: mapImage(svc.image, stack.images) };
  // A command carrying a secret is refused below (the import moves `redis-server
  // --requirepass ...` into the redis: block instead); lifeops' own commands
  // never carry one.
  const argv = (key: 'entrypoint' | 'command', v: string | string[]) =>
    typeof v === 'string' ? composeValue(stack, `services.${name}.${key}`, v) : v.map((x, i) => composeValue(stack, `services.${name}.${key}.${i}`, x));
  if (svc.entrypoint !== undefined) out.entrypoint = argv('entrypoint', svc.entrypoint);
  if (svc.command !== undefined) out.command = argv('command', svc.command);
  if (svc.user) out.user = svc.user;
  if (svc.profiles?.length) out.profiles = svc.profiles;
  if (svc.env_file.length) out.env_file = svc.env_file.map((f) => relocateFile(stack, renderDir, typeof f === 'string' ? f : f.path));
  const envKeys = Object.keys(svc.environment).sort();
  if (envKeys.length) out.environment = Object.fromEntries(envKeys.map((k) => [k, envValue(stack, name, k, svc.environment[k])]));
  if (svc.ports.length) out.ports = svc.ports;
  if (svc.expose.length) out.expose = svc.expose.map(String);
  if (svc.volumes.length) out.volumes = svc.volumes.map((v) => volumeSpec(stack, renderDir, v));
  const deps = Object.keys(svc.depends_on).sort();
  if (deps.length) out.depends_on = Object.fromEntries(deps.map((d) => [d, { condition: DEPENDS[svc.depends_on[d]] }]));
  if (svc.build) refuseSecretInBuildArgs(stack, name);
  refuseSecretOnCommandLine(stack, name, svc);
  if (svc.healthcheck) {
    refuseSecretInHealthcheck(stack, name);
    out.healthcheck = healthcheck(svc);
  }
  // Postgres as PID 1 would reap orphans of `docker exec` (a healthcheck's
  // pg_isready killed at its timeout) and take their exit for a crashed backend:
  // crash recovery for every connection. An init process reaps them instead.
  if (svc.role === 'postgres') out.init = true;
  if (svc.shm_size !== undefined) out.shm_size = typeof svc.shm_size === 'number' ? svc.shm_size : dockerSize(svc.shm_size);
  if (svc.tmpfs !== undefined) out.tmpfs = svc.tmpfs;
  if (svc.stdin_open !== undefined) out.stdin_open = svc.stdin_open;
  if (svc.tty !== undefined) out.tty = svc.tty;
  out.restart = svc.restart;
  const grace = renderedStopGrace(svc); // gunicorn's graceful_timeout plus a margin at least
  if (grace) out.stop_grace_period = grace;
  // network_mode (host, service:NAME) and networks: exclude each other in compose.
  if (svc.compose?.network_mode === undefined) out.networks = networksWithAlias(stack, name, svc);
  const logging = svc.logging ?? { max_size: '10m', max_file: 3 };
  out.logging = { driver: 'json-file', options: { 'max-size': logging.max_size, 'max-file': String(logging.max_file) } };
  const deploy: Record<string, unknown> = {};
  if (svc.replicas !== 1) deploy.replicas = svc.replicas;
  const res = svc.resources;
  if (res?.limits || res?.reservations) {
    const resources: Record<string, unknown> = {};
    for (const kind of ['limits', 'reservations'] as const) {
      const set = res[kind];
      if (!set) continue;
      const r: Record<string, string> = {};
      if (set.cpus !== undefined) r.cpus = String(set.cpus);
      if (set.memory) r.memory = dockerSize(set.memory);
      resources[kind] = r;
    }
    deploy.resources = resources;
  }
  // Compose-only keys (ulimits, cap_add, sysctls, ...) pass through as written; lifeops' own win.
  for (const [k, v] of Object.entries(svc.compose ?? {})) {
    if (k === 'deploy' && typeof v === 'object' && v !== null) Object.assign(deploy, { ...(v as Record<string, unknown>), ...deploy });
    else if (k === 'label_file') out[k] = Array.isArray(v) ? v.map((f) => relocateFile(stack, renderDir, String(f))) : relocateFile(stack, renderDir, String(v));
    else if (!(k in out) || k === 'init') out[k] = composeDeep(stack, `services.${name}.${k}`, v);
  }
  if (Object.keys(deploy).length) out.deploy = deploy;
  out.labels = {
    ...Object.fromEntries(Object.entries(svc.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, composeValue(stack, `services.${name}.labels.${k}`, v)])),
    'lifeops.stack': stack.name,
    'lifeops.env': stack.env,
    'lifeops.role': svc.role,
    ...ownerLabels(stack),
  };
  applyRenderedMounts(stack, name, out);
  return out;
}

/** A passed-through compose value with every string as composeValue writes it ($ escaped, secrets as their ${VAR}). */
function composeDeep(stack: Stack, key: string, v: unknown): unknown {
  if (typeof v === 'string') return composeValue(stack, key, v);
  if (Array.isArray(v)) return v.map((x, i) => composeDeep(stack, `${key}.${i}`, x));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, composeDeep(stack, `${key}.${k}`, x)]));
  return v;
}

export function renderCompose(stack: Stack, renderDir: string): string {
  checkHostAliases(stack);
  const services: Record<string, unknown> = {};
  for (const name of Object.keys(stack.services)) services[name] = composeService(stack, name, stack.services[name], renderDir);
  const doc: Record<string, unknown> = { services, networks: composeNetworks(stack) };
  const volumes = composeVolumes(stack);
  if (volumes) doc.volumes = volumes;
  // Top-level secrets and configs pass through; a relative `file:` is relative to the stack file.
  for (const [k, defs] of Object.entries(stack.composeTop ?? {})) {
    if (!defs) continue;
    doc[k] = Object.fromEntries(
      Object.entries(defs).map(([n, d]) => [n, d && typeof d === 'object' && typeof (d as { file?: unknown }).file === 'string' ? { ...d, file: relocateFile(stack, renderDir, (d as { file: string }).file) } : d]),
    );
  }
  return toYaml(doc, `Rendered by lifeops from ${path.basename(stack.file)} (environment ${stack.env}). Do not edit: run \`lifeops render\`.\nProject: ${stack.project}`);
}
