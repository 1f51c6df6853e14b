// What the two fronts (nginx and traefik) decide alike about a domain: the
// port it proxies to and whether it is served over TLS.
import type { Stack, Front } from '../config/schema.js';

type Domain = Front['domains'][number];

/** The port a domain proxies to: domain.upstream_port, else the service's http.port, else 8000. */
export function upstreamPort(stack: Stack, d: Domain): number {
  if (d.upstream_port !== undefined) return d.upstream_port;
  const svc = stack.services[d.upstream];
  if (!svc) throw new Error(`front.domains: ${d.name} proxies to "${d.upstream}", which is not a service (services: ${Object.keys(stack.services).join(', ')})`);
  return svc.http?.port ?? 8000;
}

export function domainTls(front: Front, d: Domain): boolean {
  return d.tls ?? front.tls.enabled;
}
