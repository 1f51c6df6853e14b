// The Compose Specification as the floor of the stack file. A service key,
// network or volume option, or top-level `secrets:` / `configs:` entry that
// lifeops has no key of its own for, but that the Compose Specification
// allows, passes through to the rendered compose file unchanged. It is checked
// against the specification's own JSON Schema (compose-spec/compose-spec.json,
// vendored with its licence beside this file) by ajv, and every problem is
// reported at the stack file's line. lifeops' own keys (role, http, gunicorn,
// resources, replicas, ...) keep their typed form and win where both exist.
import { createRequire } from 'node:module';
import type { Ajv as AjvClass, ErrorObject, ValidateFunction } from 'ajv';
import spec from './compose-spec/compose-spec.json' with { type: 'json' };
import { networkSchema, serviceObjectSchema, volumeSchema } from './schema.js';
import { describeValue } from './suggest.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const definitions = (spec as unknown as { definitions: Record<string, { properties?: Json }> }).definitions;

/** Keys of the Compose Specification's service, network and volume definitions. */
export const COMPOSE_SERVICE_KEYS: readonly string[] = Object.keys(definitions.service.properties ?? {});
export const COMPOSE_NETWORK_KEYS: readonly string[] = Object.keys(definitions.network.properties ?? {});
export const COMPOSE_VOLUME_KEYS: readonly string[] = Object.keys(definitions.volume.properties ?? {});
/** Top-level compose keys that pass through as they are. */
export const COMPOSE_TOP_LEVEL_PASSTHROUGH = ['secrets', 'configs'] as const;

const LIFEOPS_SERVICE_KEYS = Object.keys(serviceObjectSchema.shape);
const LIFEOPS_NETWORK_KEYS = Object.keys(networkSchema.shape);
const LIFEOPS_VOLUME_KEYS = Object.keys(volumeSchema.shape);

/** Compose keys lifeops writes itself from its own keys: the stack names them its own way. */
export const COMPOSE_KEYS_OWNED: Record<string, string> = {
  scale: 'replicas: N (lifeops rolls web services by scaling them)',
  mem_limit: 'resources: { limits: { memory: 512M } }',
  cpus: 'resources: { limits: { cpus: 1.5 } }',
  mem_reservation: 'resources: { reservations: { memory: 256M } }',
};

/** Compose-only keys of one mapping (service, network or volume): those lifeops has no key of its own for. */
function passthroughKeys(kind: 'service' | 'network' | 'volume'): { lifeops: string[]; compose: readonly string[] } {
  if (kind === 'service') return { lifeops: LIFEOPS_SERVICE_KEYS, compose: COMPOSE_SERVICE_KEYS };
  if (kind === 'network') return { lifeops: LIFEOPS_NETWORK_KEYS, compose: COMPOSE_NETWORK_KEYS };
  return { lifeops: LIFEOPS_VOLUME_KEYS, compose: COMPOSE_VOLUME_KEYS };
}

/** Valid keys at a service/network/volume, for "did you mean": lifeops' first, then compose's. */
export function validKeysOf(kind: 'service' | 'network' | 'volume'): string[] {
  const { lifeops, compose } = passthroughKeys(kind);
  return [...new Set([...lifeops, ...compose])];
}

export interface ComposeExtras {
  services: Record<string, Json>;
  networks: Record<string, Json>;
  volumes: Record<string, Json>;
  top: Partial<Record<(typeof COMPOSE_TOP_LEVEL_PASSTHROUGH)[number], Json>>;
}

/**
 * Takes the compose-only keys out of a stack value (after interpolation,
 * before the typed schema sees it): the schema then checks lifeops' keys as
 * before and still calls anything in neither set an unknown key.
 */
export function splitComposeKeys(value: Json): { value: Json; extras: ComposeExtras } {
  const extras: ComposeExtras = { services: {}, networks: {}, volumes: {}, top: {} };
  const out: Json = { ...value };
  for (const [top, kind] of [['services', 'service'], ['networks', 'network'], ['volumes', 'volume']] as const) {
    if (!isObject(out[top])) continue;
    const { lifeops, compose } = passthroughKeys(kind);
    const mapped: Json = {};
    for (const [name, def] of Object.entries(out[top] as Json)) {
      if (!isObject(def)) {
        mapped[name] = def;
        continue;
      }
      const own: Json = {};
      const extra: Json = {};
      for (const [k, v] of Object.entries(def)) {
        if (!lifeops.includes(k) && compose.includes(k)) extra[k] = v;
        else own[k] = v;
      }
      mapped[name] = own;
      if (Object.keys(extra).length) extras[top][name] = extra;
    }
    out[top] = mapped;
  }
  for (const k of COMPOSE_TOP_LEVEL_PASSTHROUGH) {
    if (k in out) {
      extras.top[k] = out[k] as Json;
      delete out[k];
    }
  }
  return { value: out, extras };
}

// Loaded on first use: most stacks have no compose-only keys, and ajv's
// module (0.25 MB) would cost every run, `status` from cron among them.
const requireLazy = createRequire(import.meta.url);

let validator: ValidateFunction | undefined;
function composeValidator(): ValidateFunction {
  if (!validator) {
    const { Ajv } = requireLazy('ajv') as { Ajv: typeof AjvClass };
    // draft-07; `deprecated` and the like are annotations ajv's strict mode would refuse.
    const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, verbose: true });
    const { $schema: _drop, ...schema } = spec as Json;
    validator = ajv.compile(schema);
  }
  return validator;
}

export interface ComposeProblem {
  /** key path in the stack (and compose) file */
  path: (string | number)[];
  /** set for an unknown key: the key itself (path is its parent) */
  key?: string;
  text: string;
  /** for an unknown key: the keys valid there */
  valid?: string[];
}

function pointerPath(p: string): (string | number)[] {
  if (!p) return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function at(doc: unknown, p: (string | number)[]): unknown {
  let cur = doc;
  for (const k of p) cur = isObject(cur) || Array.isArray(cur) ? (cur as Record<string | number, unknown>)[k] : undefined;
  return cur;
}

const typeName: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false', null: 'null' };

/**
 * Problems of a compose document by the Compose Specification's JSON Schema,
 * one per place, worded for a person: the deepest failing path of each
 * branch, its expected types merged, unknown keys with their valid keys.
 */
export function composeSpecProblems(doc: Json): ComposeProblem[] {
  // Nothing of compose's own to check: no schema to compile (start-up of every command).
  if (Object.keys(doc).length === 0) return [];
  const validate = composeValidator();
  if (validate(doc)) return [];
  const errors = (validate.errors ?? []) as ErrorObject[];
  const byPath = new Map<string, ErrorObject[]>();
  for (const e of errors) {
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf' || e.keyword === 'if' || e.keyword === 'not') continue;
    const list = byPath.get(e.instancePath) ?? [];
    list.push(e);
    byPath.set(e.instancePath, list);
  }
  // A path whose errors are only "wrong type" while a deeper path under it
  // failed too: the value had the right shape for some branch, report deeper.
  const paths = [...byPath.keys()];
  const out: ComposeProblem[] = [];
  for (const p of paths) {
    const list = byPath.get(p)!;
    const deeper = paths.some((q) => q !== p && q.startsWith(p + '/'));
    const onlyTypes = list.every((e) => e.keyword === 'type');
    if (deeper && onlyTypes) continue;
    const keyPath = pointerPath(p);
    const found = at(doc, keyPath);
    const unknown = list.filter((e) => e.keyword === 'additionalProperties');
    if (unknown.length) {
      for (const e of unknown) {
        const key = String((e.params as { additionalProperty: string }).additionalProperty);
        const props = Object.keys(((e.parentSchema as { properties?: Json } | undefined)?.properties) ?? {});
        out.push({ path: keyPath, key, text: `unknown key${props.length ? `; valid keys: ${props.join(', ')}` : ''} (Compose Specification)`, valid: props });
      }
      continue;
    }
    const types = [...new Set(list.filter((e) => e.keyword === 'type').flatMap((e) => String((e.params as { type: string }).type).split(',')))];
    const enums = list.filter((e) => e.keyword === 'enum').flatMap((e) => (e.params as { allowedValues: unknown[] }).allowedValues);
    const others = list.filter((e) => e.keyword !== 'type' && e.keyword !== 'enum');
    let text: string;
    if (enums.length) text = `found ${describeValue(found)}; valid values: ${[...new Set(enums)].map((v) => JSON.stringify(v)).join(', ')}`;
    else if (others.length === 1 && others[0].keyword === 'pattern') text = `found ${describeValue(found)}; valid: a value matching ${String((others[0].params as { pattern: string }).pattern)}`;
    else if (others.length) text = `found ${describeValue(found)}; ${others.map((e) => e.message).filter((m, i, a) => a.indexOf(m) === i).join('; ')}`;
    else text = `found ${describeValue(found)}; valid: ${types.map((t) => typeName[t] ?? t).join(' or ')}`;
    out.push({ path: keyPath, text: `${text} (Compose Specification)` });
  }
  return out;
}

/** The compose-only parts of a stack as a compose document, with the stack's own network and volume options beside them. */
export function composeSpecDocument(extras: ComposeExtras, value: Json): Json {
  const doc: Json = {};
  if (Object.keys(extras.services).length) doc.services = extras.services;
  for (const top of ['networks', 'volumes'] as const) {
    // lifeops' own options are checked by its schema; a network or volume is sent only with compose-only options
    const own = isObject(value[top]) ? (value[top] as Json) : {};
    const names = new Set(Object.keys(extras[top]));
    if (!names.size) continue;
    doc[top] = Object.fromEntries([...names].map((n) => [n, { ...(isObject(own[n]) ? own[n] : {}), ...(extras[top][n] ?? {}) }]));
  }
  for (const [k, v] of Object.entries(extras.top)) doc[k] = v;
  return doc;
}

/**
 * Compose keys that would fight lifeops' own: the stack says them its own way
 * (replicas, resources), or they break what lifeops does (a fixed
 * container_name cannot run beside its next version in a rolling deploy).
 */
export function ownedKeyProblems(extras: ComposeExtras, services: Record<string, { role: string; networks?: string[] }>): ComposeProblem[] {
  const out: ComposeProblem[] = [];
  for (const [name, extra] of Object.entries(extras.services)) {
    const svc = services[name];
    for (const [k, instead] of Object.entries(COMPOSE_KEYS_OWNED)) {
      if (k in extra) out.push({ path: ['services', name], key: k, text: `lifeops writes this compose key from its own; valid: ${instead}` });
    }
    const deploy = extra.deploy;
    if (isObject(deploy)) {
      if ('replicas' in deploy) out.push({ path: ['services', name, 'deploy'], key: 'replicas', text: 'lifeops writes deploy.replicas from its own key; valid: replicas: N on the service' });
      if ('resources' in deploy) out.push({ path: ['services', name, 'deploy'], key: 'resources', text: 'lifeops writes deploy.resources from its own key; valid: resources: { limits: { memory: 512M, cpus: 1 } } on the service' });
    }
    if ('container_name' in extra && svc && (svc.role === 'web' || svc.role === 'front')) {
      out.push({ path: ['services', name], key: 'container_name', text: `a ${svc.role} service is rolled with a second container beside the first, which a fixed container_name forbids; valid: leave it out (find containers by the compose labels)` });
    }
    if ('network_mode' in extra && svc?.networks) {
      out.push({ path: ['services', name], key: 'network_mode', text: 'compose refuses network_mode together with networks:; valid: one of the two' });
    }
  }
  return out;
}
