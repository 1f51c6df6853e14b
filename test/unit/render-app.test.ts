// Renderer catalogue: nginx, traefik, gunicorn, postgres, pgbouncer, redis,
// logging.conf, .env.example, Makefile. Pure unit tests: stacks are loaded with
// the real loader and the rendered text is asserted; the real validators run in
// test/engine/validators-in-containers.test.ts.
import { describe, it, expect, beforeAll } from 'vitest';
import path from 'node:path';
import { parse } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import { frontSchema, domainSchema } from '../../src/config/schema.js';
import type { Stack } from '../../src/config/schema.js';
import { renderAll, type RenderedFile } from '../../src/render/index.js';
import { renderNginx } from '../../src/render/nginx.js';
import { renderTraefik } from '../../src/render/traefik.js';
import { renderGunicorn } from '../../src/render/gunicorn.js';
import { renderDatastores, pgValue } from '../../src/render/datastores.js';
import { renderExtras } from '../../src/render/extras.js';
import { fill } from '../../src/render/templates.js';
import { renderCompose } from '../../src/render/compose.js';

const ROOT = path.resolve(__dirname, '../..');
const DEMO = path.join(ROOT, 'stacks', 'demo.yaml');
import { FULL_STACK, ENV, PG_PASSWORD, writeStack } from '../fixtures/app-stack.js';

const byPath = (files: RenderedFile[]) => Object.fromEntries(files.map((f) => [f.path, f]));

describe('demo stack', () => {
  let stack: Stack;
  let files: Record<string, RenderedFile>;
  const renderDir = '/tmp/lifeops-render-demo';
  beforeAll(() => {
    stack = loadStack({ file: DEMO, env: 'local', processEnv: {} });
    files = byPath(renderAll(stack, { renderDir }));
  });

  it('renders nginx.conf and a site per domain, proxying to web:8000 through the resolver', () => {
    const main = files['nginx/nginx.conf'].content;
    expect(main).toContain('limit_req_zone $binary_remote_addr zone=general:10m rate=200r/s;');
    expect(main).not.toContain('zone=api');
    expect(main).toContain('client_max_body_size 10m;');
    expect(main).toContain('gzip on;');
    expect(main).toContain('log_format json escape=json');
    expect(main).toContain('include conf.d/*.conf;');
    const site = files['nginx/conf.d/localhost.conf'].content;
    expect(site).toContain('listen 80 default_server;');
    expect(site).toContain('resolver 127.0.0.11 valid=1s');
    expect(site).toContain('set $upstream http://web:8000;\n        proxy_pass $upstream;');
    expect(site).toContain('proxy_next_upstream error timeout http_502 http_503 http_504;');
    expect(site).toContain('proxy_connect_timeout 1s;');
    expect(site).toMatch(/location = \/health \{[^}]*return 200/);
    expect(site).toContain('limit_req zone=general burst=100 nodelay;');
    expect(site).toContain('add_header X-Content-Type-Options nosniff always;');
    expect(site).not.toContain('Strict-Transport-Security'); // no TLS, no HSTS
    expect(site).not.toContain('ssl_certificate');
    expect(site).not.toContain('auth_basic');
  });

  it('mounts the rendered files in compose and drops the hand-written front config', () => {
    const compose = parse(files['docker-compose.yml'].content);
    expect(compose.services.front.volumes).toEqual(['./nginx:/etc/nginx/lifeops:ro']);
    expect(compose.services.front.command).toEqual(['nginx', '-g', 'daemon off;', '-c', '/etc/nginx/lifeops/nginx.conf']);
    expect(compose.services.front.healthcheck.test[1]).toBe('curl -fsS http://127.0.0.1/health');
    expect(compose.services.db.command).toEqual(['postgres', '-c', 'config_file=/etc/postgresql/postgresql.conf']);
    expect(compose.services.db.volumes).toContain('./postgres/postgresql.conf:/etc/postgresql/postgresql.conf:ro');
    expect(compose.services.cache.command).toEqual(['redis-server', '/usr/local/etc/redis/redis.conf']);
    expect(compose.services.web.command).toEqual(['gunicorn', '-c', '/etc/gunicorn/gunicorn.conf.py', 'app:application']);
    expect(compose.services.web.volumes).toEqual(['./gunicorn/web.conf.py:/etc/gunicorn/gunicorn.conf.py:ro', './logging.conf:/etc/gunicorn/logging.conf:ro']);
    expect(compose.services.worker.volumes).toBeUndefined();
  });

  it('renders the gunicorn config, postgresql.conf, redis.conf, logging.conf, .env.example and Makefile', () => {
    expect(Object.keys(files).sort()).toEqual(
      expect.arrayContaining(['.env.example', 'Makefile', 'gunicorn/web.conf.py', 'logging.conf', 'postgres/postgresql.conf', 'redis/redis.conf']),
    );
    expect(files['gunicorn/web.conf.py'].content).toContain('workers = 2\n');
    expect(files['postgres/postgresql.conf'].content).toContain("listen_addresses = '*'");
    expect(files['postgres/postgresql.conf'].content).toContain("shared_buffers = '128MB'   # default");
    const env = files['.env.example'].content;
    expect(env).toContain('POSTGRES_PASSWORD=change-me');
    expect(env).toContain('DEMO_HTTP_PORT=8080');
    expect(env).not.toContain('demo-local-password-not-secret');
    expect(files['Makefile'].content).toContain('STACK ?= ../../work/main/stacks/demo.yaml'.replace('../../work/main', path.relative(renderDir, ROOT)));
  });

  it('renders byte-identical output twice', () => {
    const again = renderAll(loadStack({ file: DEMO, env: 'local', processEnv: {} }), { renderDir });
    expect(again.map((f) => [f.path, f.content, f.mode])).toEqual(Object.values(files).map((f) => [f.path, f.content, f.mode]));
  });
});

describe('full stack (TLS, basic auth, api, static, pgbouncer, tuning)', () => {
  let stack: Stack;
  let files: Record<string, RenderedFile>;
  beforeAll(() => {
    stack = loadStack({ file: writeStack(FULL_STACK), processEnv: ENV });
    files = byPath(renderAll(stack, { renderDir: path.join(stack.baseDir, 'render') }));
  });

  it('nginx: TLS 1.2/1.3 with Let\'s Encrypt paths, HSTS, HTTP->HTTPS redirect and ACME over HTTP', () => {
    const site = files['nginx/conf.d/shop.example.com.conf'].content;
    expect(site).toContain('server_name shop.example.com www.shop.example.com;');
    expect(site).toContain('listen 443 ssl http2 default_server;');
    expect(site).toContain('ssl_certificate /etc/letsencrypt/live/shop.example.com/fullchain.pem;');
    expect(site).toContain('ssl_certificate_key /etc/letsencrypt/live/shop.example.com/privkey.pem;');
    expect(site).toContain('ssl_protocols TLSv1.2 TLSv1.3;');
    expect(site).toContain('Strict-Transport-Security "max-age=31536000; includeSubDomains" always;');
    expect(site).toContain('return 301 https://$host$request_uri;');
    expect(site).toContain('location /.well-known/acme-challenge/ {');
    expect(site).toContain('set $upstream http://web:8001;'); // the service's http.port
    expect(site).toMatch(/location \/api\/ \{\n\s+limit_req zone=api burst=100 nodelay;/);
    expect(site).toMatch(/location \/static\/ \{\n\s+alias \/app\/staticfiles\/;\n\s+expires 7d;\n\s+add_header Cache-Control "public";/);
    expect(files['nginx/nginx.conf'].content).toContain('limit_req_zone $binary_remote_addr zone=api:20m rate=500r/s;');
    expect(files['nginx/nginx.conf'].content).toContain('client_max_body_size 20m;');
    expect(files['nginx/conf.d/api.shop.example.com.conf'].content).toContain('set $upstream http://api:8000;'); // fallback 8000
  });

  it('nginx: basic auth, upstream_port, no HSTS on a plain-HTTP domain', () => {
    const site = files['nginx/conf.d/grafana.shop.example.com.conf'].content;
    expect(site).toContain('auth_basic_user_file /etc/nginx/htpasswd;');
    expect(site).toContain('set $upstream http://grafana:3000;');
    expect(site).toContain('listen 80;');
    expect(site).not.toContain('Strict-Transport-Security');
    expect(site).not.toContain('ssl_certificate');
    const compose = parse(files['docker-compose.yml'].content);
    expect(compose.services.front.volumes).toContain('${NGINX_AUTH_FILE:-./htpasswd}:/etc/nginx/htpasswd:ro');
    expect(compose.services.front.volumes).toContain('/var/www/certbot:/var/www/certbot:ro');
  });

  it('gunicorn: auto workers evaluated at runtime, statsd, JSON access log, hooks', () => {
    const conf = files['gunicorn/web.conf.py'].content;
    expect(conf).toContain('workers = multiprocessing.cpu_count() * 2 + 1\n');
    expect(conf).toContain('threads = 4\n');
    expect(conf).toContain('worker_class = "gthread"\n');
    expect(conf).toContain('timeout = 60\n');
    expect(conf).toContain('max_requests = 10000\n');
    expect(conf).toContain('statsd_host = "statsd:9125"\nstatsd_prefix = "shop"');
    expect(conf).toContain('access_log_format = "{\\"time\\"');
    for (const hook of ['on_starting', 'when_ready', 'worker_exit', 'on_exit']) expect(conf).toContain(`def ${hook}(server`);
    expect(files['gunicorn/api.conf.py']).toBeUndefined(); // no gunicorn block
    const compose = parse(files['docker-compose.yml'].content);
    expect(compose.services.api.command).toEqual(['uvicorn', 'main:app']);
  });

  it('postgresql.conf: tuning quoted, listen_addresses always *, defaults for the rest', () => {
    const conf = files['postgres/postgresql.conf'].content;
    expect(conf).toContain("listen_addresses = '*'");
    expect(conf).toContain("shared_buffers = '256MB'\n");
    expect(conf).toContain('max_connections = 200\n');
    expect(conf).toContain("log_line_prefix = 'it''s %m '\n");
    expect(conf).toContain('jit = off\n');
    expect(conf).toContain("effective_cache_size = '384MB'   # default");
    expect(pgValue('x', "a\\b'c")).toBe("'a\\\\b''c'");
    expect(() => pgValue('x', 'a\nb')).toThrow(/newline/);
  });

  it('pgbouncer: pool settings, every database, SCRAM; no userlist rendered, the image writes it from the environment', () => {
    const ini = files['pgbouncer/pgbouncer.ini'].content;
    expect(ini).toContain('shop = host=db port=5432 dbname=shop\nshop_staging = host=db port=5432 dbname=shop_staging');
    expect(ini).toContain('pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 10\nmin_pool_size = 0\nreserve_pool_size = 5');
    expect(ini).toContain('listen_port = 6432');
    expect(ini).toMatch(/^auth_type = scram-sha-256$/m);
    expect(files['pgbouncer/userlist.txt']).toBeUndefined();
    const compose = parse(files['docker-compose.yml'].content);
    expect(compose.services.bouncer.volumes).toEqual(['./pgbouncer/pgbouncer.ini:/etc/pgbouncer/pgbouncer.ini:ro']);
    expect(compose.services.bouncer.environment).toEqual({ AUTH_TYPE: 'scram-sha-256', DB_PASSWORD: '${POSTGRES_PASSWORD}', DB_USER: 'shop' });
    for (const f of Object.values(files)) expect(f.content).not.toContain(PG_PASSWORD);
  });

  it('redis.conf: memory, policy, persistence; the password only as a ${VAR} in the environment, never on the command line', () => {
    const conf = files['redis/redis.conf'].content;
    for (const line of ['bind 0.0.0.0', 'protected-mode no', 'dir /data', 'maxmemory 52428800', 'maxmemory-policy allkeys-lru', 'appendonly yes', 'save 900 1\nsave 300 10\n']) expect(conf).toContain(line);
    expect(conf).not.toContain('requirepass');
    const compose = parse(files['docker-compose.yml'].content);
    const cmd: string[] = compose.services.cache.command;
    expect(cmd.slice(0, 2)).toEqual(['sh', '-c']);
    expect(cmd.slice(3)).toEqual(['redis-start', 'redis-server', '/usr/local/etc/redis/redis.conf']);
    expect(cmd.join(' ')).not.toMatch(/requirepass \$\{|REDIS_PASSWORD|r3dis/);
    expect(compose.services.cache.environment).toEqual({ REDISCLI_AUTH: '${REDIS_PASSWORD}' });
  });

  it('logging.conf: the five loggers, ISO-8601, errors to stderr and access to stdout', () => {
    const conf = files['logging.conf'].content;
    expect(conf).toContain('keys=root,gunicorn_error,gunicorn_access,app,sqlalchemy');
    expect(conf).toMatch(/\[logger_sqlalchemy\]\nlevel=WARNING/);
    expect(conf).toContain('datefmt=%Y-%m-%dT%H:%M:%S%z');
    expect(conf).toMatch(/\[handler_access\][^[]*args=\(sys.stdout,\)/);
    expect(conf).toMatch(/\[handler_stderr\][^[]*args=\(sys.stderr,\)/);
  });

  it('.env.example lists every referenced variable with placeholders for secrets', () => {
    const env = files['.env.example'].content;
    for (const line of ['POSTGRES_PASSWORD=change-me', 'DJANGO_SECRET_KEY=change-me', 'SENTRY_DSN=change-me', 'REDIS_PASSWORD=change-me', 'VERSION=1.2.3', 'LOG_LEVEL=info', 'NGINX_AUTH_FILE=./htpasswd']) {
      expect(env).toContain(line + '\n');
    }
  });

  it('no rendered file contains a secret value', () => {
    for (const f of Object.values(files)) for (const secret of Object.values(ENV)) expect(f.content, f.path).not.toContain(secret);
  });

  it('Makefile wraps lifeops verbs', () => {
    const mk = files['Makefile'].content;
    for (const t of ['deploy:', 'backup:', 'rollback:', 'status:', 'logs:', 'render:', 'validate:', 'plan:']) expect(mk).toContain(`\n${t}\n`);
    expect(mk).toContain('$(L) rollback $(BACKUP) --env $(ENV)');
    expect(mk).toContain('STACK ?= ../stack.yaml');
    expect(mk).toMatch(/\n\t\$\(L\) deploy/); // recipes are tab-indented
  });

  it('renders byte-identical output twice', () => {
    const again = renderAll(loadStack({ file: stack.file, processEnv: ENV }), { renderDir: path.join(stack.baseDir, 'render') });
    expect(again.map((f) => f.content).join('\0')).toBe(Object.values(files).map((f) => f.content).join('\0'));
  });
});

describe('traefik front', () => {
  const text = FULL_STACK.replace('  kind: nginx\n', '  kind: traefik\n');
  let stack: Stack;
  beforeAll(() => {
    stack = loadStack({ file: writeStack(text), processEnv: ENV });
  });

  it('renders traefik.yml and no nginx files', () => {
    expect(renderNginx(stack)).toEqual([]);
    const [file] = renderTraefik(stack);
    expect(file.path).toBe('traefik/traefik.yml');
    const doc = parse(file.content);
    expect(doc.entryPoints.web.address).toBe(':80');
    expect(doc.entryPoints.websecure.address).toBe(':443');
    expect(doc.entryPoints.web.http.redirections.entryPoint.to).toBe('websecure');
    expect(doc.providers.docker.exposedByDefault).toBe(false);
    expect(doc.certificatesResolvers.letsencrypt.acme.email).toBe('ops@shop.example');
    expect(doc.certificatesResolvers.letsencrypt.acme.httpChallenge.entryPoint).toBe('web');
  });

  it('adds router labels to the upstream services, basic auth from a variable reference', () => {
    const compose = parse(renderCompose(stack, path.join(stack.baseDir, 'render')));
    const web = compose.services.web.labels;
    expect(web['traefik.enable']).toBe('true');
    expect(web['traefik.http.routers.shop-shop-example-com.rule']).toBe('Host(`shop.example.com`) || Host(`www.shop.example.com`)');
    expect(web['traefik.http.routers.shop-shop-example-com.tls.certresolver']).toBe('letsencrypt');
    expect(web['traefik.http.services.shop-shop-example-com.loadbalancer.server.port']).toBe('8001');
    const grafana = compose.services.grafana.labels;
    expect(grafana['traefik.http.middlewares.shop-grafana-shop-example-com-auth.basicauth.users']).toBe('${TRAEFIK_BASIC_AUTH_USERS}');
    expect(grafana['traefik.http.routers.shop-grafana-shop-example-com.middlewares']).toContain('shop-grafana-shop-example-com-auth');
    expect(grafana['traefik.http.routers.shop-grafana-shop-example-com.tls.certresolver']).toBeUndefined();
    expect(compose.services.front.volumes).toContain('./traefik/traefik.yml:/etc/traefik/traefik.yml:ro');
    expect(compose.services.db.labels['traefik.enable']).toBeUndefined();
    const env = renderExtras(stack, { renderDir: '/tmp/x' }).find((f) => f.path === '.env.example')!;
    expect(env.content).toContain('TRAEFIK_BASIC_AUTH_USERS=change-me');
  });

  it('refuses TLS without a valid e-mail (schema)', () => {
    expect(() => loadStack({ file: writeStack(text.replace('ops@shop.example', 'not-an-email')), processEnv: ENV })).toThrow(/letsencrypt_email/);
  });
});

describe('values that could break out of a directive are rejected by the schema', () => {
  const base = { service: 'front', domains: [{ name: 'example.com', upstream: 'web' }] };
  const bad: [string, unknown][] = [
    ['domain with ;', { ...base, domains: [{ name: 'example.com;', upstream: 'web' }] }],
    ['domain with }', { ...base, domains: [{ name: 'example.com}', upstream: 'web' }] }],
    ['domain with newline', { ...base, domains: [{ name: 'example.com\nlisten 1', upstream: 'web' }] }],
    ['alias with space', { ...base, domains: [{ name: 'a.com', aliases: ['b.com c.com'], upstream: 'web' }] }],
    ['api_prefix with ;', { ...base, domains: [{ name: 'a.com', upstream: 'web', api_prefix: '/api; return 200' }] }],
    ['api_prefix with }', { ...base, domains: [{ name: 'a.com', upstream: 'web', api_prefix: '/api}' }] }],
    ['static location with newline', { ...base, domains: [{ name: 'a.com', upstream: 'web', static: { location: '/s\n', root: '/x' } }] }],
    ['static root with }', { ...base, domains: [{ name: 'a.com', upstream: 'web', static: { location: '/s/', root: '/x}' } }] }],
    ['resolver with ;', { ...base, resolver: '127.0.0.11; include /etc/passwd' }],
    ['certs_dir with newline', { ...base, tls: { enabled: true, certs_dir: '/etc/x\n' } }],
    ['CSP with a double quote', { ...base, security_headers: { content_security_policy: 'default-src "self"' } }],
    ['CSP with }', { ...base, security_headers: { content_security_policy: "default-src 'self' }" } }],
    ['body size with ;', { ...base, client_max_body_size: '10m;' }],
    ['proxy_buffers with newline', { ...base, proxy_buffers: '8 16k\n' }],
  ];
  for (const [what, value] of bad) {
    it(`rejects ${what}`, () => {
      expect(frontSchema.safeParse(value).success).toBe(false);
    });
  }
  it('accepts the good values', () => {
    expect(frontSchema.safeParse(base).success).toBe(true);
    expect(domainSchema.safeParse({ name: '*.example.com', upstream: 'web', api_prefix: '/api/v1' }).success).toBe(true);
  });
  it('rejects a stack file with such a domain, naming the key', () => {
    const text = FULL_STACK.replace('name: api.shop.example.com', 'name: "api.shop.example.com;"');
    expect(() => loadStack({ file: writeStack(text), processEnv: ENV })).toThrow(/front\.domains\.1\.name|domains/);
  });
  it('rejects a database name that could break pgbouncer.ini', () => {
    const text = FULL_STACK.replace('databases: [shop_staging]', 'databases: ["x = host=evil"]');
    expect(() => loadStack({ file: writeStack(text), processEnv: ENV })).toThrow(/databases/);
  });
});

describe('templates', () => {
  it('fill substitutes and refuses a placeholder without a value', () => {
    expect(fill('a {{x}} b {{ y }}', { x: 1, y: 'z' })).toBe('a 1 b z');
    expect(() => fill('{{nope}}', {}, 't.conf')).toThrow('t.conf: no value for {{nope}}');
  });

  it("a stack's templates: map overrides a built-in template", () => {
    const text = FULL_STACK + 'templates:\n  redis/redis.conf: ops/redis.tmpl\n  nginx/conf.d/api.shop.example.com.conf: ops/site.tmpl\n';
    const file = writeStack(text, {
      'ops/redis.tmpl': '# custom {{maxmemory_policy}}\n{{maxmemory}}',
      'ops/site.tmpl': 'server { server_name {{server_names}}; location / { proxy_pass http://{{upstream}}:{{upstream_port}}; } }\n',
    });
    const stack = loadStack({ file, processEnv: ENV });
    const redis = renderDatastores(stack).find((f) => f.path === 'redis/redis.conf')!;
    expect(redis.content).toBe('# custom allkeys-lru\nmaxmemory 52428800\n');
    const site = renderNginx(stack).find((f) => f.path === 'nginx/conf.d/api.shop.example.com.conf')!;
    expect(site.content).toBe('server { server_name api.shop.example.com; location / { proxy_pass http://api:8000; } }\n');
    // the other domains keep the built-in template
    expect(renderNginx(stack).find((f) => f.path === 'nginx/conf.d/shop.example.com.conf')!.content).toContain('resolver 127.0.0.11');
  });

  it('a missing override file is a clear error', () => {
    const stack = loadStack({ file: writeStack(FULL_STACK + 'templates:\n  logging.conf: nope.tmpl\n'), processEnv: ENV });
    expect(() => renderDatastores(stack)).toThrow(/nope.tmpl: cannot read template for logging.conf/);
  });

  it('gunicorn renders nothing for a stack without gunicorn blocks', () => {
    const stack = loadStack({ file: writeStack('name: bare\ndefault_environment: dev\nservices:\n  app: { image: busybox }\n'), processEnv: {} });
    expect(renderGunicorn(stack)).toEqual([]);
    expect(renderDatastores(stack)).toEqual([]);
    expect(renderNginx(stack)).toEqual([]);
    expect(renderTraefik(stack)).toEqual([]);
  });
});
