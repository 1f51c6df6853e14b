// Adoption (moving in from plain compose): the rendered compose file as a
// plain compose user would have written the same containers, i.e. without
// what lifeops adds that changes nothing a request sees: its own labels, its
// default log rotation, the init process it gives Postgres, and healthcheck
// timings spelled out at Docker's own defaults, `restart: "no"` spelled out.
// Compose's per-service hash of this variant equals the hash on a container
// that plain compose started from the same configuration, so the first
// deploy can tell "same containers, only lifeops' additions missing" (keep
// them) from "configuration changed" (recreate). Pure.
import { Document, parseDocument } from 'yaml';
import type { Service } from '../config/schema.js';

type Services = { services: Record<string, Service> };

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Docker's healthcheck defaults: a compose file that leaves them out gets these. */
const DOCKER_HEALTH_DEFAULTS: Json = { interval: '30s', timeout: '30s', retries: 3, start_period: '0s' };

/** One rendered service as plain compose would have it (a copy). */
export function plainService(stack: Services, name: string, rendered: Json): Json {
  const out: Json = { ...rendered };
  const svc = stack.services[name];
  if (isObject(out.labels)) {
    const labels = Object.fromEntries(Object.entries(out.labels).filter(([k]) => !k.startsWith('lifeops.')));
    if (Object.keys(labels).length) out.labels = labels;
    else delete out.labels;
  }
  if (!svc) return out;
  if (svc.logging === undefined) delete out.logging;
  if (svc.role === 'postgres' && svc.compose?.init === undefined) delete out.init;
  if (out.restart === 'no') delete out.restart;
  if (isObject(out.healthcheck)) {
    const hc = { ...out.healthcheck };
    for (const [k, v] of Object.entries(DOCKER_HEALTH_DEFAULTS)) if (hc[k] === v) delete hc[k];
    out.healthcheck = hc;
  }
  return out;
}

/** A rendered compose file's text, every service as plain compose would have it. */
export function plainComposeText(stack: Services, content: string): string {
  // the renderer writes YAML 1.1 (quoted yes/on/0755); read and write it the same way
  const doc = parseDocument(content, { version: '1.1' });
  const js = doc.toJS() as Json;
  if (!isObject(js) || !isObject(js.services)) return content;
  const services = Object.fromEntries(Object.entries(js.services).map(([n, s]) => [n, isObject(s) ? plainService(stack, n, s) : s]));
  return new Document({ ...js, services }, { version: '1.1' }).toString({ lineWidth: 0 });
}
