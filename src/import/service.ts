// One compose service in the stack file's form, for `lifeops import`. The
// keys lifeops has its own form for (environment, ports, volumes, networks,
// depends_on, healthcheck, labels, build, resources) are rewritten into it;
// every other compose key passes through as written. What lifeops cannot
// carry is refused (exit 2) with the key and what to do: a note would let the
// stack mean something else than the compose file. Pure.
import { ConfigError } from '../errors.js';
import { isSecretName } from '../util/redact.js';
import { braceBareVars, interpolateString } from '../config/interpolate.js';
import { conditionOf, duration, guessRole, isObject, memory, portString, urlPassword, type Json, type Secrets } from './values.js';

export interface ServiceContext {
  project: string;
  /** strings as lifeops reads them: bare $VAR braced */
  str(v: unknown): string;
  /** a value with every string passed through str and x-* keys dropped */
  deep(v: unknown): unknown;
  /** a host path relative to the compose file, relative to the stack file */
  relocate(p: string): string;
  relocateFile(p: string): string;
  /** file:line:col of a key path in the compose files */
  atKey(keyPath: (string | number)[]): string;
  secrets: Secrets;
  envVars: Record<string, string>;
  notes: string[];
  comments: { path: (string | number)[]; text: string }[];
}

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** build keys lifeops carries; the others change what is built, so an import with them is refused */
const BUILD_KEYS = ['context', 'dockerfile', 'args', 'target'];
/** build keys that only change how fast a build is, never what it makes */
const BUILD_CACHE_KEYS = ['cache_from', 'cache_to', 'pull', 'no_cache'];
/** per-network options of a service lifeops carries */
const NETWORK_OPTIONS = ['aliases', 'ipv4_address', 'ipv6_address', 'priority', 'link_local_ips', 'mac_address', 'driver_opts', 'gw_priority'];

export function convertService(c: ServiceContext, name: string, def: Json): { out: Json; role: { role: string; why: string } } {
  const out: Json = {};
  const guess = guessRole(name, def);
  out.role = guess.role;
  c.comments.push({ path: ['services', name, 'role'], text: ` guessed: ${guess.why}` });
  const refuse = (key: (string | number)[], what: string, todo: string): never => {
    throw new ConfigError(`${c.atKey(['services', name, ...key])}: services.${name}.${key.join('.')}: ${what}`, todo);
  };
  for (const [key, value] of Object.entries(def)) {
    if (key.startsWith('x-')) continue;
    const at = `services.${name}.${key}`;
    switch (key) {
      case 'image':
        out.image = c.str(value);
        break;
      case 'build': {
        if (typeof value === 'string') out.build = { context: c.relocate(value.startsWith('.') || value.startsWith('/') ? value : `./${value}`) };
        else if (isObject(value)) {
          const b: Json = { context: c.relocate(String(value.context ?? '.')) };
          if (value.dockerfile !== undefined) b.dockerfile = c.str(value.dockerfile);
          if (value.target !== undefined) b.target = c.str(value.target);
          if (value.args !== undefined) b.args = Object.fromEntries(Object.entries(isObject(value.args) ? value.args : Object.fromEntries((value.args as unknown[]).map((a) => String(a).split(/=(.*)/s).slice(0, 2)))).map(([k, v]) => [k, c.str(v ?? '')]));
          const cache = Object.keys(value).filter((k) => BUILD_CACHE_KEYS.includes(k));
          const other = Object.keys(value).filter((k) => !BUILD_KEYS.includes(k) && !BUILD_CACHE_KEYS.includes(k) && !k.startsWith('x-'));
          if (other.length) refuse(['build', other[0]], `lifeops builds with ${BUILD_KEYS.join(', ')} only, and ${other.join(', ')} would change what is built`, `build the image yourself and name it in image:, or remove ${other.join(', ')} from the compose file, then import again`);
          if (cache.length) c.comments.push({ path: ['services', name, 'build'], text: ` left out: ${cache.join(', ')} (build cache only; the image is the same)` });
          out.build = b;
        }
        break;
      }
      case 'command':
      case 'entrypoint':
        out[key] = Array.isArray(value) ? value.map(c.str) : c.str(value);
        break;
      case 'environment':
        out.environment = environment(c, name, value);
        break;
      case 'env_file': {
        const list = Array.isArray(value) ? value : [value];
        out.env_file = list.map((f) => (isObject(f) ? { path: c.relocateFile(String(f.path)), required: f.required !== false } : c.relocateFile(String(f))));
        break;
      }
      case 'ports':
        out.ports = (value as unknown[]).map((p) => c.str(portString(p, at)));
        break;
      case 'expose':
        out.expose = (value as unknown[]).map((p, i) => Number(String(fixed(c, name, ['expose', i], p)).replace(/\/.*$/, '')));
        break;
      case 'volumes': {
        const vols: string[] = [];
        const tmpfs: string[] = [];
        let i = 0;
        for (const v of value as unknown[]) {
          if (typeof v === 'string') {
            const [src, ...rest] = splitOutsideVars(c.str(v), ':');
            vols.push(rest.length ? [relocateSource(c, src), ...rest].join(':') : src);
          } else if (isObject(v)) vols.push(...longVolume(c, name, i, v, tmpfs));
          i++;
        }
        out.volumes = vols;
        if (tmpfs.length) out.tmpfs = [...(Array.isArray(def.tmpfs) ? def.tmpfs : def.tmpfs ? [def.tmpfs] : []), ...tmpfs];
        break;
      }
      case 'networks':
        if (Array.isArray(value)) out.networks = value.map(String);
        else if (isObject(value)) {
          const withOptions = Object.entries(value).filter(([, o]) => isObject(o) && Object.keys(o).length);
          if (!withOptions.length) out.networks = Object.keys(value);
          else {
            for (const [net, o] of withOptions) {
              const bad = Object.keys(o as Json).find((k) => !NETWORK_OPTIONS.includes(k));
              if (bad) refuse(['networks', net, bad], `a network option lifeops does not carry; valid: ${NETWORK_OPTIONS.join(', ')}`, `remove it from the compose file, then import again`);
            }
            out.networks = Object.fromEntries(Object.entries(value).map(([n, o]) => [n, isObject(o) && Object.keys(o).length ? c.deep(o) : null]));
          }
        }
        break;
      case 'depends_on': {
        const deps = Array.isArray(value) ? Object.fromEntries(value.map((d) => [String(d), null])) : (value as Json);
        for (const [d, o] of Object.entries(deps)) {
          if (isObject(o) && o.required === false) refuse(['depends_on', d, 'required'], 'an optional dependency: lifeops starts a service only with every service it depends on', `remove required: false (or the dependency on ${d}) from the compose file, then import again`);
        }
        const restarts = Object.entries(deps).filter(([, o]) => isObject(o) && o.restart === true).map(([d]) => d);
        if (restarts.length) c.comments.push({ path: ['services', name, 'depends_on'], text: ` left out: restart: true on ${restarts.join(', ')} (lifeops recreates a service when its own configuration changes)` });
        out.depends_on = Object.fromEntries(Object.entries(deps).map(([d, o]) => [d, conditionOf(isObject(o) ? o.condition : undefined)]));
        break;
      }
      case 'healthcheck': {
        const hc = value as Json;
        if (hc.disable === true) out.healthcheck = { test: ['NONE'] };
        else if (hc.test !== undefined) {
          const h: Json = { test: Array.isArray(hc.test) ? hc.test.map(c.str) : c.str(hc.test) };
          for (const k of ['interval', 'timeout', 'start_period'] as const) if (hc[k] !== undefined) h[k] = duration(fixed(c, name, ['healthcheck', k], hc[k]));
          const other = Object.keys(hc).find((k) => !['test', 'interval', 'timeout', 'start_period', 'start_interval', 'retries', 'disable'].includes(k));
          if (other) refuse(['healthcheck', other], 'a healthcheck key lifeops does not carry; valid: test, interval, timeout, retries, start_period, start_interval, disable', 'remove it from the compose file, then import again');
          if (hc.retries !== undefined) h.retries = Number(fixed(c, name, ['healthcheck', 'retries'], hc.retries));
          out.healthcheck = h;
          if (hc.start_interval !== undefined) h.start_interval = duration(fixed(c, name, ['healthcheck', 'start_interval'], hc.start_interval));
        }
        break;
      }
      case 'labels':
        // `- com.example.proxy` (no "=") is a label with an empty value, as compose reads it
        out.labels = Array.isArray(value)
          ? Object.fromEntries(value.map((l) => { const s = String(l); const i = s.indexOf('='); return i < 0 ? [s, ''] : [s.slice(0, i), c.str(s.slice(i + 1))]; }))
          : Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, c.str(v ?? '')]));
        break;
      case 'restart':
        out.restart = c.str(value);
        break;
      case 'logging': {
        const l = value as Json;
        const o = isObject(l.options) ? l.options : {};
        // lifeops writes json-file with rotation; another driver, or json-file options beyond rotation, would change where logs go
        if ((l.driver ?? 'json-file') !== 'json-file') refuse(['logging', 'driver'], `logging driver ${String(l.driver)}: lifeops writes json-file with rotation (max_size, max_file) and reads logs from it`, 'remove the logging driver from the compose file (or set json-file), then import again');
        const opt = Object.keys(o).find((k) => !['max-size', 'max-file'].includes(k));
        if (opt) refuse(['logging', 'options', opt], 'a json-file option lifeops does not carry; valid: max-size, max-file', 'remove it from the compose file, then import again');
        out.logging = { max_size: String(fixed(c, name, ['logging', 'options', 'max-size'], o['max-size'] ?? '10m')), max_file: Number(fixed(c, name, ['logging', 'options', 'max-file'], o['max-file'] ?? 3)) };
        break;
      }
      case 'mem_limit':
      case 'cpus':
      case 'mem_reservation': {
        const res = (out.resources ??= {}) as Json;
        const set = (res[key === 'mem_reservation' ? 'reservations' : 'limits'] ??= {}) as Json;
        if (key === 'cpus') set.cpus = Number(fixed(c, name, [key], value));
        else set.memory = memory(fixed(c, name, [key], value));
        break;
      }
      case 'scale':
        out.replicas = Number(fixed(c, name, [key], value));
        break;
      case 'deploy':
        deploy(c, name, out, value as Json);
        break;
      case 'container_name':
        if (guess.role === 'web') {
          c.notes.push(`${at}: left out (a web service is rolled with a second container beside the first)`);
          c.comments.push({ path: ['services', name, 'role'], text: ` guessed: ${guess.why}; container_name ${String(value)} left out (rolling needs two containers)` });
        } else out.container_name = c.str(value);
        break;
      default:
        out[key] = c.deep(value);
    }
  }
  return { out, role: guess };
}

/** `text` split at `sep`, except inside ${...} (`${DIR:-.}/data:/data` is two parts). */
export function splitOutsideVars(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      cur += '${';
      i++;
      continue;
    }
    if (text[i] === '}' && depth > 0) depth--;
    if (text[i] === sep && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += text[i];
  }
  return [...parts, cur];
}

/**
 * A bind mount's host path, relative to the compose file, made relative to the
 * stack file; so is a relative default it starts with (`${DIR:-.}/dags`, the
 * variable unset in .env: a value set there is rewritten in the env file).
 */
function relocateSource(c: ServiceContext, src: string): string {
  const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-)(\.{1,2}(?:\/[^}$]*)?)\}/.exec(src);
  if (m && !(m[1] in c.envVars)) return `\${${m[1]}${m[2]}${c.relocate(m[3])}}${src.slice(m[0].length)}`;
  return c.relocate(src);
}

/**
 * A value lifeops checks itself (a duration, a count, a size) that the compose
 * file takes from a variable: read now from .env as compose reads it (lifeops'
 * schema checks the value, not a template), with a comment naming where it came from.
 */
function fixed(c: ServiceContext, name: string, key: (string | number)[], v: unknown): unknown {
  if (typeof v !== 'string' || !v.replace(/\$\$/g, '').includes('$')) return v;
  const r = interpolateString(braceBareVars(v), c.envVars);
  c.comments.push({ path: ['services', name, ...key], text: ` ${v} in the compose file, read from .env at import` });
  return r.value;
}

/**
 * A long-syntax volume in the short form: read_only, a bind's SELinux label
 * and propagation become its modes (":ro,z,rshared"), a tmpfs's size its
 * option; options the short form cannot say are refused.
 */
function longVolume(c: ServiceContext, name: string, i: number, v: Json, tmpfs: string[]): string[] {
  const at = ['volumes', i];
  const refuse = (key: string, why: string): never => {
    throw new ConfigError(`${c.atKey(['services', name, ...at, ...key.split('.')])}: services.${name}.volumes.${i}.${key}: ${why}`, 'write the mount in the short form compose reads the same way (SOURCE:TARGET:MODES), or remove the option, then import again');
  };
  const extra = Object.keys(v).find((k) => !['type', 'source', 'target', 'read_only', 'bind', 'tmpfs', 'volume', 'consistency'].includes(k));
  if (extra) refuse(extra, 'a volume option lifeops does not carry; valid: type, source, target, read_only, bind (selinux, propagation), tmpfs (size)');
  if (v.type === 'tmpfs') {
    const t = isObject(v.tmpfs) ? v.tmpfs : {};
    const bad = Object.keys(t).find((k) => k !== 'size');
    if (bad) refuse(`tmpfs.${bad}`, 'a tmpfs option lifeops does not carry; valid: size');
    tmpfs.push(t.size !== undefined ? `${String(v.target)}:size=${String(t.size)}` : String(v.target));
    return [];
  }
  const modes: string[] = v.read_only ? ['ro'] : [];
  if (isObject(v.bind)) {
    const bad = Object.keys(v.bind).find((k) => !['selinux', 'propagation', 'create_host_path'].includes(k));
    if (bad) refuse(`bind.${bad}`, 'a bind option lifeops does not carry; valid: selinux, propagation');
    if (v.bind.selinux !== undefined) modes.push(String(v.bind.selinux));
    if (v.bind.propagation !== undefined) modes.push(String(v.bind.propagation));
  }
  if (isObject(v.volume) && Object.keys(v.volume).length) refuse(`volume.${Object.keys(v.volume)[0]}`, 'a named-volume option the short form cannot say (compose reads "NAME:TARGET:nocopy" as a bind mount)');
  const src = v.source === undefined ? '' : v.type === 'bind' ? relocateSource(c, c.str(v.source)) : c.str(v.source);
  const mode = modes.length ? `:${modes.join(',')}` : '';
  return [src ? `${src}:${v.target}${mode}` : String(v.target)];
}

function environment(c: ServiceContext, name: string, value: unknown): Json {
  const env: Json = {};
  const unset: string[] = [];
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((e) => {
        const s = String(e);
        const i = s.indexOf('=');
        return (i < 0 ? [s, null] : [s.slice(0, i), s.slice(i + 1)]) as [string, unknown];
      })
    : Object.entries(value as Json);
  for (const [k, v] of entries) {
    if (v === null || v === undefined) {
      // compose passes the variable from .env (or its own environment) when set there, and nothing when not
      if (VAR_NAME.test(k) && k in c.envVars) env[k] = c.str(`\${${k}}`);
      else unset.push(k);
      continue;
    }
    if (typeof v === 'number' || typeof v === 'boolean') {
      env[k] = v;
      continue;
    }
    let s = c.str(v);
    // NAME_FILE=/run/secrets/x names the file that holds the secret (the images' convention for compose secrets): a path, not a secret
    const pathToSecret = /_FILE$/i.test(k) && s.startsWith('/');
    if (isSecretName(k) && !pathToSecret && s !== '' && !s.includes('${')) {
      const varName = c.secrets.varFor(k, name, s.replace(/\$\$/g, '$'));
      s = `\${${varName}}`;
    } else s = urlPassword(k, name, s, c.secrets, { ...c.envVars, ...Object.fromEntries(c.secrets.values) });
    env[k] = s;
  }
  if (unset.length) c.comments.push({ path: ['services', name, 'environment'], text: ` left out: ${unset.join(', ')} (named without a value and not set in .env: compose passes nothing for them)` });
  return env;
}

function deploy(c: ServiceContext, name: string, out: Json, value: Json): void {
  const d = { ...value };
  if (d.replicas !== undefined) out.replicas = Number(fixed(c, name, ['deploy', 'replicas'], d.replicas));
  delete d.replicas;
  if (isObject(d.resources)) {
    const res = (out.resources ??= {}) as Json;
    for (const kind of ['limits', 'reservations'] as const) {
      const r = (d.resources as Json)[kind];
      if (!isObject(r)) continue;
      const set = (res[kind] ??= {}) as Json;
      const other = Object.keys(r).find((k) => !['cpus', 'memory'].includes(k));
      if (other) throw new ConfigError(`${c.atKey(['services', name, 'deploy', 'resources', kind, other])}: services.${name}.deploy.resources.${kind}.${other}: lifeops sets ${kind} of cpus and memory only`, 'remove it from the compose file (devices such as GPUs are not managed by lifeops yet), then import again');
      if (r.cpus !== undefined) set.cpus = Number(fixed(c, name, ['deploy', 'resources', kind, 'cpus'], r.cpus));
      if (r.memory !== undefined) set.memory = memory(fixed(c, name, ['deploy', 'resources', kind, 'memory'], r.memory));
    }
    delete d.resources;
  }
  if (Object.keys(d).length) out.deploy = c.deep(d);
}
