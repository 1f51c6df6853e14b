// Moving in (issue 12): the first deploy over a stack plain compose started
// keeps the containers whose configuration is the one lifeops renders, its own
// additions aside. Proved with the real `docker compose config --hash` (v2,
// host binary, no engine): the plain form of the rendered file hashes like the
// original compose file, service by service; and the plan keeps exactly the
// services whose running containers carry that hash and no lifeops label.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { importCompose } from '../../src/import/compose.js';
import { loadStack } from '../../src/config/load.js';
import { parseEnvText } from '../../src/config/envfile.js';
import { renderAll, composeFiles } from '../../src/render/index.js';
import { plainComposeText, plainService } from '../../src/render/compose-adopt.js';
import { keepAdopted } from '../../src/plan/adopt.js';
import { parseHashes, planRollout, type ObservedContainer } from '../../src/plan/rollout.js';

const COMPOSE = `name: adoptunit
services:
  db:
    image: postgres:16
    environment: { POSTGRES_USER: shop, POSTGRES_PASSWORD: unit-pass-0a1b2c3d, POSTGRES_DB: shop }
    volumes: [pgdata:/var/lib/postgresql/data]
    healthcheck: { test: ["CMD-SHELL", "pg_isready -U shop"], interval: 2s, timeout: 10s, retries: 150, start_period: 30s }
    restart: unless-stopped
  cache:
    image: redis:7
    command: ["redis-server", "--appendonly", "yes"]
    volumes: [redisdata:/data]
    healthcheck: { test: ["CMD", "redis-cli", "ping"], interval: 2s }
  web:
    image: example/app:v1
    command: gunicorn -b 0.0.0.0:8000 app:application
    environment: { DATABASE_URL: "postgresql://shop:unit-pass-0a1b2c3d@db:5432/shop" }
    healthcheck: { test: ["CMD", "curl", "-fsS", "http://127.0.0.1:8000/health"], interval: 2s }
    restart: unless-stopped
  front:
    image: nginx:1.25
    ports: ["127.0.0.1:19399:80"]
    volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro"]
    depends_on: [web]
    restart: unless-stopped
volumes:
  pgdata:
  redisdata:
`;

async function hashes(file: string, env: Record<string, string>): Promise<Record<string, string>> {
  const r = await execa('docker', ['compose', '-p', 'adoptunit', '-f', file, 'config', '--hash', '*'], { reject: false, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, extendEnv: false, cwd: path.dirname(file) });
  expect(r.exitCode, r.stderr).toBe(0);
  return parseHashes(r.stdout);
}

function setup() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-adopt-unit-'));
  writeFileSync(path.join(dir, 'docker-compose.yml'), COMPOSE);
  writeFileSync(path.join(dir, 'nginx.conf'), 'events {}\n');
  const outFile = path.join(dir, 'stack.yaml');
  const result = importCompose({ composeText: COMPOSE, composeFile: path.join(dir, 'docker-compose.yml'), outFile, envFileName: 'stack.env' });
  const doc = parse(result.stack);
  doc.services.web.http = { port: 8000, health: '/health' };
  writeFileSync(outFile, stringify(doc));
  writeFileSync(path.join(dir, 'stack.env'), result.env);
  const stack = loadStack({ file: outFile, processEnv: {}, env: 'production' });
  const renderDir = path.join(dir, 'render');
  mkdirSync(renderDir, { recursive: true });
  const files = renderAll(stack, { renderDir });
  const compose = composeFiles(files);
  expect(compose).toEqual(['docker-compose.yml']);
  const rendered = files.find((f) => f.path === 'docker-compose.yml')!.content;
  return { dir, stack, renderDir, rendered, env: parseEnvText(result.env) };
}

const container = (service: string, hash: string, labels: Record<string, string> = {}): ObservedContainer => ({
  id: `${service}1`, name: `adoptunit-${service}-1`, service, state: 'running', health: 'healthy', imageId: 'sha256:x', labels: { 'com.docker.compose.config-hash': hash, ...labels },
});

describe('adoption: the plain form of the rendered compose file', () => {
  it('hashes like the compose file plain compose started, service by service (real docker compose config --hash)', async () => {
    const { dir, stack, renderDir, rendered, env } = setup();
    const original = await hashes(path.join(dir, 'docker-compose.yml'), {});
    writeFileSync(path.join(renderDir, 'docker-compose.yml'), rendered);
    const lifeops = await hashes(path.join(renderDir, 'docker-compose.yml'), env);
    writeFileSync(path.join(renderDir, 'plain.yml'), plainComposeText(stack, rendered));
    const plain = await hashes(path.join(renderDir, 'plain.yml'), env);
    // lifeops' own render differs (labels, log rotation, init for postgres) ...
    for (const s of ['db', 'cache', 'web', 'front']) expect(lifeops[s], s).not.toBe(original[s]);
    // ... its plain form does not
    expect(plain).toEqual(original);
  });

  it("strips only lifeops' additions: a changed command, port or volume still differs", async () => {
    const { dir, stack, renderDir, rendered, env } = setup();
    const original = await hashes(path.join(dir, 'docker-compose.yml'), {});
    const changed = rendered.replace('--appendonly', '--appendfsync').replace('127.0.0.1:19399:80', '127.0.0.1:19398:80').replace('pgdata:/var/lib/postgresql/data', 'pgdata:/var/lib/pg');
    writeFileSync(path.join(renderDir, 'plain.yml'), plainComposeText(stack, changed));
    const plain = await hashes(path.join(renderDir, 'plain.yml'), env);
    for (const s of ['db', 'cache', 'front']) expect(plain[s], s).not.toBe(original[s]);
    expect(plain.web).toBe(original.web);
  });

  it('keeps a label the user wrote, and healthcheck timings other than the defaults', () => {
    const { stack } = setup();
    const out = plainService(stack, 'cache', { labels: { 'lifeops.role': 'redis', team: 'core' }, healthcheck: { test: ['CMD', 'x'], interval: '2s', timeout: '30s', retries: 3, start_period: '0s' }, restart: 'no', logging: { driver: 'json-file' } });
    expect(out).toEqual({ labels: { team: 'core' }, healthcheck: { test: ['CMD', 'x'], interval: '2s' } });
  });
});

describe('adoption: the plan keeps containers plain compose started with the same configuration', () => {
  const { stack } = setup();
  const lifeopsHashes = { db: 'l-db', cache: 'l-cache', web: 'l-web', front: 'l-front' };
  const plainHashes = { db: 'p-db', cache: 'p-cache', web: 'p-web', front: 'p-front' };

  it('db, cache and a hand-written front are kept; web still rolls', () => {
    const containers = ['db', 'cache', 'web', 'front'].map((s) => container(s, `p-${s}`));
    const plan = keepAdopted(planRollout(stack, containers, lifeopsHashes), containers, plainHashes);
    expect(plan.recreate).toEqual([]);
    expect(plan.rolling).toEqual(['web']);
    expect(plan.unchanged.sort()).toEqual(['cache', 'db', 'front']);
    expect(plan.decisions.find((d) => d.service === 'db')).toMatchObject({ action: 'keep', reason: expect.stringContaining('adopted') });
  });

  it('a changed configuration, a container lifeops started, or no plain hashes: recreated as before', () => {
    const containers = [container('db', 'p-db-old'), container('cache', 'p-cache', { 'lifeops.stack': 'adoptunit' }), container('web', 'p-web'), container('front', 'p-front')];
    const plan = keepAdopted(planRollout(stack, containers, lifeopsHashes), containers, plainHashes);
    expect(plan.recreate.sort()).toEqual(['cache', 'db']);
    expect(plan.unchanged).toEqual(['front']);
    const without = keepAdopted(planRollout(stack, containers, lifeopsHashes), containers, undefined);
    expect(without.recreate.sort()).toEqual(['cache', 'db', 'front']);
  });

  it('a stopped container is not kept', () => {
    const containers = ['db', 'cache', 'web', 'front'].map((s) => container(s, `p-${s}`));
    containers[0] = { ...containers[0], state: 'exited' };
    const plan = keepAdopted(planRollout(stack, containers, lifeopsHashes), containers, plainHashes);
    expect(plan.recreate).toContain('db');
  });
});
