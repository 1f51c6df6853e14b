// lifeops validate: missing validators are SKIPPED (never OK), a broken file
// FAILs with exit 1; property-based: random valid service maps render compose
// files docker-compose accepts, random invalid values give a ConfigError with
// a key path, never a crash.
import { describe, it, expect, afterAll } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { execa } from 'execa';
import { loadStack } from '../../src/config/load.js';
import { renderAll, composeFiles } from '../../src/render/index.js';
import { writeRendered } from '../../src/flows/render.js';
import { ConfigError } from '../../src/errors.js';
import { validateStack, formatResult } from '../../src/flows/validate.js';
import { realEffects } from '../../src/flows/effects.js';
import { detectCompose } from '../../src/clients/compose-detect.js';
import { lifeops } from '../helpers.js';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function stackFile(doc: unknown, extra: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-validate-test-'));
  made.push(dir);
  const file = path.join(dir, 'stack.yaml');
  writeFileSync(file, typeof doc === 'string' ? doc : stringify(doc));
  for (const [p, c] of Object.entries(extra)) {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    writeFileSync(path.join(dir, p), c);
  }
  return file;
}

const SMALL = {
  name: 'vt',
  default_environment: 'local',
  services: {
    web: { role: 'web', image: 'example/web:1', http: { port: 8000 }, gunicorn: { module: 'app:application', workers: 2 } },
    cache: { role: 'redis', image: 'redis:7' },
    front: { role: 'front', image: 'nginx:1.25', ports: ['127.0.0.1:18080:80'] },
  },
  redis: { service: 'cache' },
  front: { kind: 'nginx', service: 'front', domains: [{ name: 'localhost', upstream: 'web' }] },
  environments: { local: {} },
};

describe('validate', () => {
  it('without docker, the container validators are SKIPPED, never OK', async () => {
    const stack = loadStack({ file: stackFile(SMALL), processEnv: {} });
    const report = await validateStack(stack, { effects: realEffects, docker: false });
    const redis = report.results.find((r) => r.file === 'redis/redis.conf')!;
    expect(redis.status).toBe('SKIPPED');
    expect(formatResult(redis)).toMatch(/SKIPPED \(validator not installed\)/);
    expect(report.results.find((r) => r.file === 'gunicorn/web.conf.py')!.status).toBe('OK');
    expect(report.results.find((r) => r.file === 'docker-compose.yml')!.status).toBe('OK');
    expect(report.ok).toBe(true);
  });

  it('a broken template override FAILs its validator and the CLI exits 1', async () => {
    const doc = { ...SMALL, templates: { 'nginx/nginx.conf': 'broken-nginx.conf' } };
    const file = stackFile(doc, { 'broken-nginx.conf': 'events {}\nhttp { server { listen 80; bogus_directive on; } }\n' });
    const r = await lifeops(['-f', file, 'validate', '--env', 'local', '--no-docker']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/nginx\/nginx\.conf\s+FAIL\s+nginx -t/);
    expect(r.stdout).toMatch(/bogus_directive/);
  });

  it('--json lists every rendered file once', async () => {
    const file = stackFile(SMALL);
    const r = await lifeops(['-f', file, 'validate', '--env', 'local', '--json', '--no-docker']);
    expect(r.exitCode).toBe(0);
    const report = JSON.parse(r.stdout);
    const files = renderAll(loadStack({ file, processEnv: {} }), { renderDir: '/tmp/x' }).map((f) => f.path).sort();
    expect(report.results.map((x: { file: string }) => x.file).sort()).toEqual(files);
  });
});

// --- property-based -----------------------------------------------------------

const svcName = fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/);
const memory = fc.tuple(fc.integer({ min: 16, max: 2048 }), fc.constantFrom('M', 'm', 'MB', 'G')).map(([n, u]) => (u === 'G' ? `${Math.max(1, n % 4)}G` : `${n}${u}`));
const durationArb = fc.tuple(fc.integer({ min: 1, max: 120 }), fc.constantFrom('s', 'm', 'ms')).map(([n, u]) => `${n}${u}`);
const envKey = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,12}$/);
const envVal = fc.oneof(fc.string({ maxLength: 20 }).filter((s) => !s.includes('$') && !/[\u0000-\u001f]/.test(s)), fc.integer(), fc.boolean());

const serviceArb = fc.record({
  image: fc.constantFrom('redis:7', 'nginx:1.25', 'example/app:1.0', 'postgres:16'),
  role: fc.constantFrom('web', 'worker', 'other', 'job'),
  environment: fc.dictionary(envKey, envVal, { maxKeys: 3 }),
  command: fc.option(fc.array(fc.constantFrom('run', '--flag', 'x y', "it's"), { minLength: 1, maxLength: 3 }), { nil: undefined }),
  resources: fc.option(fc.record({ limits: fc.record({ memory, cpus: fc.constantFrom(0.25, 0.5, 1, 2) }) }), { nil: undefined }),
  stop_grace_period: fc.option(durationArb, { nil: undefined }),
  restart: fc.constantFrom('no', 'always', 'on-failure', 'unless-stopped'),
  hostPort: fc.option(fc.integer({ min: 20000, max: 60000 }), { nil: undefined }),
  healthcheck: fc.option(fc.record({ test: fc.constantFrom('true', 'exit 0'), interval: durationArb, retries: fc.integer({ min: 1, max: 5 }) }), { nil: undefined }),
});

describe('property: random valid service maps render compose files docker-compose accepts', () => {
  it('docker-compose config -q passes (numRuns 15)', async () => {
    const compose = await detectCompose();
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(svcName, serviceArb), { minLength: 1, maxLength: 4, selector: ([n]) => n }), async (list) => {
        const services: Record<string, unknown> = {};
        const names: string[] = [];
        const usedPorts = new Set<number>();
        for (const [name, s] of list) {
          const { hostPort, ...rest } = s;
          const svc: Record<string, unknown> = { ...rest };
          for (const k of Object.keys(svc)) if (svc[k] === undefined) delete svc[k];
          // a valid map publishes each host port once (lifeops refuses a second publisher, rightly)
          if (hostPort && !usedPorts.has(hostPort)) {
            usedPorts.add(hostPort);
            svc.ports = [`127.0.0.1:${hostPort}:80`];
          }
          if (names.length && s.role === 'worker') svc.depends_on = { [names[0]]: 'started' };
          services[name] = svc;
          names.push(name);
        }
        const file = stackFile({ name: 'prop', default_environment: 'local', services, environments: { local: {} } });
        const stack = loadStack({ file, processEnv: {} });
        const dir = path.join(path.dirname(file), 'render');
        const files = renderAll(stack, { renderDir: dir });
        writeRendered(files, dir);
        const r = await execa(compose.argv[0], [...compose.argv.slice(1), '-p', 'prop', ...composeFiles(files).flatMap((f) => ['-f', path.join(dir, f)]), 'config', '-q'], { reject: false, all: true, cwd: dir });
        expect(r.exitCode, `${r.all}\n${files.find((f) => f.path === 'docker-compose.yml')!.content}`).toBe(0);
      }),
      { numRuns: 15 },
    );
  }, 240_000);
});

describe('property: random invalid values give a ConfigError with a key path, never a crash', () => {
  const bad = fc.oneof(
    fc.record({ kind: fc.constant('port' as const), value: fc.oneof(fc.integer({ min: 65536, max: 10_000_000 }), fc.integer({ max: 0 }), fc.constantFrom('abc', '80x', '1.5')) }),
    fc.record({ kind: fc.constant('duration' as const), value: fc.oneof(fc.constantFrom('10', '5 s', '1y', 's', '-3s', '1.5s'), fc.string({ maxLength: 6 }).filter((s) => !/^\d+(ms|s|m|h|d)$/.test(s))) }),
    fc.record({ kind: fc.constant('name' as const), value: fc.oneof(fc.constantFrom('Web', '1web', 'we b', 'web!', '-x', ''), fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !/^[a-z][a-z0-9_-]*$/.test(s))) }),
    fc.record({ kind: fc.constant('memory' as const), value: fc.oneof(fc.constantFrom('lots', '12X', 'M', '-1M'), fc.string({ maxLength: 5 }).filter((s) => !/^\d+(\.\d+)?[kmg]b?$/i.test(s))) }),
  );
  it('loadStack throws ConfigError naming the key (numRuns 60)', () => {
    fc.assert(
      fc.property(bad, ({ kind, value }) => {
        const doc: any = structuredClone(SMALL);
        let key: string;
        if (kind === 'port') {
          doc.services.web.http.port = value;
          key = 'services.web.http.port';
        } else if (kind === 'duration') {
          doc.services.web.stop_grace_period = value;
          key = 'services.web.stop_grace_period';
        } else if (kind === 'name') {
          doc.services[value as string] = { image: 'x:1' };
          key = 'services.';
        } else {
          doc.services.web.resources = { limits: { memory: value } };
          key = 'services.web.resources.limits.memory';
        }
        let err: unknown;
        try {
          loadStack({ file: stackFile(doc), processEnv: {} });
        } catch (e) {
          err = e;
        }
        expect(err, `${kind}=${JSON.stringify(value)} was accepted`).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).exitCode).toBe(2);
        expect((err as Error).message).toContain(key);
        expect((err as Error).message).toMatch(/stack\.yaml:\d+:\d+:/);
      }),
      { numRuns: 60 },
    );
  });
});
