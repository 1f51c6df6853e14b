// Stack file loading: schema, overlays, interpolation, and the error messages
// an operator sees for bad input (file:line:column, key path, what is valid).
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStack } from '../../src/config/load.js';
import { didYouMean } from '../../src/config/suggest.js';
import { ConfigError } from '../../src/errors.js';
import { interpolateString } from '../../src/config/interpolate.js';
import { jsonSchema } from '../../src/config/schema.js';
import { renderAll } from '../../src/render/index.js';
import { Redactor } from '../../src/util/redact.js';
import { ROOT, lifeops } from '../helpers.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lifeops-config-'));
function stackFile(name: string, text: string): string {
  const f = path.join(tmp, name);
  writeFileSync(f, text);
  return f;
}
function loadError(file: string, env?: string, processEnv: Record<string, string> = {}): ConfigError {
  try {
    loadStack({ file, env, processEnv });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const MINIMAL = `name: shop
default_environment: local
services:
  web:
    role: web
    image: shop/web:\${VERSION:-1.0}
    environment:
      DATABASE_URL: postgresql://shop:\${DB_PASSWORD}@db/shop
environments:
  local: {}
  production:
    services:
      web:
        replicas: 2
`;

describe('loading a stack', () => {
  it('loads the demo stack and derives the project name', () => {
    const s = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), processEnv: {} });
    expect(s.env).toBe('local');
    expect(s.project).toBe('demo-local');
    expect(s.services.web.role).toBe('web');
    expect(s.images.postgres).toBe('lifeops/postgres:15');
    expect(s.vars.POSTGRES_PASSWORD).toBe('demo-local-password-not-secret');
    expect(s.secretNames).toContain('POSTGRES_PASSWORD');
  });

  it('merges the environment overlay and interpolates variables', () => {
    const f = stackFile('ok.yaml', MINIMAL);
    const local = loadStack({ file: f, processEnv: { DB_PASSWORD: 'pw-local-123' } });
    expect(local.services.web.replicas).toBe(1);
    expect(local.services.web.image).toBe('shop/web:1.0');
    const prod = loadStack({ file: f, env: 'production', processEnv: { DB_PASSWORD: 'x', VERSION: '2.3' } });
    expect(prod.services.web.replicas).toBe(2);
    expect(prod.services.web.image).toBe('shop/web:2.3');
    expect(prod.production).toBe(true);
    // the secret stays a reference for renderers
    expect(prod.secretTemplates['services.web.environment.DATABASE_URL']).toBe('postgresql://shop:${DB_PASSWORD}@db/shop');
  });

  it('refuses a missing required variable, naming it', () => {
    const e = loadError(stackFile('req.yaml', MINIMAL));
    expect(e.message).toContain('required variable not set: DB_PASSWORD');
    expect(e.exitCode).toBe(2);
  });

  it('names file, line, column and key for a wrong type', () => {
    const f = stackFile('type.yaml', MINIMAL.replace('role: web', 'role: web\n    replicas: many'));
    const e = loadError(f, 'local', { DB_PASSWORD: 'x' });
    expect(e.message).toMatch(/type\.yaml:6:15: services\.web\.replicas: /);
  });

  it('suggests the key meant for an unknown key', () => {
    const f = stackFile('typo.yaml', MINIMAL.replace('    role: web', '    role: web\n    healtcheck: {test: "true"}'));
    const e = loadError(f, 'local', { DB_PASSWORD: 'x' });
    expect(e.message).toMatch(/typo\.yaml:6:5: services\.web\.healtcheck: unknown key \(did you mean "healthcheck"\?\)/);
    expect(e.message).toContain('valid keys:');
  });

  it('lists the valid values of an enum', () => {
    const f = stackFile('enum.yaml', MINIMAL.replace('role: web', 'role: webb'));
    const e = loadError(f, 'local', { DB_PASSWORD: 'x' });
    expect(e.message).toMatch(/enum\.yaml:5:11: services\.web\.role: found "webb"; valid values: "web", "worker"/);
  });

  it('refuses a front domain or depends_on naming no service, at its line, with the valid names', () => {
    const front = `front:
  kind: traefik
  service: web
  domains:
    - { name: shop.example.com, upstream: web }
    - { name: grafana.shop.example.com, upstream: grafna, upstream_port: 3000 }
monitoring: { enabled: true, grafana: true, exporters: [node] }
`;
    const f = stackFile('refs.yaml', MINIMAL.replace('environments:', `${front}environments:`));
    const e = loadError(f, 'local', { DB_PASSWORD: 'x' });
    expect(e.message).toMatch(/refs\.yaml:14:51: front\.domains\.1\.upstream: "grafna" is not a service the front can reach \(did you mean "grafana"\?\); valid: web, prometheus, alertmanager, grafana, node-exporter$/m);
    // grafana is routable only while the monitoring override adds it
    const off = stackFile('refs-off.yaml', MINIMAL.replace('environments:', `${front.replace('grafna', 'grafana').replace('grafana: true', 'grafana: false')}environments:`));
    expect(loadError(off, 'local', { DB_PASSWORD: 'x' }).message).toMatch(/front\.domains\.1\.upstream: "grafana" is not a service the front can reach; valid: web, prometheus, alertmanager, node-exporter$/m);
    const logs = stackFile('logs.yaml', MINIMAL.replace('environments:', 'monitoring: { enabled: true, exporters: [node, promtail] }\nenvironments:'));
    expect(loadError(logs, 'local', { DB_PASSWORD: 'x' }).message).toMatch(/logs\.yaml:9:\d+: monitoring\.exporters: promtail ships logs to the loki exporter, which is not listed/);
    const dep = stackFile('dep.yaml', MINIMAL.replace('    role: web', '    role: web\n    depends_on: { postgres: healthy }'));
    expect(loadError(dep, 'local', { DB_PASSWORD: 'x' }).message).toMatch(/dep\.yaml:6:19: services\.web\.depends_on\.postgres: "postgres" is not a service; valid: web/);
  });

  it('reports errors from an overlay at the overlay line', () => {
    const f = stackFile('overlay.yaml', MINIMAL.replace('replicas: 2', 'replicas: -1'));
    const e = loadError(f, 'production', { DB_PASSWORD: 'x' });
    expect(e.message).toMatch(/overlay\.yaml:14:19: services\.web\.replicas/);
  });

  it('gives YAML syntax errors, duplicate keys and empty files their own message', () => {
    expect(loadError(stackFile('syntax.yaml', 'name: a\nservices: [\n')).message).toMatch(/syntax\.yaml:\d+:\d+: services: YAML syntax error/);
    expect(loadError(stackFile('dup.yaml', 'name: a\nname: b\nservices: {}\n')).message).toMatch(/dup\.yaml:2:1: name: duplicate key/);
    expect(loadError(stackFile('empty.yaml', '\n  \n')).message).toMatch(/empty\.yaml:1:1: \(top level\): the stack file is empty/);
    expect(loadError(path.join(tmp, 'nope.yaml')).message).toMatch(/nope\.yaml: stack file not found/);
    expect(loadError(stackFile('list.yaml', '- a\n- b\n')).message).toMatch(/must be a mapping/);
  });

  it('refuses a swarm: block on a compose environment; a swarm environment without one gets the defaults, and only it renders a stack file', () => {
    const onCompose = stackFile('swarm-on-compose.yaml', MINIMAL.replace('  local: {}', '  local:\n    swarm:\n      endpoint_mode: dnsrr'));
    const e = loadError(onCompose, 'local', { DB_PASSWORD: 'x' });
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/swarm-on-compose\.yaml:\d+:\d+.*swarm.*configures an environment with target: swarm.*valid: target: swarm beside it, or no swarm: block/);
    const f = stackFile('swarm-defaults.yaml', MINIMAL.replace('  local: {}', '  local: {}\n  cluster:\n    target: swarm'));
    const cluster = loadStack({ file: f, env: 'cluster', processEnv: { DB_PASSWORD: 'x' } });
    expect(cluster.swarm).toMatchObject({ endpoint_mode: 'vip', publish_mode: 'ingress' });
    const rendered = (env: string) => renderAll(loadStack({ file: f, env, processEnv: { DB_PASSWORD: 'x' } }), { renderDir: tmp }).map((r) => r.path);
    expect(rendered('cluster')).toContain('docker-stack.yml');
    expect(rendered('local')).not.toContain('docker-stack.yml');
  });

  it('rejects an unknown environment with a suggestion', () => {
    const e = loadError(stackFile('envs.yaml', MINIMAL), 'prod', { DB_PASSWORD: 'x' });
    expect(e.message).toContain('no environment "prod" (did you mean "production"?)');
  });

  it('rejects values that would break out of a directive', () => {
    const f = stackFile(
      'inject.yaml',
      MINIMAL + 'front:\n  service: web\n  domains:\n    - name: "evil.com; include /etc/passwd"\n      upstream: web\n',
    );
    const e = loadError(f, 'local', { DB_PASSWORD: 'x' });
    expect(e.message).toMatch(/front\.domains\.0\.name: found "evil\.com; include/);
  });
});

describe('interpolation', () => {
  it('supports defaults, required markers and $$', () => {
    expect(interpolateString('${A:-x}-${B-y}-$$', { B: '' }).value).toBe('x--$');
    expect(interpolateString('${A:?set A please}', {}).error).toContain('set A please');
    expect(interpolateString('${A}', {}).unset).toEqual(['A']);
    expect(interpolateString('${A', {}).error).toContain('bad variable reference');
  });
});

describe('secrets', () => {
  it('redacts secret values and URL passwords', () => {
    const r = Redactor.forVars({ POSTGRES_PASSWORD: 'hunter2-long', USER: 'bob' }, []);
    expect(r.text('pw=hunter2-long user=bob')).toBe('pw=*** user=bob');
    expect(r.text('postgresql://u:whatever@db/x')).toBe('postgresql://u:***@db/x');
    expect(r.value({ API_TOKEN: 'abc', nested: ['hunter2-long'] })).toEqual({ API_TOKEN: '***', nested: ['***'] });
  });
});

describe('schema and suggestions', () => {
  it('exports a JSON Schema with the service properties', () => {
    const s = jsonSchema() as { properties: Record<string, unknown> };
    expect(Object.keys(s.properties)).toEqual(expect.arrayContaining(['name', 'services', 'environments', 'backup']));
  });
  it('stacks/stack.schema.json (what the stack files point editors at) is the current schema', () => {
    const committed = JSON.parse(readFileSync(path.join(ROOT, 'stacks', 'stack.schema.json'), 'utf8'));
    expect(committed, 'regenerate: node bin/lifeops.js schema > stacks/stack.schema.json').toEqual(jsonSchema());
    for (const f of ['demo', 'lifeos', 'commandcenter', 'aiia']) expect(readFileSync(path.join(ROOT, 'stacks', `${f}.yaml`), 'utf8')).toMatch(/^# yaml-language-server: \$schema=\.\/stack\.schema\.json\n/);
  });
  it('suggests close words only', () => {
    expect(didYouMean('servces', ['services', 'name'])).toBe('services');
    expect(didYouMean('zzzzzz', ['services', 'name'])).toBeUndefined();
  });
});

describe('the CLI on bad input', () => {
  it('exits 2 with file:line and no stack trace', async () => {
    const f = stackFile('cli-bad.yaml', MINIMAL.replace('role: web', 'role: webb'));
    const r = await lifeops(['-f', f, 'render', '--env', 'local'], { env: { DB_PASSWORD: 'x' } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/cli-bad\.yaml:5:11: services\.web\.role/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it('exits 2 on unknown options', async () => {
    const r = await lifeops(['-f', path.join(ROOT, 'stacks/demo.yaml'), 'status', '--bogus']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("unknown option '--bogus'");
  });
  it('never prints a secret in an error', async () => {
    const f = stackFile('cli-secret.yaml', MINIMAL.replace('image: shop/web:${VERSION:-1.0}', 'image: shop/web\n    replicas: ${DB_PASSWORD}'));
    const r = await lifeops(['-f', f, 'render', '--env', 'local'], { env: { DB_PASSWORD: 'super-secret-value-123' } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).not.toContain('super-secret-value-123');
    expect(r.stderr).toContain('services.web.replicas');
  });
  it("masks a secret from the environment's env_file in the final error line too", async () => {
    // the demo's local environment reads POSTGRES_PASSWORD from demo.local.env, not from the process
    const secret = 'demo-local-password-not-secret';
    const r = await lifeops(['-f', path.join(ROOT, 'stacks/demo.yaml'), '--state-dir', mkdtempSync(path.join(os.tmpdir(), 'lifeops-mask-')), 'backups', 'show', secret, '--env', 'local']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/lifeops: error: unknown backup \*+: no such folder/);
    expect(r.stderr).not.toContain(secret);
  });
});
