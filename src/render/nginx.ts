// nginx front: nginx/nginx.conf (main) and nginx/conf.d/<domain>.conf per domain.
// Pure: every value was validated by the schema (hostname, safeToken, urlPath,
// size and rate regexes), so none can close a directive or open a block.
import type { Stack, Front } from '../config/schema.js';
import type { RenderedFile, RenderContext } from './types.js';
import { renderTemplate } from './templates.js';
import { ConfigError } from '../errors.js';
import { renderedHeader } from './header.js';
import { upstreamPort, locationPort, domainTls, ACME_CERTS, ACME_WEBROOT } from './front.js';
import { maintenanceServerLines } from './maintenance.js';

type Domain = Front['domains'][number];

export const NGINX_HTPASSWD = '/etc/nginx/htpasswd';

/**
 * Whether a domain is served over HTTPS. With front.tls.acme, only once its
 * certificate is installed: until then it stays on HTTP, which also answers
 * the CA's HTTP-01 challenge.
 */
export function servesTls(front: Front, d: Domain, certified: readonly string[] | undefined): boolean {
  return domainTls(front, d) && (!front.tls.acme || Boolean(certified?.includes(d.name)));
}

const challengeLocation = [`location /.well-known/acme-challenge/ {`, `    root ${ACME_WEBROOT};`, '}'];

const lines = (xs: string[], spaces = 4) => xs.map((l) => (l ? ' '.repeat(spaces) + l : l)).join('\n');

function mainConf(stack: Stack, front: Front): string {
  const gzip = front.gzip
    ? lines([
        'gzip on;',
        'gzip_vary on;',
        'gzip_proxied any;',
        'gzip_comp_level 5;',
        'gzip_min_length 1024;',
        'gzip_types text/plain text/css text/xml application/json application/javascript application/xml application/rss+xml image/svg+xml;',
      ])
    : lines(['gzip off;']);
  const zones: string[] = [];
  for (const kind of ['general', 'api'] as const) {
    const rl = front.rate_limits[kind];
    if (rl) zones.push(`limit_req_zone $binary_remote_addr zone=${kind}:${rl.zone_size} rate=${rl.rate};`);
  }
  if (zones.length) zones.push('limit_req_status 429;', 'limit_conn_status 429;');
  // nginx has no escape for `$` inside a string: a header value that needs a
  // literal one reads it from this variable (geo values are never expanded).
  if (front.security_headers.content_security_policy.includes('$')) zones.push(`geo $${NGINX_DOLLAR_VAR} { default "$"; }`);
  return renderTemplate(stack, 'nginx/nginx.conf', 'nginx/nginx.conf', {
    header: renderedHeader(stack),
    client_max_body_size: front.client_max_body_size,
    client_body_buffer_size: front.client_body_buffer_size,
    proxy_buffers: front.proxy_buffers,
    gzip,
    rate_limit_zones: zones.length ? lines(zones) + '\n' : '',
  });
}

/** The variable that holds a literal `$` (see mainConf). */
export const NGINX_DOLLAR_VAR = 'lifeops_dollar';

/**
 * A value for a double-quoted nginx string that nginx sends back byte for
 * byte: `\\` and `"` are escaped, and each `$` (which nginx would read as a
 * variable) becomes the geo variable holding a literal `$`.
 */
export function nginxLiteral(value: string): string {
  return value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\$/g, () => `\${${NGINX_DOLLAR_VAR}}`);
}

/**
 * Set on every answer the front proxied from an upstream (nginx leaves out a
 * header whose value is empty, and $upstream_status is empty for what the
 * front answers itself): the smoke test and `status` require it, so a
 * placeholder, a default server or the front's own page cannot pass for the app.
 */
export const UPSTREAM_MARKER_HEADER = 'X-Lifeops-Upstream-Status';

function securityHeaders(front: Front, tls: boolean): string[] {
  const h = front.security_headers;
  const out: string[] = [`add_header ${UPSTREAM_MARKER_HEADER} $upstream_status always;`];
  if (tls && h.hsts) out.push('add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;');
  out.push(
    `add_header X-Frame-Options ${h.frame_options} always;`,
    'add_header X-Content-Type-Options nosniff always;',
    'add_header Referrer-Policy strict-origin-when-cross-origin always;',
    `add_header Content-Security-Policy "${nginxLiteral(h.content_security_policy)}" always;`,
  );
  return out;
}

/**
 * How long the front keeps an upstream name's resolved addresses (nginx
 * `resolver ... valid=`). Swarm takes a departing task out of DNS 2 s before it
 * sends the stop signal (Docker's gossip convergence delay): the front must
 * forget the address within that time, or it sends requests to a task that
 * refuses them (502) or is gone (a connect timeout: 504); each is retried on
 * the next address, and the client gets the 504 when every address the front
 * holds is gone. Measured on the two-node test bed, rolling web under load:
 * with 5s every roll had such requests, with 1s none. Compose takes a
 * container out of DNS only when it has stopped, so a shorter validity there
 * shortens the time the front tries a vanished address after that (the retry
 * on the new container covers it).
 */
export const FRONT_RESOLVER_VALID = '1s';

const PROXY_BASE = [
  'proxy_http_version 1.1;',
  'proxy_set_header Host $host;',
  'proxy_set_header X-Real-IP $remote_addr;',
  'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
  'proxy_set_header X-Forwarded-Proto $scheme;',
  'proxy_set_header X-Request-ID $request_id;',
  'proxy_set_header Upgrade $http_upgrade;',
  'proxy_set_header Connection $connection_upgrade;',
  // a container on the same host or overlay accepts within milliseconds: a
  // second without an answer means the address is gone, so try the next one
  'proxy_connect_timeout 1s;',
];

/** Proxy directives for one location: read/send timeouts (default 60s), and for websockets no buffering. */
function proxyLines(timeout = '60s', websocket = false): string[] {
  return [
    ...PROXY_BASE,
    `proxy_send_timeout ${timeout};`,
    `proxy_read_timeout ${timeout};`,
    ...(websocket ? ['proxy_buffering off;'] : []),
    // only idempotent requests are retried (nginx never resends a POST unless told to)
    'proxy_next_upstream error timeout http_502 http_503 http_504;',
    'proxy_next_upstream_tries 3;',
    'proxy_next_upstream_timeout 10s;',
  ];
}

/** Websocket locations keep a quiet connection open for an hour unless told otherwise. */
export const WEBSOCKET_TIMEOUT = '3600s';

const slash = (p: string) => (p.endsWith('/') ? p : p + '/');

function siteConf(stack: Stack, front: Front, d: Domain, isDefault: boolean, domainIndex: number, certified: readonly string[] | undefined): string {
  const tls = servesTls(front, d, certified);
  const awaitingCert = domainTls(front, d) && !tls;
  const certsDir = front.tls.acme ? ACME_CERTS : front.tls.certs_dir;
  const port = upstreamPort(stack, d);
  const names = [d.name, ...d.aliases].join(' ');
  const def = isDefault ? ' default_server' : '';
  // /health is answered by nginx itself unless the domain leaves it to the app (health: upstream).
  const health = d.health === 'front' ? ['location = /health {', '    access_log off;', '    default_type text/plain;', '    return 200 "ok\\n";', '}'] : [];
  const proxy = proxyLines(d.proxy_timeout);
  let redirect = '';
  if (tls) {
    redirect =
      [
        'server {',
        lines([`listen ${front.listen_port}${def};`, `server_name ${names};`, '']),
        // maintenance answers plain HTTP too (rather than a redirect to the 503); certificate renewals still pass
        lines(maintenanceServerLines(stack, d, securityHeaders(front, false), ['/.well-known/acme-challenge/'])),
        lines([...challengeLocation, ...health, 'location / {', '    return 301 https://$host$request_uri;', '}']),
        '}',
      ].join('\n') + '\n\n';
  }
  const listen = tls
    ? lines([`listen 443 ssl http2${def};`])
    : lines([`listen ${front.listen_port}${def};`]);
  const tlsBlock = tls
    ? '\n' +
      lines([
        `ssl_certificate ${certsDir}/${d.name}/fullchain.pem;`,
        `ssl_certificate_key ${certsDir}/${d.name}/privkey.pem;`,
        'ssl_protocols TLSv1.2 TLSv1.3;',
        'ssl_prefer_server_ciphers off;',
        'ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;',
        'ssl_session_cache shared:SSL:10m;',
        'ssl_session_timeout 1d;',
        'ssl_session_tickets off;',
      ]) +
      '\n'
    : '';
  const headers = securityHeaders(front, tls);
  let staticLoc = '';
  if (d.static) {
    staticLoc =
      '\n' +
      lines([
        `location ${slash(d.static.location)} {`,
        `    alias ${slash(d.static.root)};`,
        `    expires ${d.static.expires};`,
        '    add_header Cache-Control "public";',
        ...headers.map((h) => '    ' + h),
        '    access_log off;',
        '}',
      ]) +
      '\n';
  }
  const auth = d.basic_auth ? lines(['auth_basic "Restricted";', `auth_basic_user_file ${NGINX_HTPASSWD};`], 8) + '\n' : '';
  const limit = (kind: 'general' | 'api') => {
    const rl = front.rate_limits[kind] ?? (kind === 'api' ? front.rate_limits.general : undefined);
    const zone = front.rate_limits[kind] ? kind : 'general';
    return rl ? lines([`limit_req zone=${zone} burst=${rl.burst} nodelay;`], 8) + '\n' : '';
  };
  let api = '';
  if (d.api_prefix) {
    api =
      '\n' +
      lines([`location ${d.api_prefix} {`]) +
      '\n' +
      limit('api') +
      auth +
      lines([`set $upstream http://${d.upstream}:${port};`, 'proxy_pass $upstream;', ...proxy], 8) +
      '\n' +
      lines(['}']) +
      '\n';
  }
  // Further upstreams on this domain by path prefix (a streaming server beside the app, say).
  const paths = d.locations
    .map((l, j) => {
      const timeout = l.proxy_timeout ?? (l.websocket ? WEBSOCKET_TIMEOUT : d.proxy_timeout);
      const target = `http://${l.upstream}:${locationPort(stack, domainIndex, j)}`;
      return (
        '\n' +
        lines([`location ${l.path} {`]) +
        '\n' +
        limit('general') +
        auth +
        lines([`set $upstream ${target};`, 'proxy_pass $upstream;', ...proxyLines(timeout, l.websocket)], 8) +
        '\n' +
        lines(['}']) +
        '\n'
      );
    })
    .join('');
  return renderTemplate(stack, `nginx/conf.d/${d.name}.conf`, 'nginx/site.conf', {
    header: renderedHeader(stack),
    domain: d.name,
    redirect_server: redirect,
    listen,
    server_names: names,
    resolver: front.resolver,
    resolver_valid: FRONT_RESOLVER_VALID,
    tls: tlsBlock,
    security_headers: lines(headers),
    static_location: staticLoc,
    api_location: api,
    path_locations: paths,
    maintenance: '\n' + lines(maintenanceServerLines(stack, d, headers)) + '\n',
    // a domain waiting for its first certificate: HTTP only, with the challenge path
    health_location: awaitingCert || health.length ? lines([...(awaitingCert ? challengeLocation : []), ...health]) + '\n' : '',
    general_limit: limit('general'),
    auth,
    upstream: d.upstream,
    upstream_port: port,
    proxy: lines(proxy, 8),
  });
}

export function renderNginx(stack: Stack, ctx?: RenderContext): RenderedFile[] {
  const front = stack.front;
  if (!front || front.kind !== 'nginx') return [];
  const files: RenderedFile[] = [{ path: 'nginx/nginx.conf', content: mainConf(stack, front) }];
  const seen = new Map<string, number>();
  front.domains.forEach((d, i) => {
    const first = seen.get(d.name);
    if (first !== undefined) {
      throw ConfigError.at(['front', 'domains', i, 'name'], `${d.name} is listed twice (also front.domains.${first}.name); valid: a name no other domain has (add a second name to aliases)`);
    }
    seen.set(d.name, i);
    files.push({ path: `nginx/conf.d/${d.name}.conf`, content: siteConf(stack, front, d, i === 0, i, ctx?.certified) });
  });
  return files;
}
