// What the two fronts (nginx and traefik) decide alike about a domain: the
// port it proxies to and whether it is served over TLS.
import type { Stack, Front } from '../config/schema.js';
import { ConfigError } from '../errors.js';

type Domain = Front['domains'][number];

/** The port a domain proxies to: domain.upstream_port, else the service's http.port, else 8000. */
export function upstreamPort(stack: Stack, d: Domain): number {
  if (d.upstream_port !== undefined) return d.upstream_port;
  const svc = stack.services[d.upstream];
  if (!svc) {
    // The loader lets a domain route to a service the monitoring override adds
    // (grafana, say); its port is not in stack.services, so it must be given.
    const i = stack.front?.domains.indexOf(d) ?? -1;
    throw ConfigError.at(
      ['front', 'domains', i, 'upstream'],
      `${d.name} proxies to "${d.upstream}", which is not a service of the stack, so its port is unknown; valid: one of ${Object.keys(stack.services).join(', ')}, or set front.domains.${i}.upstream_port`,
      `add upstream_port: PORT to the ${d.name} domain`,
    );
  }
  return svc.http?.port ?? 8000;
}

/** The port a path location proxies to: its upstream_port, else the service's http.port, else 8000. */
export function locationPort(stack: Stack, domainIndex: number, locationIndex: number): number {
  const l = stack.front!.domains[domainIndex].locations[locationIndex];
  if (l.upstream_port !== undefined) return l.upstream_port;
  const svc = stack.services[l.upstream];
  if (!svc) {
    const keyPath = ['front', 'domains', domainIndex, 'locations', locationIndex, 'upstream'];
    throw ConfigError.at(keyPath, `"${l.upstream}" is not a service of the stack, so its port is unknown; valid: one of ${Object.keys(stack.services).join(', ')}, or set upstream_port`, 'add upstream_port: PORT to the location');
  }
  return svc.http?.port ?? 8000;
}

/** The Docker name of a network of the stack (what `docker network ls` shows). */
export function dockerNetworkName(stack: Stack, net: string): string {
  const def = stack.networks[net];
  if (def?.name) return def.name;
  return def?.external ? net : `${stack.project}_${net}`;
}

export function domainTls(front: Front, d: Domain): boolean {
  return d.tls ?? front.tls.enabled;
}

/** Where the nginx front serves the HTTP-01 challenge path from. */
export const ACME_WEBROOT = '/var/www/certbot';
/** Where the nginx front finds the certificates lifeops obtained itself (front.tls.acme): acme/<env>/live of the state dir, read-only. */
export const ACME_CERTS = '/etc/lifeops/certs';
