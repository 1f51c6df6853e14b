// Bring your own stack (issue 12): compose setups as users write them render
// right, and what would render wrong silently is a located load error.
// One block per kind of shortfall the issue lists. Pure: no Docker.
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { parse } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import type { Stack } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { renderAll } from '../../src/render/index.js';
import { writeStack } from '../fixtures/app-stack.js';

const ENV = { POSTGRES_PASSWORD: 'dummy-postgres-password-0123456789' };

const BASE = `name: shop
default_environment: local
services:
  db: { role: postgres, image: postgres:16 }
  cache: { role: redis, image: redis:7 }
  web:
    role: web
    image: shop/web:1
    http: { port: 8000 }
  front: { role: front, image: "nginx:1.25", ports: ["127.0.0.1:8080:80"] }
postgres: { service: db, password: "\${POSTGRES_PASSWORD}", database: shop }
redis: { service: cache }
front:
  service: front
  domains:
    - { name: shop.example.com, upstream: web }
environments:
  local: {}
`;

const withWeb = (lines: string) => BASE.replace('    http: { port: 8000 }\n', `    http: { port: 8000 }\n${lines.replace(/^/gm, '    ')}\n`);

function load(text: string, opts: { files?: Record<string, string>; env?: Record<string, string>; allowMissing?: boolean; envName?: string } = {}): Stack {
  return loadStack({ file: writeStack(text, opts.files), env: opts.envName, processEnv: opts.env ?? { ...ENV }, allowMissing: opts.allowMissing });
}

function loadError(text: string, opts: Parameters<typeof load>[1] = {}): ConfigError {
  const file = writeStack(text, opts.files);
  try {
    loadStack({ file, env: opts.envName, processEnv: opts.env ?? { ...ENV }, allowMissing: opts.allowMissing });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).exitCode).toBe(2);
    expect((e as ConfigError).message.startsWith(`${file}:`)).toBe(true);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** line:col of the nth occurrence of needle in text. */
function position(text: string, needle: string, nth = 1): string {
  let at = -1;
  for (let i = 0; i < nth; i++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, at).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

function compose(stack: Stack, renderDir = '/tmp/lifeops-byo-render') {
  const files = renderAll(stack, { renderDir });
  return { doc: parse(files.find((f) => f.path === 'docker-compose.yml')!.content), files: Object.fromEntries(files.map((f) => [f.path, f.content])) };
}

describe('1. networks', () => {
  it('declared networks are rendered (internal kept); the front joins every network its upstreams are on', () => {
    const text = withWeb('networks: [public, private]') + 'networks:\n  public: {}\n  private: { internal: true }\n';
    const { doc } = compose(load(text));
    expect(doc.networks).toEqual({ default: {}, backend: { internal: true }, public: {}, private: { internal: true } });
    expect(doc.services.web.networks).toEqual(['public', 'private']);
    expect(doc.services.front.networks).toEqual(['default', 'public', 'private']);
    // without networks: the built-in layout, unchanged
    const plain = compose(load(BASE)).doc;
    expect(plain.services.front.networks).toEqual(['default']);
    expect(plain.services.db.networks).toEqual(['backend']);
  });

  it('an undeclared network is an error at its line, naming the declared ones', () => {
    const text = withWeb('networks: [public, privat]') + 'networks:\n  public: {}\n  private: { internal: true }\n';
    const e = loadError(text);
    expect(e.message).toContain(`:${position(text, 'privat]')}: services.web.networks.1: "privat" is not a declared network (did you mean "private"?); declared: public, private`);
  });

  it('an external network takes only a name', () => {
    const e = loadError(BASE + 'networks:\n  shared: { external: true, internal: true }\n');
    expect(e.message).toMatch(/networks\.shared\.internal: an external network .* takes only a name/);
  });
});

describe('2. env_file', () => {
  it("paths written as compose users do resolve against the stack file's folder, not the render folder", () => {
    const text = withWeb('env_file: [env/app.env, .env.production]');
    const stack = load(text, { files: { 'env/app.env': 'A=1\n', '.env.production': 'B=2\n' } });
    const renderDir = '/tmp/lifeops-byo-elsewhere/render/local';
    const { doc } = compose(stack, renderDir);
    expect(doc.services.web.env_file.map((f: string) => path.resolve(renderDir, f))).toEqual([path.join(stack.baseDir, 'env/app.env'), path.join(stack.baseDir, '.env.production')]);
    // a single string, as compose allows it
    const one = load(withWeb('env_file: .env.production'), { files: { '.env.production': 'B=2\n' } });
    expect(one.services.web.env_file).toEqual(['.env.production']);
  });

  it("a service's env_file that does not exist is an error naming the path and the key; required: false leaves it out", () => {
    const text = withWeb('env_file: [env/app.env, env/missing.env]');
    const e = loadError(text, { files: { 'env/app.env': 'A=1\n' } });
    expect(e.message).toContain(`:${position(text, 'env/missing.env')}: services.web.env_file.1: env/missing.env does not exist`);
    const ok = load(withWeb('env_file: [env/app.env, { path: env/missing.env, required: false }]'), { files: { 'env/app.env': 'A=1\n' } });
    expect(ok.services.web.env_file).toEqual(['env/app.env']);
  });

  it("an environment's env_file that does not exist is an error at its key; required: false is accepted", () => {
    const text = BASE.replace('  local: {}', '  local: { env_file: local.env }');
    const e = loadError(text);
    expect(e.message).toContain(`:${position(text, 'local.env')}: environments.local.env_file: local.env does not exist`);
    expect(e.hint).toMatch(/required: false/);
    expect(() => load(BASE.replace('  local: {}', '  local: { env_file: { path: local.env, required: false } }'))).not.toThrow();
    const vars = load(BASE.replace('  local: {}', '  local: { env_file: local.env }'), { files: { 'local.env': 'WEB_TAG=7\n' } }).vars;
    expect(vars.WEB_TAG).toBe('7');
  });
});

describe('3. undefined variables', () => {
  it('${VAR} set nowhere is an error at its line naming the variable and where it could be set', () => {
    const text = withWeb('environment: { DATABASE_URL: "postgresql://shop:${POSTGRES_PASWORD}@db/shop" }');
    const e = loadError(text);
    expect(e.message).toContain(
      `:${position(text, '"postgresql')}: services.web.environment.DATABASE_URL: required variable not set: POSTGRES_PASWORD; set it in the process environment, an env_file of environments.local or variables.defaults, or write \${POSTGRES_PASWORD:-} where an empty value is meant`,
    );
    // close to a known variable: suggested
    const typo = withWeb('image: "shop/web:${WEB_TAGG}"').replace('    image: shop/web:1\n', '') + 'variables: { defaults: { WEB_TAG: "1" } }\n';
    expect(loadError(typo).message).toMatch(/required variable not set: WEB_TAGG \(did you mean WEB_TAG\?\)/);
  });

  it('${VAR:-default} and ${VAR-} stay allowed; a secret may stay unset when rendering without secrets', () => {
    const s = load(withWeb('environment: { A: "${NOPE:-x}", B: "${NOPE-}", C: "${NOPE:-}" }'));
    expect(s.services.web.environment).toEqual({ A: 'x', B: '', C: '' });
    const secret = load(withWeb('environment: { KEY: "${API_SECRET}" }'), { allowMissing: true });
    expect(compose(secret).doc.services.web.environment.KEY).toBe('${API_SECRET}');
    expect(() => load(withWeb('environment: { KEY: "${PLAIN_SETTING}" }'), { allowMissing: true })).toThrow(/PLAIN_SETTING/);
  });

  it("variables used only in another environment's overlay are not needed", () => {
    const text = BASE + '  production:\n    services:\n      web: { image: "shop/web:${PROD_TAG}" }\n';
    expect(() => load(text)).not.toThrow();
    expect(loadError(text, { envName: 'production' }).message).toContain(`:${position(text, '"shop/web:${PROD_TAG}"')}: services.web.image: required variable not set: PROD_TAG`);
  });
});

describe('4. silent overrides', () => {
  it('a Redis command lifeops can extend takes the redis: block; a shell command, another program or a flag the block owns is refused', () => {
    const words = load(BASE.replace('cache: { role: redis, image: redis:7 }', 'cache: { role: redis, image: redis:7, command: redis-server --loglevel warning }'));
    expect(compose(words).doc.services.cache.command).toEqual(['redis-server', '/usr/local/etc/redis/redis.conf', '--loglevel', 'warning']);
    const shell = BASE.replace('cache: { role: redis, image: redis:7 }', 'cache: { role: redis, image: redis:7, command: "sh -c \'redis-server --port 6380\'" }');
    expect(loadError(shell).message).toMatch(/services\.cache\.command: a shell command cannot take the redis: block's rendered configuration/);
    const other = BASE.replace('cache: { role: redis, image: redis:7 }', 'cache: { role: redis, image: redis:7, command: [keydb-server] }');
    expect(loadError(other).message).toMatch(/services\.cache\.command: runs "keydb-server", not redis-server, so the redis: block \(redis\.service: cache\) would be ignored/);
    const flag = BASE.replace('cache: { role: redis, image: redis:7 }', 'cache: { role: redis, image: redis:7, command: [redis-server, --appendonly, "yes"] }');
    expect(loadError(flag).message).toMatch(/services\.cache\.command: --appendonly is set by the redis: block \(redis\.appendonly\); valid: set it there/);
  });

  it('front.service or postgres.service naming a web service is refused', () => {
    const front = BASE.replace('  service: front\n', '  service: web\n');
    expect(loadError(front).message).toMatch(/front\.service: "web" is a web service \(services\.web\.role: web\); the front: block would replace its command and mounts; valid: a service with role front \(front\)/);
    const pg = BASE.replace('postgres: { service: db,', 'postgres: { service: web,');
    expect(loadError(pg).message).toMatch(/postgres\.service: "web" is a web service/);
  });

  it('a service named like one the monitoring override adds is refused, listing the reserved names', () => {
    const text = BASE.replace('  cache: { role: redis, image: redis:7 }\n', '  cache: { role: redis, image: redis:7 }\n  grafana: { image: grafana/grafana }\n') + 'monitoring: { enabled: true, exporters: [node] }\n';
    const e = loadError(text);
    expect(e.message).toContain(`:${position(text, 'grafana:')}: services.grafana: the monitoring override adds a service of this name and would replace this one; reserved while monitoring is on: prometheus, alertmanager, grafana, node-exporter`);
    // its own grafana is fine when the override adds none
    expect(() => load(text.replace('exporters: [node] }', 'exporters: [node], grafana: false }'))).not.toThrow();
  });

  it('unknown keys are refused with the valid keys: a templates typo, a typo in an environment not chosen', () => {
    const tmpl = BASE + 'templates:\n  redis/redis.cnf: my-redis.tmpl\n';
    const e = loadError(tmpl, { files: { 'my-redis.tmpl': '{{header}}\n' } });
    expect(e.message).toMatch(/templates\.redis\/redis\.cnf: unknown key: this stack renders no such file from a template \(did you mean "redis\/redis\.conf"\?\); valid keys: \.env\.example, Makefile, logging\.conf, nginx\/nginx\.conf, nginx\/conf\.d\/shop\.example\.com\.conf, postgres\/postgresql\.conf, redis\/redis\.conf/);
    const env = BASE + '  production:\n    front: { client_max_bodysize: 20m }\n';
    expect(loadError(env).message).toContain(`:${position(env, 'client_max_bodysize')}: front.client_max_bodysize: unknown key (environment production) (did you mean "client_max_body_size"?)`);
  });
});

describe('5. what real stacks use', () => {
  it('YAML merge keys and x- extension fields', () => {
    const text = 'x-app: &app\n  image: shop/app:2\n  environment: { MODE: app }\n' + BASE.replace('  web:\n    role: web\n    image: shop/web:1\n', '  web:\n    <<: *app\n    role: web\n  worker:\n    <<: *app\n    role: worker\n    environment: { MODE: worker }\n');
    const { doc } = compose(load(text));
    expect(doc.services.web).toMatchObject({ image: 'shop/app:2', environment: { MODE: 'app' } });
    expect(doc.services.worker).toMatchObject({ image: 'shop/app:2', environment: { MODE: 'worker' } });
    expect(doc['x-app']).toBeUndefined();
  });

  it('shm_size, tmpfs, stdin_open/tty, any dotted gunicorn worker class', () => {
    const s = load(withWeb('shm_size: 1g\ntmpfs: ["/tmp:size=64m"]\nstdin_open: true\ntty: true\ngunicorn: { module: "app.asgi:application", worker_class: uvicorn_worker.UvicornWorker }'));
    const { doc, files } = compose(s);
    expect(doc.services.web).toMatchObject({ shm_size: '1024m', tmpfs: ['/tmp:size=64m'], stdin_open: true, tty: true });
    expect(files['gunicorn/web.conf.py']).toMatch(/worker_class = "uvicorn_worker\.UvicornWorker"/);
    expect(loadError(withWeb('gunicorn: { module: "a:b", worker_class: "not a class" }')).message).toMatch(/services\.web\.gunicorn\.worker_class/);
  });

  it('several upstreams on one domain by path, websockets with long timeouts, /health answered by the app', () => {
    const text = BASE.replace('  front: {', '  stream: { role: web, image: shop/stream:1, http: { port: 4000 } }\n  front: {').replace(
      '- { name: shop.example.com, upstream: web }',
      '- name: shop.example.com\n      upstream: web\n      health: upstream\n      proxy_timeout: 90s\n      locations:\n        - { path: /api/v1/streaming, upstream: stream, websocket: true }\n        - { path: /export/, upstream: web, proxy_timeout: 15m }',
    );
    const { doc, files } = compose(load(text));
    const site = files['nginx/conf.d/shop.example.com.conf'];
    expect(site).toMatch(/location \/api\/v1\/streaming \{\n(.*\n)*?\s+set \$upstream http:\/\/stream:4000;\n(.*\n)*?\s+proxy_read_timeout 3600s;\n\s+proxy_buffering off;/);
    expect(site).toMatch(/location \/export\/ \{(.*\n)*?\s+proxy_read_timeout 15m;/);
    expect(site).toMatch(/location \/ \{(.*\n)*?\s+proxy_read_timeout 90s;/);
    expect(site).not.toContain('location = /health');
    expect(doc.services.front.networks).toEqual(['default']);
    // a path routed twice, or a path to no service, is refused
    expect(loadError(text.replace('/export/', '/api/v1/streaming')).message).toMatch(/front\.domains\.0\.locations\.1\.path: \/api\/v1\/streaming is already routed/);
    expect(loadError(text.replace('upstream: stream,', 'upstream: strem,')).message).toMatch(/front\.domains\.0\.locations\.0\.upstream: "strem" is not a service the front can reach \(did you mean "stream"\?\)/);
  });

  it("healthcheck timings left out follow compose's defaults (30s/30s/0s, retries 3)", () => {
    const { doc } = compose(load(withWeb('healthcheck: { test: "true" }')));
    expect(doc.services.web.healthcheck).toEqual({ test: ['CMD-SHELL', 'true'], interval: '30s', timeout: '30s', retries: 3, start_period: '0s' });
  });
});

describe('6. moving in', () => {
  it('the compose project name can be set (per environment too) and is checked against compose\'s rules', () => {
    expect(load(BASE).project).toBe('shop-local');
    expect(load(BASE.replace('name: shop\n', 'name: shop\nproject: shop_old\n')).project).toBe('shop_old');
    expect(load(BASE.replace('  local: {}', '  local: { project: legacy }')).project).toBe('legacy');
    expect(loadError(BASE.replace('name: shop\n', 'name: shop\nproject: Shop.Prod\n')).message).toMatch(/project: found "Shop\.Prod"; expected a compose project name/);
  });

  it('volumes can be external, with an optional name, so data under plain compose stays', () => {
    const text = BASE.replace('  db: { role: postgres, image: postgres:16 }', '  db: { role: postgres, image: postgres:16, volumes: ["pgdata:/var/lib/postgresql/data"] }') + 'volumes:\n  pgdata: { external: true, name: shop_pgdata }\n  uploads: { external: true }\n';
    const { doc } = compose(load(text));
    expect(doc.volumes).toEqual({ pgdata: { external: true, name: 'shop_pgdata' }, uploads: { external: true } });
    expect(loadError(text.replace('uploads: { external: true }', 'uploads: { external: true, driver: local }')).message).toMatch(/volumes\.uploads\.driver: an external volume .* takes only a name/);
  });
});
