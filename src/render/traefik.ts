// Traefik front: traefik/traefik.yml (static config) plus router labels that
// compose.ts adds to the upstream services. The basic-auth users come from a
// variable reference, never a literal secret.
import type { Stack } from '../config/schema.js';
import type { RenderedFile, RenderContext } from './types.js';
import { renderTemplate } from './templates.js';
import { ConfigError } from '../errors.js';
import { renderedHeader } from './header.js';
import { upstreamPort, locationPort, domainTls, dockerNetworkName } from './front.js';

export const TRAEFIK_CONF = '/etc/traefik/traefik.yml';
export const TRAEFIK_ACME = '/letsencrypt/acme.json';
export const CERT_RESOLVER = 'letsencrypt';
/** The variable holding the htpasswd line(s) for basic-auth domains. */
export const BASIC_AUTH_VAR = 'TRAEFIK_BASIC_AUTH_USERS';

const EMAIL = /^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/;

export function traefikNetwork(stack: Stack): string {
  return `${stack.project}_default`;
}

/** The network Traefik reaches an upstream on: default, unless the upstream names its own networks. */
function upstreamNetwork(stack: Stack, upstream: string): string {
  const nets = stack.services[upstream]?.networks;
  if (!nets || nets.includes('default')) return traefikNetwork(stack);
  return dockerNetworkName(stack, nets[0]);
}

export function routerName(stack: Stack, domain: string): string {
  return `${stack.name}-${domain.replace(/^\*\./, 'wildcard.').replace(/[^a-z0-9]+/gi, '-')}`.toLowerCase();
}

/** Labels for each upstream service: service name -> label map (sorted keys). */
export function traefikLabels(stack: Stack): Record<string, Record<string, string>> {
  const front = stack.front;
  const out: Record<string, Record<string, string>> = {};
  if (!front || front.kind !== 'traefik') return out;
  // One router per domain, and one per path location on it (Traefik ranks a
  // longer rule first, so `Host && PathPrefix` wins over the plain `Host`).
  const routes = front.domains.flatMap((d, i) => {
    const hosts = [d.name, ...d.aliases].map((h) => `Host(\`${h}\`)`).join(' || ');
    return [
      { d, r: routerName(stack, d.name), upstream: d.upstream, port: upstreamPort(stack, d), rule: hosts },
      ...d.locations.map((l, j) => ({
        d,
        r: `${routerName(stack, d.name)}-${l.path.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase() || 'root'}`,
        upstream: l.upstream,
        port: locationPort(stack, i, j),
        rule: `(${hosts}) && PathPrefix(\`${l.path}\`)`,
      })),
    ];
  });
  for (const { d, r, upstream, port, rule } of routes) {
    const tls = domainTls(front, d);
    const labels = (out[upstream] ??= { 'traefik.enable': 'true', 'traefik.docker.network': upstreamNetwork(stack, upstream) });
    labels[`traefik.http.routers.${r}.rule`] = rule;
    labels[`traefik.http.routers.${r}.entrypoints`] = tls ? 'websecure' : 'web';
    if (tls) labels[`traefik.http.routers.${r}.tls.certresolver`] = CERT_RESOLVER;
    labels[`traefik.http.routers.${r}.service`] = r;
    labels[`traefik.http.services.${r}.loadbalancer.server.port`] = String(port);
    const middlewares: string[] = [`${stack.name}-headers`];
    labels[`traefik.http.middlewares.${stack.name}-headers.headers.frameDeny`] = String(front.security_headers.frame_options === 'DENY');
    labels[`traefik.http.middlewares.${stack.name}-headers.headers.contentTypeNosniff`] = 'true';
    labels[`traefik.http.middlewares.${stack.name}-headers.headers.referrerPolicy`] = 'strict-origin-when-cross-origin';
    if (tls && front.security_headers.hsts) labels[`traefik.http.middlewares.${stack.name}-headers.headers.stsSeconds`] = '31536000';
    if (d.basic_auth) {
      middlewares.push(`${r}-auth`);
      labels[`traefik.http.middlewares.${r}-auth.basicauth.users`] = '${' + BASIC_AUTH_VAR + '}';
    }
    const rl = front.rate_limits.general;
    if (rl) {
      const m = /^(\d+)r\/([sm])$/.exec(rl.rate)!;
      middlewares.push(`${stack.name}-ratelimit`);
      labels[`traefik.http.middlewares.${stack.name}-ratelimit.ratelimit.average`] = m[1];
      labels[`traefik.http.middlewares.${stack.name}-ratelimit.ratelimit.period`] = m[2] === 's' ? '1s' : '1m';
      labels[`traefik.http.middlewares.${stack.name}-ratelimit.ratelimit.burst`] = String(rl.burst);
    }
    labels[`traefik.http.routers.${r}.middlewares`] = middlewares.join(',');
  }
  for (const k of Object.keys(out)) out[k] = Object.fromEntries(Object.entries(out[k]).sort(([a], [b]) => a.localeCompare(b)));
  return out;
}

export function renderTraefik(stack: Stack, _ctx?: RenderContext): RenderedFile[] {
  const front = stack.front;
  if (!front || front.kind !== 'traefik') return [];
  const anyTls = front.domains.some((d) => domainTls(front, d));
  let certresolver = '';
  if (anyTls) {
    // front.tls.acme names the CA (any RFC 8555 directory) and the contact; Traefik's own ACME client then obtains and renews
    const acme = front.tls.acme;
    const email = acme?.email ?? front.tls.letsencrypt_email;
    if (acme?.ca_bundle) {
      throw ConfigError.at(['front', 'tls', 'acme', 'ca_bundle'], 'the traefik front talks to the CA with its own client, which lifeops does not hand a CA bundle; valid: no ca_bundle with front.kind traefik (a public CA needs none), or front.kind nginx', 'remove front.tls.acme.ca_bundle, or use the nginx front');
    }
    if (!email || !EMAIL.test(email)) {
      throw ConfigError.at(
        ['front', 'tls', 'letsencrypt_email'],
        `Let's Encrypt needs a valid e-mail address when TLS is on (found ${email ? JSON.stringify(email) : 'nothing'}); valid: an e-mail address such as "ops@example.com"`,
        'set front.tls.letsencrypt_email, or turn TLS off for every domain',
      );
    }
    certresolver = [
      'certificatesResolvers:',
      `  ${CERT_RESOLVER}:`,
      '    acme:',
      `      email: "${email}"`,
      `      storage: "${TRAEFIK_ACME}"`,
      ...(acme ? [`      caServer: "${acme.directory}"`] : []),
      '      httpChallenge:',
      '        entryPoint: web',
    ].join('\n');
  }
  const webRedirect = anyTls
    ? ['    http:', '      redirections:', '        entryPoint:', '          to: websecure', '          scheme: https', ''].join('\n')
    : '';
  const content = renderTemplate(stack, 'traefik/traefik.yml', 'traefik/traefik.yml', {
    header: renderedHeader(stack),
    web_port: front.listen_port,
    web_redirect: webRedirect,
    network: traefikNetwork(stack),
    stack: stack.name,
    certresolver,
  });
  return [{ path: 'traefik/traefik.yml', content }];
}
