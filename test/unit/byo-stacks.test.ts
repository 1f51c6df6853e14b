// Real applications' compose deployments as stack files (test/fixtures/byo/,
// written for these tests after the shape of well-known open-source apps):
// they load, render, pass both compose implementations' `config -q` (v1's
// docker-compose and v2's `docker compose`, host binaries, no engine) and
// `lifeops validate` without containers (host nginx -t, gunicorn
// --check-config, make -n ...). Nothing is started.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import type { Stack } from '../../src/config/schema.js';
import { renderAll, composeFiles, type RenderedFile } from '../../src/render/index.js';
import { validateStack } from '../../src/flows/validate.js';
import { realEffects } from '../../src/flows/effects.js';
import { ROOT } from '../helpers.js';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'byo');
const SECRETS = { POSTGRES_PASSWORD: 'dummy-postgres-password-0123456789', ARCHIVE_SECRET_KEY: 'dummy-archive-secret-0123456789' };

function load(name: string, env = 'production'): Stack {
  return loadStack({ file: path.join(FIXTURES, name, 'stack.yaml'), env, processEnv: { ...SECRETS } });
}

function renderTo(stack: Stack): { dir: string; files: RenderedFile[]; byPath: Record<string, string> } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `lifeops-byo-${stack.name}-`));
  const files = renderAll(stack, { renderDir: dir });
  for (const f of files) {
    mkdirSync(path.dirname(path.join(dir, f.path)), { recursive: true });
    writeFileSync(path.join(dir, f.path), f.content);
  }
  return { dir, files, byPath: Object.fromEntries(files.map((f) => [f.path, f.content])) };
}

/** `config -q` of both compose implementations over the rendered compose files. */
async function composeConfig(stack: Stack, dir: string, files: RenderedFile[]): Promise<{ impl: string; exitCode: number; out: string }[]> {
  const args = ['-p', stack.project, ...composeFiles(files).flatMap((f) => ['-f', path.join(dir, f)]), 'config', '-q'];
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...stack.vars };
  const out = [];
  for (const [bin, pre] of [['docker-compose', []], ['docker', ['compose']]] as const) {
    const r = await execa(bin, [...pre, ...args], { reject: false, all: true, env, extendEnv: false, cwd: dir });
    out.push({ impl: [bin, ...pre].join(' '), exitCode: r.exitCode ?? -1, out: String(r.all) });
  }
  return out;
}

describe('fixture stacks of real applications', () => {
  for (const name of ['archive', 'social']) {
    it(`${name}: loads, renders, and passes docker-compose config -q and docker compose config -q`, async () => {
      const stack = load(name);
      const { dir, files } = renderTo(stack);
      const results = await composeConfig(stack, dir, files);
      for (const r of results) expect(r.exitCode, `${r.impl}: ${r.out}`).toBe(0);
    });

    it(`${name}: lifeops validate without containers passes (host nginx -t among the validators)`, async () => {
      const report = await validateStack(load(name), { effects: realEffects, docker: false });
      const failed = report.results.filter((r) => r.status === 'FAIL');
      expect(failed, JSON.stringify(failed, null, 1)).toEqual([]);
      const nginx = report.results.find((r) => r.file === 'nginx/nginx.conf');
      expect(nginx?.status).toBe('OK');
      expect(nginx?.validator).toMatch(/^nginx -t/);
      expect(report.results.find((r) => r.file === 'docker-compose.yml')?.status).toBe('OK');
    }, 120_000);
  }

  it('archive: merge keys, external volumes under the old project, env_file relative to the stack, two Redis, an ASGI worker class', () => {
    const stack = load('archive');
    expect(stack.project).toBe('archive');
    expect(load('archive', 'staging').project).toBe('archive-staging');
    const { dir, byPath } = renderTo(stack);
    const compose = parse(byPath['docker-compose.yml']);
    // <<: *app reached every app service, with each one's own keys on top
    for (const s of ['web', 'worker', 'beat']) {
      expect(compose.services[s].image).toBe('registry.example.org/archive/app:2.7.1');
      expect(compose.services[s].environment.ARCHIVE_DBPASS).toBe('${POSTGRES_PASSWORD}');
      expect(compose.services[s].depends_on.db.condition).toBe('service_healthy');
      // env/app.env is the file beside the stack file, seen from the render folder
      expect(compose.services[s].env_file).toHaveLength(1);
      expect(existsSync(path.resolve(dir, compose.services[s].env_file[0]))).toBe(true);
      expect(path.resolve(dir, compose.services[s].env_file[0])).toBe(path.join(FIXTURES, 'archive', 'env', 'app.env'));
    }
    expect(compose.services.worker.command[0]).toBe('celery');
    expect(compose.services.web.volumes).toContain('media:/usr/src/archive/media');
    expect(compose['x-app']).toBeUndefined();
    expect(compose.volumes).toEqual({ brokerdata: {}, media: { external: true, name: 'archive_media' }, pgdata: { external: true, name: 'archive_pgdata' } });
    expect(compose.services.db.shm_size).toBe('256m');
    expect(compose.services.worker.tmpfs).toEqual(['/tmp', '/run:size=16m']);
    expect(compose.services.beat.tmpfs).toBe('/tmp');
    // compose's healthcheck defaults where the stack gives no timings
    expect(compose.services.db.healthcheck).toMatchObject({ interval: '30s', timeout: '30s', retries: 3, start_period: '0s' });
    // the broker's plain-words command took the redis: block; the second Redis kept its own
    expect(compose.services.broker.command).toEqual(['redis-server', '/usr/local/etc/redis/redis.conf', '--loglevel', 'warning']);
    expect(byPath['redis/redis.conf']).toMatch(/^appendonly yes$/m);
    expect(compose.services.cache.command).toEqual(['redis-server', '--save', '', '--maxmemory', '128mb', '--maxmemory-policy', 'allkeys-lru']);
    expect(byPath['gunicorn/web.conf.py']).toMatch(/worker_class = "uvicorn\.workers\.UvicornWorker"/);
    expect(byPath['nginx/conf.d/archive.example.org.conf']).toMatch(/proxy_read_timeout 300s;/);
  });

  it('social: declared networks (one internal), the front on its upstreams\' networks, a websocket path to the streaming server, /health left to the app', () => {
    const stack = load('social');
    const { byPath } = renderTo(stack);
    const compose = parse(byPath['docker-compose.yml']);
    expect(compose.networks).toEqual({ default: {}, backend: { internal: true }, external_network: {}, internal_network: { internal: true } });
    expect(compose.services.db.networks).toEqual(['internal_network']);
    expect(compose.services.web.networks).toEqual(['external_network', 'internal_network']);
    expect(compose.services.front.networks).toEqual(['default', 'external_network', 'internal_network']);
    expect(compose.services.console).toMatchObject({ stdin_open: true, tty: true, profiles: ['tools'] });
    expect(compose.volumes.pg14).toEqual({ external: true, name: 'social_pg14' });
    const site = byPath['nginx/conf.d/social.example.org.conf'];
    const streaming = /location \/api\/v1\/streaming \{([\s\S]*?)\n    \}/.exec(site)?.[1] ?? '';
    expect(streaming).toMatch(/set \$upstream http:\/\/streaming:4000;/);
    expect(streaming).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(streaming).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    expect(streaming).toMatch(/proxy_read_timeout 3600s;/);
    expect(streaming).toMatch(/proxy_buffering off;/);
    expect(site).toMatch(/location \/system\/ \{[\s\S]*?proxy_read_timeout 120s;/);
    expect(site).not.toMatch(/location = \/health/);
    expect(byPath['nginx/nginx.conf']).toMatch(/map \$http_upgrade \$connection_upgrade/);
  });
});
