// Moving in (issue 12): a stack started with plain `docker compose` (v2),
// holding rows in Postgres and a key in Redis's named volume, is imported
// with `lifeops import` and adopted by the first `lifeops deploy` (same
// compose project name, same volume names): the data is still there, and the
// web service rolls under a bounded load through the front on 127.0.0.1.
// Project byoadopt, host port 19301. The two app images its plain compose file
// names (lifeops/demo-app:v1, :v2) are built here from demo/app, so the file
// passes alone and first on a fresh clone (no other test has to build them).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { ROOT, lifeops } from '../helpers.js';

const PROJECT = 'byoadopt';
const PORT = 19301;
const DB_PASSWORD = 'adopt-Db-pass-7f3a9c21e5b84d06-9a1c2e44';

const COMPOSE = `name: ${PROJECT}
services:
  db:
    image: lifeops/postgres:15
    environment:
      POSTGRES_USER: shop
      POSTGRES_PASSWORD: ${DB_PASSWORD}
      POSTGRES_DB: shop
    volumes: [pgdata:/var/lib/postgresql/data]
    healthcheck: { test: ["CMD-SHELL", "pg_isready -U shop -d shop"], interval: 2s, timeout: 10s, retries: 150, start_period: 30s }
    restart: unless-stopped
  cache:
    image: lifeops/redis:7
    command: ["redis-server", "--appendonly", "yes"]
    volumes: [redisdata:/data]
    healthcheck: { test: ["CMD", "redis-cli", "ping"], interval: 2s, timeout: 10s, retries: 150 }
    restart: unless-stopped
  web:
    image: lifeops/demo-app:v1
    command: gunicorn -b 0.0.0.0:8000 -w 2 --graceful-timeout 10 app:application
    environment:
      APP_VERSION: v1
      DATABASE_URL: postgresql://shop:${DB_PASSWORD}@db:5432/shop
      REDIS_URL: redis://cache:6379/0
    depends_on:
      db: { condition: service_healthy }
      cache: { condition: service_healthy }
    healthcheck: { test: ["CMD", "curl", "-fsS", "http://127.0.0.1:8000/health"], interval: 2s, timeout: 10s, retries: 60 }
    restart: unless-stopped
  front:
    image: lifeops/nginx:local
    ports: ["127.0.0.1:${PORT}:80"]
    volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro"]
    depends_on: [web]
    restart: unless-stopped
volumes:
  pgdata:
  redisdata:
`;

// A front as careful compose users write it: re-resolve the app's name, retry the next address.
const NGINX = `events {}
http {
  resolver 127.0.0.11 valid=1s ipv6=off;
  server {
    listen 80;
    location / {
      set $app web;
      proxy_pass http://$app:8000;
      proxy_connect_timeout 1s;
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 5;
    }
  }
}
`;

const dir = mkdtempSync(path.join(mkdirSync(path.join(ROOT, '.tmp-tests'), { recursive: true }) ?? path.join(ROOT, '.tmp-tests'), 'byo-adopt-'));
const compose = (...args: string[]) => execa('docker', ['compose', '-p', PROJECT, '-f', path.join(dir, 'docker-compose.yml'), ...args], { cwd: dir, reject: false, all: true });
const containerOf = async (svc: string) =>
  (await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--filter', `label=com.docker.compose.service=${svc}`])).stdout.trim().split('\n')[0];
const sql = async (q: string) => (await execa('docker', ['exec', await containerOf('db'), 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-U', 'shop', '-d', 'shop', '-c', q])).stdout.trim();
const redis = async (...a: string[]) => (await execa('docker', ['exec', await containerOf('cache'), 'redis-cli', ...a])).stdout.trim();
const cli = (args: string[]) => lifeops(['-f', path.join(dir, 'stack.yaml'), '--state-dir', path.join(dir, 'state'), ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' } });

/** helpers.loadThroughFront (bounded, 5 s per request, 100 ms apart), also saying what each failure was and when. */
async function loadThroughFront(port: number, done: () => boolean, max: number): Promise<{ ok: number; failed: number; failures: string[] }> {
  let ok = 0;
  const failures: string[] = [];
  for (let i = 0; i < max && !done(); i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
      await r.text();
      if (r.ok) ok++;
      else failures.push(`${new Date().toISOString()} HTTP ${r.status}`);
    } catch (e) {
      failures.push(`${new Date().toISOString()} ${(e as Error).name}: ${(e as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ok, failed: failures.length, failures };
}

beforeAll(async () => {
  // the demo app as its own compose build makes it (one version per tag, APP_VERSION baked in):
  // quick from the build cache when unchanged; the classic builder (no buildx on this client)
  for (const v of ['v1', 'v2']) {
    const b = await execa('docker', ['build', '-q', '--build-arg', `APP_VERSION=${v}`, '-t', `lifeops/demo-app:${v}`, path.join(ROOT, 'demo', 'app')], { reject: false, all: true, env: { DOCKER_BUILDKIT: '0' } });
    if (b.exitCode !== 0) throw new Error(`docker build of lifeops/demo-app:${v} failed:\n${b.all}`);
  }
  const ids = await Promise.all(['v1', 'v2'].map(async (v) => (await execa('docker', ['image', 'inspect', '-f', '{{.Id}}', `lifeops/demo-app:${v}`])).stdout.trim()));
  if (ids[0] === ids[1]) throw new Error('lifeops/demo-app:v1 and :v2 are one image: the version change below would change nothing');
}, 600_000);

afterAll(async () => {
  await compose('down', '--volumes', '--remove-orphans', '--timeout', '5');
  await execa('docker', ['volume', 'rm', '-f', `${PROJECT}_pgdata`, `${PROJECT}_redisdata`], { reject: false });
}, 120_000);

describe('adopting a stack started with plain docker compose', () => {
  it('import + first deploy keep the Postgres rows and the Redis volume; the web service rolls under load through the front', async () => {
    writeFileSync(path.join(dir, 'docker-compose.yml'), COMPOSE);
    writeFileSync(path.join(dir, 'nginx.conf'), NGINX);
    await compose('down', '--volumes', '--remove-orphans', '--timeout', '5');
    // on a busy machine a healthcheck can time out once while the database initialises: ask twice
    let up = await compose('up', '-d', '--wait');
    if (up.exitCode !== 0) up = await compose('up', '-d', '--wait');
    expect(up.exitCode, String(up.all)).toBe(0);
    await sql("CREATE TABLE items(id int PRIMARY KEY, v text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 3000) g");
    const before = await sql("SELECT count(*) || ':' || md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM items");
    await redis('SET', 'adopted', 'yes');
    const plainWeb = await containerOf('web');
    const plain = { db: await containerOf('db'), cache: await containerOf('cache'), front: await containerOf('front') };

    const imp = await lifeops(['import', 'docker-compose.yml', '-o', 'stack.yaml'], { cwd: dir, env: { PATH: process.env.PATH ?? '' } });
    expect(imp.exitCode, imp.stderr).toBe(0);
    expect(imp.stderr + imp.stdout).not.toContain(DB_PASSWORD);
    const stackText = readFileSync(path.join(dir, 'stack.yaml'), 'utf8');
    expect(stackText).not.toContain(DB_PASSWORD);
    const doc = parse(stackText);
    expect(doc.project).toBe(PROJECT);
    expect(doc.services.web.role).toBe('web');
    // lifeops' own key for what it checks over HTTP inside the web container
    doc.services.web.http = { port: 8000, health: '/health', ready: '/ready' };
    writeFileSync(path.join(dir, 'stack.yaml'), stringify(doc));

    // the first deploy, under a bounded load through the front
    let deploying = true;
    const load = loadThroughFront(PORT, () => !deploying, 1500);
    const d = await cli(['deploy', 'production', '--yes']);
    deploying = false;
    const during = await load;
    console.log(`adopting deploy: ${during.failed} failed of ${during.ok + during.failed} requests through the front${during.failures.length ? `:\n  ${during.failures.join('\n  ')}` : ''}`);
    expect(d.exitCode, d.stderr).toBe(0);
    // the database, the cache and the hand-written front run what plain compose started: kept, not recreated
    expect(d.stderr + d.stdout).toMatch(/db\s+keep\s+adopted/);
    for (const [svc, id] of Object.entries(plain)) expect(await containerOf(svc), svc).toBe(id);
    expect(during.ok).toBeGreaterThan(10);
    // No request answered with an error or refused: the front always found a web container. A
    // request can still time out (5 s) on this shared 2-core machine: the front below resolves
    // "web" through Docker's DNS, which lists the new container as soon as it starts, before its
    // gunicorn workers have booted (its socket is bound, so the request waits in the backlog);
    // seen once at load 16-40 (01:18 run of 2026-12-01). Zero of those needs a front that routes
    // by readiness, which a hand-written nginx resolving a service name is not.
    expect(during.failures.filter((f) => !/TimeoutError/.test(f))).toEqual([]);
    expect(d.stderr + d.stdout).not.toContain(DB_PASSWORD);

    // the data written under plain compose is there
    expect(await sql("SELECT count(*) || ':' || md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM items")).toBe(before);
    expect(await redis('GET', 'adopted')).toBe('yes');
    // the same volumes, no new ones
    const vols = (await execa('docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`])).stdout.trim().split('\n').sort();
    expect(vols).toEqual([`${PROJECT}_pgdata`, `${PROJECT}_redisdata`]);
    expect(await containerOf('web')).not.toBe(plainWeb);

    // and from now on a new web version rolls with no failed request
    const v2 = parse(readFileSync(path.join(dir, 'stack.yaml'), 'utf8'));
    v2.services.web.image = 'lifeops/demo-app:v2';
    writeFileSync(path.join(dir, 'stack.yaml'), stringify(v2));
    deploying = true;
    const load2 = loadThroughFront(PORT, () => !deploying, 1500);
    const d2 = await cli(['deploy', 'production', '--yes']);
    deploying = false;
    const roll = await load2;
    console.log(`version change after adoption: ${roll.failed} failed of ${roll.ok + roll.failed} requests through the front${roll.failures.length ? `:\n  ${roll.failures.join('\n  ')}` : ''}`);
    expect(d2.exitCode, d2.stderr).toBe(0);
    expect(roll.ok).toBeGreaterThan(10);
    expect(roll.failed).toBe(0);
    expect(await sql('SELECT count(*) FROM items')).toBe('3000');
  }, 1_500_000);
});
