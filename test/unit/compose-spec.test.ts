// The Compose Specification as the floor (issue 12): compose keys lifeops has
// no key of its own for pass through to the rendered compose file, checked by
// the specification's JSON Schema (vendored, ajv) with errors at the stack
// file's line; lifeops' own keys stay on top. Every rendered compose file of
// stacks/ and the fixtures passes the same schema. Pure: no Docker.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import { composeSpecProblems, COMPOSE_SERVICE_KEYS } from '../../src/config/compose-spec.js';
import type { Stack } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { renderAll, composeFiles } from '../../src/render/index.js';
import { writeStack } from '../fixtures/app-stack.js';
import { ROOT } from '../helpers.js';

const ENV = { POSTGRES_PASSWORD: 'dummy-postgres-password-0123456789' };

const BASE = `name: shop
default_environment: local
services:
  db: { role: postgres, image: postgres:16 }
  web:
    role: web
    image: shop/web:1
    http: { port: 8000 }
  front: { role: front, image: "nginx:1.25", ports: ["127.0.0.1:8080:80"] }
postgres: { service: db, password: "\${POSTGRES_PASSWORD}", database: shop }
front:
  service: front
  domains:
    - { name: shop.example.com, upstream: web }
environments:
  local: {}
`;
const withWeb = (lines: string) => BASE.replace('    http: { port: 8000 }\n', `    http: { port: 8000 }\n${lines.replace(/^/gm, '    ')}\n`);

function load(text: string, env: Record<string, string> = ENV): Stack {
  return loadStack({ file: writeStack(text), processEnv: { ...env } });
}
function loadError(text: string): { file: string; message: string } {
  const file = writeStack(text);
  try {
    loadStack({ file, processEnv: { ...ENV } });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).exitCode).toBe(2);
    return { file, message: (e as ConfigError).message };
  }
  throw new Error('expected a ConfigError');
}
function position(text: string, needle: string): string {
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, at).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}
function renderedCompose(stack: Stack): Record<string, any> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-spec-'));
  const files = renderAll(stack, { renderDir: dir });
  return parse(files.find((f) => f.path === 'docker-compose.yml')!.content);
}

describe('compose keys pass through', () => {
  it('service keys only the Compose Specification has reach the rendered compose as written', () => {
    const text = withWeb(`ulimits: { nofile: { soft: 20000, hard: 40000 } }
cap_add: [NET_ADMIN]
sysctls: { net.core.somaxconn: 1024 }
working_dir: /app
extra_hosts: ["mail.internal:10.0.0.5"]
stop_signal: SIGINT
read_only: true
secrets: [db_password]
configs: [{ source: app_conf, target: /etc/app.conf }]
deploy: { restart_policy: { condition: on-failure } }`)
      .replace('environments:', `secrets:\n  db_password: { file: ./secrets/db.txt }\nconfigs:\n  app_conf: { environment: APP_CONF }\nenvironments:`);
    const stack = load(text);
    const web = renderedCompose(stack).services.web;
    expect(web.ulimits).toEqual({ nofile: { soft: 20000, hard: 40000 } });
    expect(web.cap_add).toEqual(['NET_ADMIN']);
    expect(web.sysctls).toEqual({ 'net.core.somaxconn': 1024 });
    expect(web.working_dir).toBe('/app');
    expect(web.extra_hosts).toEqual(['mail.internal:10.0.0.5']);
    expect(web.stop_signal).toBe('SIGINT');
    expect(web.read_only).toBe(true);
    expect(web.secrets).toEqual(['db_password']);
    expect(web.configs).toEqual([{ source: 'app_conf', target: '/etc/app.conf' }]);
    // deploy merges with what lifeops writes itself
    expect(web.deploy.restart_policy).toEqual({ condition: 'on-failure' });
    const compose = renderedCompose(stack);
    // the secret's file is relative to the stack file, as in a compose file beside it
    expect(compose.secrets.db_password.file).toMatch(/secrets\/db\.txt$/);
    expect(compose.configs).toEqual({ app_conf: { environment: 'APP_CONF' } });
    expect(composeSpecProblems(compose)).toEqual([]);
  });

  it('network and volume options of the Compose Specification pass through (ipam, enable_ipv6, driver_opts)', () => {
    const text = BASE.replace('environments:', `networks:\n  edge:\n    ipam: { config: [{ subnet: 172.28.0.0/16 }] }\n    enable_ipv6: false\nvolumes:\n  media: { driver: local, driver_opts: { type: none, o: bind, device: /srv/media } }\nenvironments:`);
    const compose = renderedCompose(load(text));
    expect(compose.networks.edge).toEqual({ ipam: { config: [{ subnet: '172.28.0.0/16' }] }, enable_ipv6: false });
    expect(compose.volumes.media.driver_opts).toEqual({ type: 'none', o: 'bind', device: '/srv/media' });
  });

  it('a compose key in an environment overlay passes through for that environment', () => {
    const text = BASE.replace('  local: {}', '  local:\n    services:\n      web: { cap_drop: [ALL] }');
    expect(renderedCompose(load(text)).services.web.cap_drop).toEqual(['ALL']);
  });

  it('lifeops keys stay on top: its own healthcheck, networks, labels and restart are written from its keys', () => {
    const text = withWeb('init: true\nhostname: web1');
    const web = renderedCompose(load(text)).services.web;
    expect(web.init).toBe(true);
    expect(web.hostname).toBe('web1');
    expect(web.labels['lifeops.role']).toBe('web');
    expect(web.restart).toBe('unless-stopped');
  });

  it('every key of the specification\'s service is known (a sample of what real stacks use)', () => {
    for (const k of ['ulimits', 'cap_add', 'sysctls', 'devices', 'security_opt', 'extra_hosts', 'working_dir', 'network_mode', 'pid', 'ipc', 'secrets', 'configs', 'container_name']) expect(COMPOSE_SERVICE_KEYS).toContain(k);
  });
});

describe('compose keys are checked by the Compose Specification, at the stack file\'s line', () => {
  it('a wrong type inside a compose key', () => {
    const text = withWeb('ulimits: { nofile: { soft: [1], hard: 2 } }');
    const { file, message } = loadError(text);
    expect(message).toContain(`${file}:${position(text, '[1]')}: services.web.ulimits.nofile.soft: found a list; valid: an integer or a string`);
  });

  it('an unknown key inside a compose key names the valid ones and the closest', () => {
    const text = withWeb('ulimits: { nofile: { sofft: 1, hard: 2 } }');
    const { file, message } = loadError(text);
    expect(message).toContain(`${file}:${position(text, 'sofft')}: services.web.ulimits.nofile.sofft: unknown key (did you mean "soft"?); valid keys: hard, soft (Compose Specification)`);
  });

  it('a value outside an enumeration', () => {
    const text = withWeb('pull_policy: sometimes');
    const { file, message } = loadError(text);
    expect(message).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${position(text, 'sometimes')}: services\\.web\\.pull_policy: found "sometimes"; valid: a value matching always\\|never\\|build`));
  });

  it('a key in neither lifeops nor compose is unknown, with did-you-mean over both', () => {
    const text = withWeb('ulimit: { nofile: 1024 }');
    const { file, message } = loadError(text);
    expect(message).toContain(`${file}:${position(text, 'ulimit:')}: services.web.ulimit: unknown key (did you mean "ulimits"?)`);
    expect(message).toContain('or any service key of the Compose Specification');
  });

  it('a bad network option and a bad top-level secret', () => {
    const net = BASE.replace('environments:', 'networks:\n  edge: { enable_ipv6: [maybe] }\nenvironments:');
    expect(loadError(net).message).toContain(`:${position(net, '[maybe]')}: networks.edge.enable_ipv6: found a list; valid: true or false or a string`);
    const sec = BASE.replace('environments:', 'secrets:\n  token: { fiel: ./t.txt }\nenvironments:');
    expect(loadError(sec).message).toMatch(new RegExp(`:${position(sec, 'fiel')}: secrets\\.token\\.fiel: unknown key \\(did you mean "file"\\?\\)`));
  });

  it('compose keys lifeops writes from its own are refused with the lifeops way', () => {
    const t1 = withWeb('scale: 3');
    expect(loadError(t1).message).toContain(`:${position(t1, 'scale')}: services.web.scale: lifeops writes this compose key from its own; valid: replicas: N`);
    const t2 = withWeb('deploy: { replicas: 2 }');
    expect(loadError(t2).message).toContain(`:${position(t2, 'replicas: 2')}: services.web.deploy.replicas: lifeops writes deploy.replicas from its own key`);
    const t3 = withWeb('container_name: shop_web');
    expect(loadError(t3).message).toContain('services.web.container_name: a web service is rolled with a second container beside the first');
    const t4 = withWeb('mem_limit: 512m');
    expect(loadError(t4).message).toContain('services.web.mem_limit: lifeops writes this compose key from its own; valid: resources: { limits: { memory: 512M } }');
  });
});

describe('every rendered compose file passes the Compose Specification\'s JSON Schema', () => {
  const stacks = readdirSync(path.join(ROOT, 'stacks')).filter((f) => f.endsWith('.yaml')).map((f) => path.join(ROOT, 'stacks', f));
  const fixtures = ['archive', 'social'].map((n) => path.join(ROOT, 'test', 'fixtures', 'byo', n, 'stack.yaml'));
  // (the imported fixtures' rendered compose files are checked in import.test.ts)
  for (const file of [...stacks, ...fixtures]) {
    it(path.relative(ROOT, file), () => {
      const env = { POSTGRES_PASSWORD: 'dummy-postgres-password-0123456789', ARCHIVE_SECRET_KEY: 'dummy-archive-secret-0123456789' };
      const stack = loadStack({ file, processEnv: env, allowMissing: true, env: undefined });
      const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-spec-'));
      const files = renderAll(stack, { renderDir: dir });
      const composes = composeFiles(files);
      expect(composes.length).toBeGreaterThan(0);
      for (const c of composes) {
        const doc = parse(files.find((f) => f.path === c)!.content);
        expect(composeSpecProblems(doc), c).toEqual([]);
      }
    });
  }

  it('the schema does catch a broken compose document (it can fail)', () => {
    expect(composeSpecProblems({ services: { web: { image: 'x', restart: 5, ulimits: { nofile: 'many' } } } }).length).toBeGreaterThan(0);
  });
});
