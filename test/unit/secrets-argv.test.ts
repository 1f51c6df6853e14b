// Secrets never reach a command line. Two halves:
//  - the rendered compose files, as the real `docker compose config` resolves
//    them with the stack's variables (what a container is created with): no
//    secret value in any service's command, entrypoint or healthcheck test,
//    for every stack in stacks/ and every environment it declares, and for a
//    stack whose every datastore (and exporter) has a password;
//  - the argv lifeops builds to run the PostgreSQL and Redis tools: the
//    password travels in the environment (`-e NAME`, value from the client's
//    environment), never as an argument.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { loadStack } from '../../src/config/load.js';
import { readStackSource, environmentNames } from '../../src/config/stack-yaml.js';
import type { Stack } from '../../src/config/schema.js';
import { renderAll, composeFiles } from '../../src/render/index.js';
import { isSecretVar } from '../../src/render/extras.js';
import { restoreBesideArgv, restoreDatabaseArgv, restoreExternalArgv, externalDumpArgv, externalGlobalsArgv, containerDumpArgv, containerGlobalsArgv, containerPsqlSessionArgv } from '../../src/commands/postgres.js';
import { externalTarget, externalEnv } from '../../src/backup/external.js';
import { buildEnv } from '../../src/commands/compose.js';
import { imagesToBuild } from '../../src/flows/deploy.js';
import { ROOT } from '../helpers.js';
import { FULL_STACK, ENV, PG_PASSWORD, REDIS_PASSWORD, writeStack } from '../fixtures/app-stack.js';

type Json = Record<string, any>;
const STACKS_DIR = path.join(ROOT, 'stacks');

/** Long dummy values for every variable the stacks in stacks/ require (long enough that a match is never chance). */
const DUMMIES: Record<string, string> = {
  POSTGRES_PASSWORD: 'dummy-postgres-password-7f3a9c1e5b',
  SECRET_KEY: 'dummy-secret-key-4e8d2b6a0c',
  JWT_SECRET_KEY: 'dummy-jwt-secret-key-9b1f7d3e5a',
  DB_PASSWORD: 'dummy-db-password-2c6e0a8f4d',
  DJANGO_SECRET_KEY: 'dummy-django-secret-key-5a9e3c7b1f',
  DJANGO_STAGING_SECRET_KEY: 'dummy-django-staging-key-8d2f6b0e4c',
  REDIS_PASSWORD: 'dummy-redis-password-3b7f1d5a9e',
};

/** Every secret value the stack holds: its secret variables' values and the datastores' passwords. */
function secretValues(stack: Stack): string[] {
  const values = Object.entries(stack.vars).filter(([k, v]) => v.length >= 8 && isSecretVar(stack, k)).map(([, v]) => v);
  for (const p of [stack.postgres?.password, stack.redis?.password]) if (p) values.push(p);
  return [...new Set(values)];
}

/** The merged services as `docker compose config` resolves them, with the variables lifeops gives compose. */
async function resolvedServices(stack: Stack, dir: string, tamper: (path: string, content: string) => string = (_, c) => c): Promise<Record<string, Json>> {
  const files = renderAll(stack, { renderDir: dir });
  for (const f of files) {
    mkdirSync(path.dirname(path.join(dir, f.path)), { recursive: true });
    writeFileSync(path.join(dir, f.path), tamper(f.path, f.content));
  }
  const composes = composeFiles(files);
  const args = ['compose', '-p', 'secrets-argv', ...composes.flatMap((c) => ['-f', c]), 'config', '--format', 'json'];
  const r = await execa('docker', args, { reject: false, cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...stack.vars }, extendEnv: false });
  expect(r.exitCode, `docker ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(String(r.stdout)).services;
}

/** "service.key" for each command-line field holding a secret value. */
function leaks(services: Record<string, Json>, secrets: string[]): string[] {
  const out: string[] = [];
  for (const [name, svc] of Object.entries(services)) {
    const fields: [string, unknown][] = [['command', svc.command], ['entrypoint', svc.entrypoint], ['healthcheck.test', svc.healthcheck?.test]];
    for (const [key, v] of fields) {
      const text = JSON.stringify(v ?? null);
      for (const s of secrets) if (text.includes(s) || text.includes(encodeURIComponent(s))) out.push(`${name}.${key}`);
    }
  }
  return out;
}

describe('rendered compose files: no secret on a command line, as compose resolves them', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'lifeops-secrets-argv-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const stackFiles = readdirSync(STACKS_DIR).filter((f) => f.endsWith('.yaml'));
  it('covers every stack in stacks/', () => expect(stackFiles.length).toBeGreaterThanOrEqual(4));

  for (const file of stackFiles) {
    for (const env of environmentNames(readStackSource(path.join(STACKS_DIR, file)))) {
      it(`${file} (${env})`, async () => {
        const stack = loadStack({ file: path.join(STACKS_DIR, file), env, processEnv: { ...DUMMIES } });
        const secrets = secretValues(stack);
        expect(secrets.length, 'the stack holds at least one secret').toBeGreaterThan(0);
        const services = await resolvedServices(stack, path.join(tmp, `${file}-${env}`));
        expect(leaks(services, secrets)).toEqual([]);
      }, 60_000);
    }
  }

  it('a stack whose every datastore has a password, with the exporters that log in to them', async () => {
    const text = `${FULL_STACK}monitoring: { enabled: true, exporters: [postgres, redis, pgbouncer], grafana: false }\n`;
    const stack = loadStack({ file: writeStack(text), env: 'staging', processEnv: ENV });
    const secrets = secretValues(stack);
    expect(secrets).toEqual(expect.arrayContaining([PG_PASSWORD, REDIS_PASSWORD]));
    const services = await resolvedServices(stack, path.join(tmp, 'full'));
    for (const s of ['cache', 'bouncer', 'pgbouncer-exporter', 'redis-exporter', 'postgres-exporter']) expect(Object.keys(services)).toContain(s);
    expect(leaks(services, secrets)).toEqual([]);
    // the passwords did reach the containers, through their environment
    expect(services.cache.environment.REDISCLI_AUTH).toBe(REDIS_PASSWORD);
    expect(services.bouncer.environment.DB_PASSWORD).toBe(PG_PASSWORD);
    expect(services['pgbouncer-exporter'].environment.PGBOUNCER_EXPORTER_CONNECTION_STRING).toContain(encodeURIComponent(PG_PASSWORD));
    expect(services['redis-exporter'].environment.REDIS_PASSWORD).toBe(REDIS_PASSWORD);
    // redis still starts redis-server on the rendered config, through the start script
    expect(services.cache.command.slice(-3)).toEqual(['redis-start', 'redis-server', '/usr/local/etc/redis/redis.conf']);
  }, 60_000);

  it('the check sees a secret on a command line: a rendered command edited to carry one is caught', async () => {
    // (lifeops refuses such a command at render, below: the control edits the rendered file)
    const stack = loadStack({ file: writeStack(FULL_STACK), env: 'staging', processEnv: ENV });
    const services = await resolvedServices(stack, path.join(tmp, 'control'), (p, c) => (p.endsWith('.yml') || p.endsWith('.yaml') ? c.replace(/- main:app\n/, '- main:app\n      - --key\n      - ${DJANGO_SECRET_KEY}\n') : c));
    expect(leaks(services, secretValues(stack))).toEqual(['api.command']);
  }, 60_000);

  it('a secret in a command is refused at render: interpolated by compose, or expanded by the container\'s shell onto a program\'s arguments', () => {
    const refused = (api: string) => {
      const stack = loadStack({ file: writeStack(FULL_STACK.replace('api: { role: web, image: shop/api:1, command: ["uvicorn", "main:app"] }', () => `api: { role: web, image: shop/api:1, ${api} }`)), env: 'staging', processEnv: ENV });
      try {
        renderAll(stack, { renderDir: path.join(tmp, 'cmd') });
      } catch (e) {
        return (e as Error).message;
      }
      return undefined;
    };
    expect(refused('command: ["uvicorn", "main:app", "--key", "${DJANGO_SECRET_KEY}"]')).toMatch(/services\.api\.command\.3: holds the secret \$\{DJANGO_SECRET_KEY\}, which would be on the container process's command line/);
    expect(refused('entrypoint: "uvicorn --key ${DJANGO_SECRET_KEY}"')).toMatch(/services\.api\.entrypoint: holds the secret/);
    expect(refused('command: ["sh", "-c", "exec uvicorn main:app --key $$DJANGO_SECRET_KEY"]')).toMatch(/services\.api\.command: runs a shell that expands the secret \$DJANGO_SECRET_KEY onto uvicorn's command line/);
    expect(refused('entrypoint: ["/bin/bash", "-ec"], command: ["worker --token=\\"$${API_TOKEN}\\""]')).toMatch(/services\.api\.command: runs a shell that expands the secret \$API_TOKEN onto worker's/);
    // the shell's own builtins put nothing on a command line; a single-quoted $ is not expanded; nor is a plain variable
    expect(refused(`command: ["sh", "-c", "printf 'key %s\\\\n' \\"$$DJANGO_SECRET_KEY\\" > /tmp/k.conf && exec uvicorn main:app --config /tmp/k.conf"]`)).toBeUndefined();
    expect(refused(`command: ["sh", "-c", "echo '$$DJANGO_SECRET_KEY' && KEY=$$DJANGO_SECRET_KEY exec uvicorn main:app --port $$PORT"]`)).toBeUndefined();
    // without a shell nothing expands $$NAME: the program gets the literal text
    expect(refused('command: ["uvicorn", "--key", "$$DJANGO_SECRET_KEY"]')).toBeUndefined();
  });

  it('a secret in a healthcheck test is refused at render (it would be written out, and run, with the value in it)', () => {
    const text = FULL_STACK.replace('cache: { role: redis, image: redis:7 }', 'cache: { role: redis, image: redis:7, healthcheck: { test: "redis-cli -a ${REDIS_PASSWORD} ping" } }');
    const stack = loadStack({ file: writeStack(text), env: 'staging', processEnv: ENV });
    let err: any;
    try {
      renderAll(stack, { renderDir: path.join(tmp, 'hc') });
    } catch (e) {
      err = e;
    }
    expect(err?.exitCode).toBe(2);
    expect(err.message).toContain('services.cache.healthcheck.test: holds the secret ${REDIS_PASSWORD}');
    expect(err.message).not.toContain(REDIS_PASSWORD);
    expect(err.hint).toContain('REDISCLI_AUTH');
  });
  it('a secret in a build argument is refused at render (docker history would show it to anyone who has the image)', () => {
    const text = FULL_STACK.replace('api: { role: web, image: shop/api:1, command: ["uvicorn", "main:app"] }', 'api: { role: web, image: shop/api:1, build: { context: ., args: { APP_VERSION: "${VERSION}", NPM_TOKEN: "${NPM_TOKEN}" } } }');
    const stack = loadStack({ file: writeStack(text), env: 'staging', processEnv: { ...ENV, NPM_TOKEN: 'npm-token-value-7f3a9c' } });
    let err: any;
    try {
      renderAll(stack, { renderDir: path.join(tmp, 'build-args') });
    } catch (e) {
      err = e;
    }
    expect(err?.exitCode).toBe(2);
    expect(err.message).toContain('services.api.build.args.NPM_TOKEN: holds the secret ${NPM_TOKEN}, which would be stored in the built image');
    expect(err.message).not.toContain('npm-token-value-7f3a9c');
    expect(err.hint).toContain('at run time');
    // a plain build argument renders
    const plain = loadStack({ file: writeStack(text.replace(', NPM_TOKEN: "${NPM_TOKEN}"', '')), env: 'staging', processEnv: ENV });
    expect(() => renderAll(plain, { renderDir: path.join(tmp, 'build-args-plain') })).not.toThrow();
  });
});

describe('argv builders: passwords travel in the environment, never as arguments', () => {
  const PW = 'argv-secret-Pa55"word$x';
  /** no argument holds the password, and every -e names a variable without a value when that variable is a secret */
  const clean = (argv: string[]) => {
    expect(argv.join('\n')).not.toContain(PW);
    expect(argv.join('\n')).not.toContain(encodeURIComponent(PW));
    argv.forEach((a, i) => {
      if (argv[i - 1] === '-e' && /PASSWORD|AUTH/.test(a)) expect(a, `-e ${a}`).not.toContain('=');
    });
  };

  it('restore beside the container: PGPASSWORD named on the docker client argv, its value in the client\'s environment', () => {
    const r = restoreBesideArgv('ctr', 'img', 'shop', 'shop', PW, 'proj');
    clean(r.argv);
    expect(r.argv).toContain('PGPASSWORD');
    expect(r.env.PGPASSWORD).toBe(PW);
  });

  it('in-container tools (pg_dump, pg_dumpall, psql, pg_restore) take no password at all', () => {
    for (const argv of [containerDumpArgv('ctr', 'shop', 'shop', ['-Z1']), containerGlobalsArgv('ctr', 'shop'), containerPsqlSessionArgv('ctr', 'shop', 'shop'), restoreDatabaseArgv('ctr', 'shop', 'shop').argv]) clean(argv);
  });

  it('an external database: the URL on argv has no password; PGPASSWORD carries it', () => {
    const t = externalTarget(`postgresql://shop:${encodeURIComponent(PW)}@db.example:5432/shop`, 'shop');
    for (const argv of [externalDumpArgv(t.url, 'snap-1', []), externalGlobalsArgv(t.url), restoreExternalArgv('shop', t.url).argv]) clean(argv);
    expect(externalEnv(t).PGPASSWORD).toBe(PW);
    const q = externalTarget(`postgresql://shop@db.example/shop?password=${encodeURIComponent(PW)}`, 'shop');
    clean(externalDumpArgv(q.url, 'snap-1', []));
    expect(externalEnv(q).PGPASSWORD).toBe(PW);
  });

  it('docker build (defence in depth; render refuses such a stack): a build arg from a secret variable is named alone (--build-arg NAME), its value in docker\'s environment', () => {
    const text = FULL_STACK.replace('api: { role: web, image: shop/api:1, command: ["uvicorn", "main:app"] }', `api: { role: web, image: shop/api:1, build: { context: ., args: { NPM_TOKEN: "\${NPM_TOKEN}", APP_VERSION: "\${VERSION}" } } }`);
    const stack = loadStack({ file: writeStack(text), env: 'staging', processEnv: { ...ENV, NPM_TOKEN: PW } });
    const build = imagesToBuild(stack).find((b) => b.image === 'shop/api:1')!;
    clean(build.argv);
    expect(build.argv.join(' ')).toContain('--build-arg APP_VERSION=1.2.3 --build-arg NPM_TOKEN ');
    expect(buildEnv(stack, 'shop/api:1')).toEqual({ NPM_TOKEN: PW });
    expect(buildEnv(stack, 'shop/web:1.2.3')).toEqual({});
  });

  it('the check catches a password on argv', () => {
    expect(() => clean(['docker', 'exec', '-e', `PGPASSWORD=${PW}`, 'ctr', 'psql'])).toThrow();
  });
});
