// `lifeops import --check`: what compose itself reads from the original setup
// and from lifeops' rendered files (both `docker compose config --format
// json`), compared service by service on what a container gets: image,
// command, entrypoint, environment, volumes, ports, networks with their
// options, labels, restart, depends_on, healthcheck, and every other key
// compose prints (user, hostname, secrets, ulimits ...); and the project's
// volume names. lifeops' own additions (its labels, logging, init, the backend
// network it adds at the top level) are not differences. Environment values
// are never printed (they may be secrets): only which keys differ. Pure.
import { isObject, type Json } from './values.js';

/** What one service means to compose, from `docker compose config --format json`. */
export function serviceMeaning(svc: Json, builtImage?: string): Json {
  const list = (v: unknown) => (Array.isArray(v) ? v : []) as Json[];
  const networks = isObject(svc.networks) ? svc.networks : {};
  return {
    // a built service without image: is tagged <project>-<service> by compose v2
    image: svc.image ?? (svc.build !== undefined ? builtImage : undefined),
    command: svc.command ?? null,
    entrypoint: svc.entrypoint ?? null,
    // a variable compose passes nothing for (named without a value, set nowhere) is no variable
    environment: Object.fromEntries(Object.entries(isObject(svc.environment) ? svc.environment : {}).filter(([, v]) => v !== null)),
    volumes: list(svc.volumes)
      .filter((v) => v.type !== 'tmpfs')
      .map((v) => {
        // create_host_path is what the short form implies; the mount is the same
        const bind = isObject(v.bind) ? Object.fromEntries(Object.entries(v.bind).filter(([k]) => k !== 'create_host_path')) : {};
        return { type: v.type, source: v.source, target: v.target, read_only: Boolean(v.read_only), bind, volume: isObject(v.volume) ? v.volume : {} };
      }),
    // a tmpfs volume and a tmpfs: entry mount the same
    tmpfs: [
      ...(Array.isArray(svc.tmpfs) ? svc.tmpfs : svc.tmpfs ? [svc.tmpfs] : []),
      ...list(svc.volumes)
        .filter((v) => v.type === 'tmpfs')
        .map((v) => (isObject(v.tmpfs) && v.tmpfs.size !== undefined ? `${String(v.target)}:size=${String(v.tmpfs.size)}` : v.target)),
    ]
      .map(String)
      .sort(),
    ports: svc.ports ?? [],
    networks: Object.fromEntries(
      Object.keys(networks)
        .sort()
        .map((n) => {
          const o = networks[n];
          return [n, isObject(o) ? { ...o, ...(Array.isArray(o.aliases) ? { aliases: [...o.aliases].sort() } : {}) } : null];
        }),
    ),
    labels: Object.fromEntries(Object.entries(isObject(svc.labels) ? svc.labels : {}).filter(([k]) => !k.startsWith('lifeops.'))),
    restart: svc.restart ?? 'no',
    depends_on: Object.fromEntries(Object.entries(isObject(svc.depends_on) ? svc.depends_on : {}).map(([k, v]) => [k, isObject(v) ? v.condition : v])),
    healthcheck: healthcheck(svc.healthcheck),
    // everything else compose reads (user, hostname, secrets, ulimits, sysctls, cap_add, ...), compared as compose prints it
    ...Object.fromEntries(Object.keys(svc).filter((k) => !COMPARED.has(k) && !NOT_MEANING.has(k)).sort().map((k) => [k, svc[k]])),
  };
}

/** keys serviceMeaning reads itself */
const COMPARED = new Set(['image', 'command', 'entrypoint', 'environment', 'volumes', 'tmpfs', 'ports', 'networks', 'labels', 'restart', 'depends_on', 'healthcheck']);
/**
 * keys that are lifeops' own or say nothing about what runs: logging (lifeops
 * writes json-file rotation), init (lifeops adds it to postgres), build (how
 * the image is made: its context moves with the stack file; the image name is
 * compared), container_name (left out for a web service, which is rolled
 * with a second container), env_file (compose has read it into environment)
 */
const NOT_MEANING = new Set(['logging', 'init', 'build', 'container_name', 'env_file']);

/** compose's defaults filled in (lifeops writes every timing out) */
function healthcheck(hc: unknown): Json | null {
  // no test of its own (`disable: false` alone): the image's own check runs, as with none written
  if (!isObject(hc) || (hc.test === undefined && hc.disable !== true)) return null;
  // `disable: true` and `test: [NONE]` turn the image's check off alike
  if (hc.disable === true || (Array.isArray(hc.test) && hc.test[0] === 'NONE')) return { disable: true };
  const out: Json = { interval: '30s', timeout: '30s', retries: 3, start_period: '0s', ...hc };
  if (out.start_period === '0s') delete out.start_period;
  return out;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The stack's managed Redis, when the import moved a `redis-server
 * --requirepass ...` into the redis: block: lifeops starts it through a
 * script that hands the server its password in a file (render/datastores.ts),
 * with REDISCLI_AUTH in its environment and the rendered redis.conf mounted at
 * `conf`. What remains comparable is the flags after the config file.
 */
export interface ManagedRedis {
  service: string;
  conf: string;
  envVar: string;
}

const REDIS_BLOCK_FLAGS = ['requirepass', 'maxmemory', 'maxmemory-policy', 'appendonly', 'save'];

/** redis-server and the flags the redis: block does not own, from either reading. */
function redisFlags(svc: Json, redis: ManagedRedis, side: 'original' | 'rendered'): string[] {
  const argv = (Array.isArray(svc.command) ? svc.command : []).map(String);
  if (side === 'rendered') {
    const at = argv.indexOf(redis.conf);
    return at < 0 ? argv : ['redis-server', ...argv.slice(at + 1)];
  }
  const out = argv.slice(0, 1);
  let keep = true;
  for (const w of argv.slice(1)) {
    if (w.startsWith('--')) keep = !REDIS_BLOCK_FLAGS.includes(w.slice(2));
    if (keep) out.push(w);
  }
  return out;
}

function managedView(svc: Json, redis: ManagedRedis, side: 'original' | 'rendered'): Json {
  const env = isObject(svc.environment) ? { ...svc.environment } : undefined;
  // lifeops sets it to the block's password (an original may set it too, for redis-cli)
  if (env) delete env[redis.envVar];
  const volumes = Array.isArray(svc.volumes) ? svc.volumes.filter((v: Json) => !(side === 'rendered' && v.target === redis.conf)) : svc.volumes;
  const { entrypoint: _e, ...rest } = svc;
  return { ...rest, command: redisFlags(svc, redis, side), ...(env ? { environment: env } : {}), ...(volumes ? { volumes } : {}) };
}

/** One line per difference between compose's two readings; none when they mean the same. */
export function meaningDiff(original: Json, rendered: Json, redis?: ManagedRedis): string[] {
  const out: string[] = [];
  const a = isObject(original.services) ? original.services : {};
  const b = isObject(rendered.services) ? rendered.services : {};
  for (const name of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (!(name in b)) {
      out.push(`services.${name}: only in the original`);
      continue;
    }
    if (!(name in a)) {
      out.push(`services.${name}: only in the rendered files`);
      continue;
    }
    const managed = redis?.service === name;
    const ma = serviceMeaning(managed ? managedView(a[name] as Json, redis, 'original') : (a[name] as Json), `${String(original.name)}-${name}`);
    const mb = serviceMeaning(managed ? managedView(b[name] as Json, redis, 'rendered') : (b[name] as Json), `${String(rendered.name)}-${name}`);
    for (const key of [...new Set([...Object.keys(ma), ...Object.keys(mb)])]) {
      if (same(ma[key], mb[key])) continue;
      if (key === 'environment' || key === 'labels') {
        const ea = ma[key] as Json;
        const eb = mb[key] as Json;
        for (const k of [...new Set([...Object.keys(ea), ...Object.keys(eb)])].sort()) {
          if (!(k in eb)) out.push(`services.${name}.${key}.${k}: only in the original`);
          else if (!(k in ea)) out.push(`services.${name}.${key}.${k}: only in the rendered files`);
          else if (!same(ea[k], eb[k])) out.push(`services.${name}.${key}.${k}: the value differs`);
        }
      } else out.push(`services.${name}.${key}: original ${JSON.stringify(ma[key])}, rendered ${JSON.stringify(mb[key])}`);
    }
  }
  // the original's networks as compose creates them (name, driver, subnets ...); lifeops may add its own beside them
  const na = isObject(original.networks) ? original.networks : {};
  const nb = isObject(rendered.networks) ? rendered.networks : {};
  for (const n of Object.keys(na).sort()) {
    if (!(n in nb)) out.push(`networks.${n}: only in the original`);
    else if (!same(na[n], nb[n])) out.push(`networks.${n}: original ${JSON.stringify(na[n])}, rendered ${JSON.stringify(nb[n])}`);
  }
  // secrets and configs: the same file, content or variable behind each name
  for (const top of ['secrets', 'configs'] as const) {
    const ta = isObject(original[top]) ? original[top] : {};
    const tb = isObject(rendered[top]) ? rendered[top] : {};
    for (const n of Object.keys(ta).sort()) {
      if (!(n in tb)) out.push(`${top}.${n}: only in the original`);
      else if (!same(ta[n], tb[n])) out.push(`${top}.${n}: ${top === 'secrets' ? 'differs' : `original ${JSON.stringify(ta[n])}, rendered ${JSON.stringify(tb[n])}`}`);
    }
  }
  const va = isObject(original.volumes) ? original.volumes : {};
  const vb = isObject(rendered.volumes) ? rendered.volumes : {};
  for (const v of Object.keys(va)) {
    const na = (va[v] as Json | null)?.name;
    const nb = (vb[v] as Json | null | undefined)?.name;
    if (na !== nb) out.push(`volumes.${v}: original name ${JSON.stringify(na)}, rendered ${JSON.stringify(nb)}`);
  }
  return out;
}
