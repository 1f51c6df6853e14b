// Compose files merged as `docker compose` merges them (a compose.yaml and
// the compose.override.yaml beside it, or several -f files): mappings merge
// key by key, most sequences append without repeats, and these differ:
//   command, entrypoint, healthcheck.test        replaced
//   environment, labels, build.args, sysctls ... list or map, merged by name
//   depends_on, networks (of a service)          list or map, merged by name
//   volumes, devices (of a service)              merged by container path
//   !reset drops a key, !override replaces a value whole.
// Checked against compose v2's own `config` output. Pure.
import { isObject, type Json } from './values.js';
import { OVERRIDE, RESET } from './yaml-read.js';

const REPLACED = new Set(['command', 'entrypoint', 'healthcheck.test']);
const BY_NAME = new Set(['environment', 'labels', 'build.args', 'build.labels', 'sysctls', 'annotations', 'depends_on', 'networks', 'logging.options', 'deploy.labels']);
const BY_TARGET = new Set(['volumes', 'devices']);

/** A `KEY=VALUE` list or a mapping as a mapping (`KEY` alone maps to null, as compose reads it). */
function asMap(v: unknown): Json {
  if (isObject(v)) return v;
  if (!Array.isArray(v)) return {};
  return Object.fromEntries(
    v.map((e) => {
      const s = String(e);
      const i = s.indexOf('=');
      return i < 0 ? [s, null] : [s.slice(0, i), s.slice(i + 1)];
    }),
  );
}

/** The container path of a service volume or device entry (short or long syntax). */
function targetOf(v: unknown): string {
  if (isObject(v)) return String(v.target ?? '');
  const parts = String(v).split(':');
  return parts.length === 1 ? parts[0] : parts[1];
}

function stripMarkers(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripMarkers);
  if (!isObject(v)) return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v)) if (x !== RESET) out[k.endsWith(OVERRIDE) ? k.slice(0, -OVERRIDE.length) : k] = stripMarkers(x);
  return out;
}

/** `path` is the key path inside a service ('' at a file's top level), which picks the rule. */
function mergeValue(base: unknown, over: unknown, path: string): unknown {
  if (BY_NAME.has(path) && (Array.isArray(base) || isObject(base)) && (Array.isArray(over) || isObject(over))) return mergeMaps(asMap(base), asMap(over), path);
  if (REPLACED.has(path)) return stripMarkers(over);
  if (Array.isArray(base) && Array.isArray(over)) {
    if (BY_TARGET.has(path)) {
      const targets = new Set(over.map(targetOf));
      return [...base.filter((v) => !targets.has(targetOf(v))), ...stripMarkers(over) as unknown[]];
    }
    const out = [...base];
    for (const v of stripMarkers(over) as unknown[]) if (!out.some((x) => JSON.stringify(x) === JSON.stringify(v))) out.push(v);
    return out;
  }
  if (isObject(base) && isObject(over)) return mergeMaps(base, over, path);
  return stripMarkers(over);
}

function mergeMaps(base: Json, over: Json, path: string): Json {
  const out: Json = { ...base };
  for (const [rawKey, v] of Object.entries(over)) {
    const replace = rawKey.endsWith(OVERRIDE);
    const k = replace ? rawKey.slice(0, -OVERRIDE.length) : rawKey;
    if (v === RESET) {
      delete out[k];
      continue;
    }
    const sub = path ? `${path}.${k}` : k;
    out[k] = replace || !(k in out) || out[k] === null || out[k] === undefined ? stripMarkers(v) : mergeValue(out[k], v, sub);
  }
  return out;
}

/** The files' top-level mappings merged in order; inside services.NAME the key paths above apply. */
export function mergeComposeFiles(files: Json[]): Json {
  let out: Json = stripMarkers(files[0]) as Json;
  for (const over of files.slice(1)) {
    const merged: Json = { ...out };
    for (const [rawKey, v] of Object.entries(over)) {
      const replace = rawKey.endsWith(OVERRIDE);
      const top = replace ? rawKey.slice(0, -OVERRIDE.length) : rawKey;
      if (v === RESET) {
        delete merged[top];
        continue;
      }
      if (top === 'services' && isObject(v) && isObject(merged.services) && !replace) {
        const services: Json = { ...merged.services };
        for (const [rawName, def] of Object.entries(v)) {
          const rep = rawName.endsWith(OVERRIDE);
          const name = rep ? rawName.slice(0, -OVERRIDE.length) : rawName;
          if (def === RESET) delete services[name];
          else services[name] = rep || !isObject(services[name]) || !isObject(def) ? stripMarkers(def) : mergeMaps(services[name] as Json, def, '');
        }
        merged.services = services;
      } else if (isObject(v) && isObject(merged[top]) && !replace) {
        // networks, volumes, secrets, configs, x-*: merged key by key, deeper values as a plain mapping merge
        merged[top] = mergeMaps(merged[top] as Json, v, `${top}:`);
      } else merged[top] = stripMarkers(v);
    }
    out = merged;
  }
  return out;
}

/**
 * `extends:` within the file resolved as compose resolves it: the service
 * named is merged under the one that extends it (by the rules above), in
 * chains. `extends: { file: ... }` names another file: `refuse` is called.
 */
export function resolveExtends(services: Json, refuse: (name: string, what: string) => never): Json {
  const done = new Map<string, Json>();
  const resolve = (name: string, seen: string[]): Json => {
    const known = done.get(name);
    if (known) return known;
    const def = services[name];
    if (!isObject(def)) return def as Json;
    const ext = def.extends;
    if (ext === undefined) return def;
    if (isObject(ext) && ext.file !== undefined) refuse(name, `extends a service of another file (${String(ext.file)}); write the service out in this file (docker compose config prints it merged), then import again`);
    const base = typeof ext === 'string' ? ext : isObject(ext) ? String(ext.service ?? '') : '';
    if (!(base in services)) refuse(name, `extends "${base}", which is no service of this file`);
    if (seen.includes(base)) refuse(name, `extends itself through ${[...seen, base].join(' -> ')}`);
    const { extends: _e, ...own } = def;
    const merged = mergeMaps(resolve(base, [...seen, base]), own, '');
    done.set(name, merged);
    return merged;
  };
  return Object.fromEntries(Object.keys(services).map((n) => [n, resolve(n, [n])]));
}
