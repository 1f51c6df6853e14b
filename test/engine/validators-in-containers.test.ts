// Every rendered file of the catalogue passes its real validator on this host:
// nginx -t (host nginx-light and inside lifeops/nginx:local), gunicorn
// --check-config (host, and the demo app's own image with the real module),
// python's logging.config.fileConfig, redis-server (started in lifeops/redis:7,
// PING via docker exec), pgbouncer and postgres (started in their local images with the
// rendered files, checked with docker exec; pgbouncer pools real SCRAM logins), docker-compose config, make -n.
// Traefik has no binary on this host: traefik.yml is only parsed (render-app test).
// Containers run with --network none (the pgbouncer pair on an --internal network of
// its own, the client inside the container) and are removed by id.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import { parseEnvText } from '../../src/config/envfile.js';
import { renderAll, type RenderedFile } from '../../src/render/index.js';
import type { Stack } from '../../src/config/schema.js';

const ROOT = path.resolve(__dirname, '../..');
import { FULL_STACK, ENV, writeStack } from '../fixtures/app-stack.js';
const containers: string[] = [];

function writeAll(files: RenderedFile[], dir: string): string {
  for (const f of files) {
    const p = path.join(dir, f.path);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, f.content, { mode: f.mode ?? 0o644 });
  }
  return dir;
}

function renderTo(stack: Stack): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-validate-'));
  return writeAll(renderAll(stack, { renderDir: dir }), dir);
}

async function dockerRun(args: string[]): Promise<string> {
  const r = await execa('docker', ['run', '-d', '--network', 'none', '--label', 'lifeops.test=validators-app', ...args]);
  const id = r.stdout.trim();
  containers.push(id);
  return id;
}

/** Like dockerRun, on a given (internal) network instead of none. */
async function dockerRunOn(network: string, args: string[]): Promise<string> {
  const r = await execa('docker', ['run', '-d', '--network', network, '--label', 'lifeops.test=validators-app', ...args]);
  const id = r.stdout.trim();
  containers.push(id);
  return id;
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(500);
  }
  throw new Error(`timed out waiting for ${what}`);
}

let demo: string;
let full: string;
let certs: string;

beforeAll(async () => {
  demo = renderTo(loadStack({ file: path.join(ROOT, 'stacks', 'demo.yaml'), env: 'local', processEnv: {} }));
  // The full stack with certificates in a temp dir (self-signed stand-ins for Let's Encrypt).
  certs = mkdtempSync(path.join(os.tmpdir(), 'lifeops-certs-'));
  for (const domain of ['shop.example.com', 'api.shop.example.com']) {
    mkdirSync(path.join(certs, domain));
    await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${domain}`,
      '-keyout', path.join(certs, domain, 'privkey.pem'), '-out', path.join(certs, domain, 'fullchain.pem')]);
  }
  const text = FULL_STACK.replace('certs_dir: /etc/letsencrypt/live', `certs_dir: ${certs}`);
  full = renderTo(loadStack({ file: writeStack(text), processEnv: ENV }));
});

afterAll(async () => {
  for (const id of containers) await execa('docker', ['rm', '-f', '-v', id], { reject: false });
});

describe('nginx', () => {
  for (const which of ['demo', 'full'] as const) {
    it(`${which}: nginx -t on the host`, async () => {
      const dir = which === 'demo' ? demo : full;
      // stdout to /dev/null: nginx opens /dev/stdout for the access log, which a pipe cannot give it
      const r = await execa('nginx', ['-t', '-c', path.join(dir, 'nginx', 'nginx.conf'), '-p', path.join(dir, 'nginx') + '/'], { reject: false, all: true, stdout: 'ignore' });
      expect(r.all).toContain('test is successful');
      expect(r.exitCode).toBe(0);
    });

    it(`${which}: nginx -t inside lifeops/nginx:local with the compose mounts`, async () => {
      const dir = which === 'demo' ? demo : full;
      const r = await execa('docker', ['run', '--rm', '--network', 'none', '--label', 'lifeops.test=validators-app',
        '-v', `${dir}/nginx:/etc/nginx/lifeops:ro`,
        '-v', `${certs}:${certs}:ro`, 'lifeops/nginx:local', 'nginx', '-t', '-c', '/etc/nginx/lifeops/nginx.conf'], { reject: false, all: true });
      expect(r.all).toContain('test is successful');
      expect(r.exitCode).toBe(0);
    });
  }

  it('demo front answers /health itself and proxies the rest (checked with docker exec)', async () => {
    const id = await dockerRun(['-v', `${demo}/nginx:/etc/nginx/lifeops:ro`, 'lifeops/nginx:local', 'nginx', '-g', 'daemon off;', '-c', '/etc/nginx/lifeops/nginx.conf']);
    await until('nginx to serve /health', 20_000, async () => (await execa('docker', ['exec', id, 'curl', '-fsS', 'http://127.0.0.1/health'], { reject: false })).stdout === 'ok');
    const head = await execa('docker', ['exec', id, 'curl', '-sS', '-D', '-', '-o', '/dev/null', 'http://127.0.0.1/health']);
    expect(head.stdout).toContain('X-Content-Type-Options: nosniff');
    // no web container here: the proxied path fails as a gateway error, not a config error
    const root = await execa('docker', ['exec', id, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1/'], { reject: false });
    expect(['502', '504']).toContain(root.stdout);
  });
});

describe('gunicorn', () => {
  it('demo: gunicorn --check-config in the demo app image with the real module', async () => {
    const r = await execa('docker', ['run', '--rm', '--network', 'none', '--label', 'lifeops.test=validators-app',
      '-v', `${demo}/gunicorn/web.conf.py:/etc/gunicorn/gunicorn.conf.py:ro`, '-v', `${demo}/logging.conf:/etc/gunicorn/logging.conf:ro`,
      'lifeops/demo-app:dev', 'gunicorn', '--check-config', '-c', '/etc/gunicorn/gunicorn.conf.py', 'app:application'], { reject: false, all: true });
    expect(r.all).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('host gunicorn --check-config for every rendered config (a stub module stands in for the app: psycopg2 is not on the host)', async () => {
    const stub = mkdtempSync(path.join(os.tmpdir(), 'lifeops-wsgi-'));
    const app = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';
    writeFileSync(path.join(stub, 'app.py'), app);
    mkdirSync(path.join(stub, 'shop'));
    writeFileSync(path.join(stub, 'shop', '__init__.py'), '');
    writeFileSync(path.join(stub, 'shop', 'wsgi.py'), app);
    for (const [dir, module] of [[demo, 'app:application'], [full, 'shop.wsgi:application']]) {
      const r = await execa('gunicorn', ['--check-config', '-c', path.join(dir, 'gunicorn', 'web.conf.py'), module], { cwd: stub, reject: false, all: true });
      expect(r.all, dir).toBe('');
      expect(r.exitCode).toBe(0);
    }
    // auto workers are computed by python at load time
    const workers = await execa('python3', ['-c', `import runpy, multiprocessing; c = runpy.run_path(${JSON.stringify(path.join(full, 'gunicorn', 'web.conf.py'))}); print(c["workers"] == multiprocessing.cpu_count() * 2 + 1, c["statsd_host"])`]);
    expect(workers.stdout).toBe('True statsd:9125');
  });

  it('logging.conf loads with logging.config.fileConfig: errors to stderr, access to stdout', async () => {
    const r = await execa('python3', ['-c', [
      'import logging, logging.config, sys',
      `logging.config.fileConfig(${JSON.stringify(path.join(full, 'logging.conf'))}, disable_existing_loggers=False)`,
      'logging.getLogger("app").error("app-error")',
      'logging.getLogger("gunicorn.access").info("access-line")',
      'logging.getLogger("sqlalchemy.engine").info("hidden")',
      'assert logging.getLogger("sqlalchemy").level == logging.WARNING',
    ].join('\n')], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('access-line');
    expect(r.stderr).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4} \[\d+\] \[ERROR\] app: app-error$/);
    expect(r.stderr).not.toContain('hidden');
  });
});

describe('redis', () => {
  // `dir /data` exists only in the image, so redis-server runs in lifeops/redis:7 like compose runs it.
  for (const which of ['demo', 'full'] as const) {
    it(`${which}: redis-server starts in lifeops/redis:7 with the rendered redis.conf and answers PING`, async () => {
      const dir = which === 'demo' ? demo : full;
      const id = await dockerRun(['-v', `${dir}/redis/redis.conf:/usr/local/etc/redis/redis.conf:ro`, 'lifeops/redis:7', 'redis-server', '/usr/local/etc/redis/redis.conf']);
      const cli = async (...args: string[]) => (await execa('docker', ['exec', id, 'redis-cli', ...args], { reject: false })).stdout.trim();
      await until('redis PING', 20_000, async () => (await cli('ping')) === 'PONG');
      expect((await cli('config', 'get', 'maxmemory-policy')).split('\n')[1]).toBe(which === 'full' ? 'allkeys-lru' : 'noeviction');
      expect((await cli('config', 'get', 'dir')).split('\n')[1]).toBe('/data');
      expect((await cli('config', 'get', 'protected-mode')).split('\n')[1]).toBe('no');
      if (which === 'full') {
        expect((await cli('config', 'get', 'maxmemory')).split('\n')[1]).toBe('52428800');
        expect((await cli('config', 'get', 'appendonly')).split('\n')[1]).toBe('yes');
        expect((await cli('config', 'get', 'save')).split('\n')[1]).toBe('900 1 300 10');
      }
    });
  }
});

describe('pgbouncer', () => {
  it('the rendered pgbouncer.ini and compose environment pool real connections to a SCRAM Postgres', async () => {
    // a network of its own, internal (no way out); the client runs inside the pgbouncer container
    const net = `lifeops-pgb-${process.pid}`;
    await execa('docker', ['network', 'create', '--internal', '--label', 'lifeops.test=validators-app', net]);
    let db = '';
    let bouncer = '';
    try {
      const compose = parseYaml(readFileSync(path.join(full, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { environment?: Record<string, string> }> };
      const env = Object.entries(compose.services.bouncer.environment ?? {}).map(([k, v]) => `${k}=${v.replace('${POSTGRES_PASSWORD}', ENV.POSTGRES_PASSWORD)}`);
      expect(env).toEqual(['AUTH_TYPE=scram-sha-256', `DB_PASSWORD=${ENV.POSTGRES_PASSWORD}`, 'DB_USER=shop']);
      // the server as the official image sets it up: scram-sha-256 for every host connection
      db = await dockerRunOn(net, ['--network-alias', 'db', '-e', 'POSTGRES_USER=shop', '-e', `POSTGRES_PASSWORD=${ENV.POSTGRES_PASSWORD}`, '-e', 'POSTGRES_DB=shop', 'lifeops/postgres:15']);
      await until('postgres to answer', 120_000, async () => (await execa('docker', ['exec', db, 'psql', '-U', 'shop', '-d', 'shop', '-tAc', 'select 1'], { reject: false })).stdout.trim() === '1');
      await execa('docker', ['exec', db, 'psql', '-U', 'shop', '-d', 'shop', '-c', 'CREATE DATABASE shop_staging']);
      expect((await execa('docker', ['exec', db, 'psql', '-U', 'shop', '-tAc', 'SHOW password_encryption'])).stdout.trim()).toBe('scram-sha-256');
      bouncer = await dockerRunOn(net, [...env.flatMap((e) => ['-e', e]), '-v', `${full}/pgbouncer/pgbouncer.ini:/etc/pgbouncer/pgbouncer.ini:ro`, 'lifeops/pgbouncer:local']);
      await until('pgbouncer to listen', 20_000, async () => /listening on 0\.0\.0\.0:6432/.test((await execa('docker', ['logs', bouncer], { reject: false, all: true })).all ?? ''));
      const through = (database: string, password: string) =>
        execa('docker', ['exec', '-e', `PGPASSWORD=${password}`, bouncer, 'psql', '-h', '127.0.0.1', '-p', '6432', '-U', 'shop', '-d', database, '-tAc', 'select current_user || \'@\' || current_database()'], { reject: false });
      for (const database of ['shop', 'shop_staging']) {
        const r = await through(database, ENV.POSTGRES_PASSWORD);
        expect(r.exitCode, r.stderr).toBe(0);
        expect(r.stdout.trim()).toBe(`shop@${database}`);
      }
      const wrong = await through('shop', 'not-the-password');
      expect(wrong.exitCode).not.toBe(0);
      expect(wrong.stderr).toMatch(/password authentication failed|SASL authentication failed/);
      const logs = (await execa('docker', ['logs', bouncer], { all: true })).all ?? '';
      expect(logs).not.toMatch(/server login (failed|has been failing)|wrong password type/);
    } finally {
      for (const id of [bouncer, db].filter(Boolean)) await execa('docker', ['rm', '-f', '-v', id], { reject: false });
      await execa('docker', ['network', 'rm', net], { reject: false });
    }
  });
});

describe('postgres', () => {
  it('lifeops/postgres:15 becomes ready with the rendered postgresql.conf and uses its values', async () => {
    const id = await dockerRun(['-e', `POSTGRES_PASSWORD=validator-only`, '-v', `${full}/postgres/postgresql.conf:/etc/postgresql/postgresql.conf:ro`,
      'lifeops/postgres:15', 'postgres', '-c', 'config_file=/etc/postgresql/postgresql.conf']);
    await until('pg_isready', 150_000, async () => (await execa('docker', ['exec', id, 'pg_isready', '-U', 'postgres'], { reject: false })).exitCode === 0);
    // the init server restarts once: wait for the final one to accept a query
    const show = async (k: string) => (await execa('docker', ['exec', id, 'psql', '-U', 'postgres', '-tAc', `show ${k}`])).stdout;
    await until('a query', 30_000, async () => (await execa('docker', ['exec', id, 'psql', '-U', 'postgres', '-tAc', 'select 1'], { reject: false })).stdout.trim() === '1');
    expect(await show('config_file')).toBe('/etc/postgresql/postgresql.conf');
    expect(await show('shared_buffers')).toBe('256MB');
    expect(await show('max_connections')).toBe('200');
    expect(await show('listen_addresses')).toBe('*');
    expect(await show('log_line_prefix')).toBe("it's %m ");
    expect(await show('jit')).toBe('off');
  });
});

describe('compose, Makefile, .env.example', () => {
  it('docker-compose config accepts the demo compose file with its mounts', async () => {
    const r = await execa('docker-compose', ['-f', path.join(demo, 'docker-compose.yml'), '-p', 'lifeops-validate', 'config', '-q'], {
      cwd: demo, env: { POSTGRES_PASSWORD: 'x' }, reject: false, all: true,
    });
    expect(r.all).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('make -n runs every target', async () => {
    for (const [target, extra] of [['deploy', 'VERSION=1.2'], ['backup', ''], ['rollback', 'BACKUP=b1'], ['status', ''], ['logs', 'SERVICE=web'], ['render', ''], ['validate', ''], ['plan', '']]) {
      const r = await execa('make', ['-n', '-f', path.join(demo, 'Makefile'), target, 'ENV=production', ...(extra ? [extra] : [])], { cwd: demo });
      const cmd = `lifeops -f ${path.relative(demo, path.join(ROOT, 'stacks', 'demo.yaml'))}`;
      expect(r.stdout).toMatch(target === 'deploy' ? `${cmd} deploy production --version 1.2` : new RegExp(`${cmd.replace(/[.]/g, '\\.')} ${target} .*--env production`));
    }
    const rb = await execa('make', ['-s', '-f', path.join(demo, 'Makefile'), 'rollback'], { cwd: demo, reject: false, all: true });
    expect(rb.exitCode).not.toBe(0);
    expect(rb.all).toContain('usage: make rollback BACKUP=');
  });

  it('.env.example parses with the project\'s env-file parser', () => {
    const vars = parseEnvText(readFileSync(path.join(full, '.env.example'), 'utf8'));
    expect(vars).toMatchObject({ POSTGRES_PASSWORD: 'change-me', VERSION: '1.2.3', NGINX_AUTH_FILE: './htpasswd' });
  });
});
