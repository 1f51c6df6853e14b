// The seed systems as stacks: every stack in stacks/ loads and renders for every
// environment it declares, byte-identically twice, equal to its golden files
// (UPDATE_GOLDEN=1 rewrites them), and passes `lifeops validate` with the real
// validators (dummy secrets in the environment; validators start containers
// with --network none only).
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import { readStackSource, environmentNames } from '../../src/config/stack-yaml.js';
import { renderAll, type RenderedFile } from '../../src/render/index.js';
import { readRenderedDir } from '../../src/flows/render.js';
import { ROOT, lifeops } from '../helpers.js';

/** Long dummy secrets for every variable the seed stacks require. */
export const DUMMY_SECRETS: Record<string, string> = {
  POSTGRES_PASSWORD: 'dummy-postgres-password-0123456789abcdef',
  SECRET_KEY: 'dummy-secret-key-0123456789abcdef0123456789',
  JWT_SECRET_KEY: 'dummy-jwt-secret-key-0123456789abcdef012345',
  DB_PASSWORD: 'dummy-db-password-0123456789abcdef01234567',
  DJANGO_SECRET_KEY: 'dummy-django-secret-key-0123456789abcdef0123',
  DJANGO_STAGING_SECRET_KEY: 'dummy-django-staging-key-0123456789abcdef012',
};

export const SEED_STACKS = ['lifeos', 'commandcenter', 'aiia'];
const STACKS_DIR = path.join(ROOT, 'stacks');
const GOLDEN = path.join(ROOT, 'test', 'golden');

export function envsOf(name: string): string[] {
  return environmentNames(readStackSource(path.join(STACKS_DIR, `${name}.yaml`)));
}

const GOLDEN_OWNER = { id: '0123456789abcdef', dir: '/srv/lifeops/state', host: 'golden-host' };

/** Render with a render dir inside the stack folder so relative paths in the output are stable. */
export function renderSeed(name: string, env: string): RenderedFile[] {
  const stack = loadStack({ file: path.join(STACKS_DIR, `${name}.yaml`), env, processEnv: { ...DUMMY_SECRETS } });
  // a fixed state dir in charge (the CLI sets the real one): the goldens show the labels every container carries
  return renderAll({ ...stack, owner: GOLDEN_OWNER }, { renderDir: path.join(STACKS_DIR, '.lifeops', 'render', env) });
}

const update = process.env.UPDATE_GOLDEN === '1';

describe('seed stacks', () => {
  it('every stack in stacks/ has environments, and the three seed stacks exist', () => {
    const files = readdirSync(STACKS_DIR).filter((f) => f.endsWith('.yaml'));
    for (const s of SEED_STACKS) expect(files).toContain(`${s}.yaml`);
    for (const s of SEED_STACKS) expect(envsOf(s).length).toBeGreaterThan(0);
  });

  it('no secret value appears in any stack file (only ${VAR} references)', () => {
    for (const s of SEED_STACKS) {
      const text = readFileSync(path.join(STACKS_DIR, `${s}.yaml`), 'utf8');
      for (const m of text.matchAll(/^\s*([A-Z_]*(PASSWORD|SECRET|TOKEN|KEY)[A-Z_]*):\s*(.+)$/gm)) expect(m[3].trim(), `${s}: ${m[1]}`).toMatch(/^"?\$\{/);
    }
  });

  for (const name of SEED_STACKS) {
    for (const env of envsOf(name)) {
      it(`${name}/${env}: renders byte-identically twice and matches test/golden/${name}/${env}`, () => {
        const t0 = performance.now();
        const a = renderSeed(name, env);
        const ms = performance.now() - t0;
        const b = renderSeed(name, env);
        expect(b).toEqual(a);
        const dir = path.join(GOLDEN, name, env);
        if (update) {
          rmSync(dir, { recursive: true, force: true });
          for (const f of a) {
            mkdirSync(path.dirname(path.join(dir, f.path)), { recursive: true });
            writeFileSync(path.join(dir, f.path), f.content);
          }
        }
        expect(existsSync(dir), `no golden files: run UPDATE_GOLDEN=1 npx vitest run test/stacks.test.ts`).toBe(true);
        const golden = readRenderedDir(dir);
        expect(golden.map((f) => f.path).sort()).toEqual(a.map((f) => f.path).sort());
        for (const f of a) expect(f.content, `${name}/${env}/${f.path} differs from its golden file (UPDATE_GOLDEN=1 to accept)`).toBe(golden.find((g) => g.path === f.path)!.content);
        for (const f of a) for (const secret of Object.values(DUMMY_SECRETS)) expect(f.content.includes(secret), `${f.path} contains a secret value`).toBe(false);
        console.log(`render ${name}/${env}: ${a.length} files in ${ms.toFixed(1)} ms (first render, incl. load)`);
      });
    }
  }

  it('seed numbers reach the rendered files', () => {
    const lifeos = Object.fromEntries(renderSeed('lifeos', 'production').map((f) => [f.path, f.content]));
    expect(lifeos['gunicorn/web.conf.py']).toMatch(/workers = multiprocessing\.cpu_count\(\) \* 2 \+ 1/);
    expect(lifeos['gunicorn/web.conf.py']).toMatch(/threads = 4/);
    expect(lifeos['gunicorn/web.conf.py']).toMatch(/timeout = 60/);
    expect(lifeos['gunicorn/web.conf.py']).toMatch(/max_requests = 10000/);
    expect(lifeos['prometheus/prometheus.yml']).toMatch(/scrape_interval: 15s/);
    expect(lifeos['docker-compose.monitoring.yml']).toMatch(/retention\.time=15d/);
    const dev = Object.fromEntries(renderSeed('lifeos', 'development').map((f) => [f.path, f.content]));
    expect(dev['gunicorn/web.conf.py']).toMatch(/workers = 2\b/);
    const aiia = Object.fromEntries(renderSeed('aiia', 'production').map((f) => [f.path, f.content]));
    expect(aiia['postgres/postgresql.conf']).toMatch(/shared_buffers = '?128MB'?/);
    expect(aiia['postgres/postgresql.conf']).toMatch(/max_connections = 50\b/);
    expect(aiia['pgbouncer/pgbouncer.ini']).toMatch(/pool_mode = transaction/);
    expect(aiia['pgbouncer/pgbouncer.ini']).toMatch(/max_client_conn = 100\b/);
    expect(aiia['redis/redis.conf']).toMatch(/maxmemory 52428800\b/);
    expect(aiia['redis/redis.conf']).toMatch(/allkeys-lru/);
    expect(aiia['nginx/nginx.conf']).toMatch(/rate=200r\/s/);
    expect(aiia['nginx/nginx.conf']).toMatch(/rate=500r\/s/);
    expect(Object.keys(aiia)).toEqual(expect.arrayContaining(['nginx/conf.d/eduaiia.com.conf', 'nginx/conf.d/staging.eduaiia.com.conf', 'nginx/conf.d/devstatus.eduaiia.com.conf']));
    expect(aiia['nginx/conf.d/devstatus.eduaiia.com.conf']).toMatch(/auth_basic/);
    expect(aiia['nginx/conf.d/eduaiia.com.conf']).toMatch(/expires 30d/);
    const cc = Object.fromEntries(renderSeed('commandcenter', 'production').map((f) => [f.path, f.content]));
    expect(cc['traefik/traefik.yml']).toMatch(/letsencrypt/);
    expect(cc['gunicorn/backend.conf.py']).toMatch(/uvicorn\.workers\.UvicornWorker/);
    expect(cc['docker-compose.monitoring.yml']).toMatch(/loki/);
  });
});

describe('front routes', () => {
  // Traefik routes by labels on the upstream container: a domain whose upstream
  // carries no labels (Grafana lives in the monitoring override) routes nowhere.
  for (const name of SEED_STACKS) {
    for (const env of envsOf(name)) {
      const stack = loadStack({ file: path.join(STACKS_DIR, `${name}.yaml`), env, processEnv: { ...DUMMY_SECRETS } });
      if (stack.front?.kind !== 'traefik') continue;
      it(`${name}/${env}: every Traefik domain has a router on its upstream service`, () => {
        const files = Object.fromEntries(renderSeed(name, env).map((f) => [f.path, f.content]));
        const services: Record<string, { labels?: Record<string, string> }> = {};
        for (const f of ['docker-compose.yml', 'docker-compose.monitoring.yml']) if (files[f]) Object.assign(services, parseYaml(files[f]).services);
        for (const d of stack.front!.domains) {
          const labels = services[d.upstream]?.labels ?? {};
          const rules = Object.entries(labels).filter(([k, v]) => /^traefik\.http\.routers\.[^.]+\.rule$/.test(k) && v.includes(`Host(\`${d.name}\`)`));
          expect(rules, `${d.name} -> ${d.upstream}`).toHaveLength(1);
          expect(labels['traefik.enable']).toBe('true');
          if (d.basic_auth) expect(Object.keys(labels).some((k) => k.endsWith('.basicauth.users')), `${d.name} basic auth`).toBe(true);
        }
      });
    }
  }
});

describe('lifeops validate on every seed stack and environment (real validators)', () => {
  for (const name of SEED_STACKS) {
    for (const env of envsOf(name)) {
      it(`${name}/${env}`, async () => {
        const r = await lifeops(['-f', `stacks/${name}.yaml`, 'validate', '--env', env, '--json'], { env: { ...DUMMY_SECRETS, PATH: process.env.PATH ?? '' } });
        const report = JSON.parse(r.stdout);
        const failed = report.results.filter((x: { status: string }) => x.status === 'FAIL');
        expect(failed, JSON.stringify(failed, null, 1)).toEqual([]);
        expect(r.exitCode).toBe(0);
        // Nothing is reported as passed without a validator having run.
        for (const x of report.results) if (x.status === 'OK') expect(x.validator).not.toBe('none');
        const byFile = Object.fromEntries(report.results.map((x: { file: string; status: string }) => [x.file, x.status]));
        expect(byFile['docker-compose.yml']).toBe('OK');
        if (byFile['nginx/nginx.conf']) expect(byFile['nginx/nginx.conf']).toBe('OK');
        if (byFile['prometheus/prometheus.yml']) expect(byFile['prometheus/prometheus.yml']).toBe('OK');
        if (byFile['traefik/traefik.yml']) expect(byFile['traefik/traefik.yml']).toBe('SKIPPED');
      }, 300_000);
    }
  }
});
