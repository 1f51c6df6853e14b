// `lifeops import` (issue 12): compose setups in the shapes of real apps
// (test/fixtures/import/, written for these tests: a Django app with Celery
// and two Redis, a document manager with a broker, a converter and a db, a
// GraphQL API with tracing and mail, a Rails app with sidekiq and a streaming
// server) are imported, the stack file loads and renders, and both compose
// files, read by the real `docker compose config` (v2, host binary, no
// engine), agree service by service: image, command, entrypoint, environment,
// volumes, healthcheck, ports, networks, restart. Secrets never stay in the
// stack file nor reach the importer's printed output.
import { describe, it, expect } from 'vitest';
import { cpSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { meaningDiff } from '../../src/import/check.js';
import { REDIS_CONF, REDIS_PASSWORD_ENV } from '../../src/render/datastores.js';
import { importCompose, guessRole, duration } from '../../src/import/compose.js';
import { ambiguousScalar } from '../../src/config/yaml-safe.js';
import { ConfigError } from '../../src/errors.js';
import { loadStack } from '../../src/config/load.js';
import { parseEnvText } from '../../src/config/envfile.js';
import { composeSpecProblems } from '../../src/config/compose-spec.js';
import { renderAll, composeFiles } from '../../src/render/index.js';
import { ROOT } from '../helpers.js';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'import');
const APPS = {
  django: { env: '.env', secrets: ['s3cr3t-db-pass', 'cache-pass-123', 'dj-insecure-9f8e7d6c5b4a'] },
  docs: { env: '.env', secrets: ['admin-initial-pw-77', 'docs-db-pw-42'] },
  graphql: { env: undefined, secrets: ['commerce-pg-secret'] },
  rails: { env: undefined, secrets: [] as string[] },
} as const;

type Json = Record<string, any>;

/** The fixture copied to a scratch folder (compose resolves paths against it), the stack written into a subfolder. */
function imported(app: keyof typeof APPS) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `lifeops-import-${app}-`));
  cpSync(path.join(FIXTURES, app), path.join(dir, 'app'), { recursive: true });
  const composeFile = path.join(dir, 'app', 'docker-compose.yml');
  const envFile = APPS[app].env ? path.join(dir, 'app', APPS[app].env!) : undefined;
  mkdirSync(path.join(dir, 'ops'));
  const outFile = path.join(dir, 'ops', 'stack.yaml');
  const result = importCompose({ composeText: readFileSync(composeFile, 'utf8'), composeFile, envText: envFile ? readFileSync(envFile, 'utf8') : undefined, outFile, envFileName: 'stack.env' });
  writeFileSync(outFile, result.stack);
  writeFileSync(path.join(dir, 'ops', 'stack.env'), result.env);
  return { dir, composeFile, envFile, outFile, result };
}

async function composeConfig(files: string[], project: string, env: Record<string, string>, cwd: string, envFile?: string): Promise<Json> {
  const args = ['compose', '-p', project, ...(envFile ? ['--env-file', envFile] : []), ...files.flatMap((f) => ['-f', f]), 'config', '--format', 'json'];
  const r = await execa('docker', args, { reject: false, all: false, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, extendEnv: false, cwd });
  expect(r.exitCode, `docker ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(String(r.stdout));
}

/** What compose itself would run, with compose's defaults filled in where lifeops writes them out. */
function comparable(svc: Json): Json {
  const hc = svc.healthcheck ? { interval: '30s', timeout: '30s', retries: 3, start_period: '0s', ...svc.healthcheck } : undefined;
  if (hc?.start_period === '0s') delete hc.start_period;
  return {
    image: svc.image,
    command: svc.command ?? null,
    entrypoint: svc.entrypoint ?? null,
    environment: svc.environment ?? {},
    volumes: (svc.volumes ?? []).filter((v: Json) => v.type !== 'tmpfs').map((v: Json) => ({ type: v.type, source: v.source, target: v.target, read_only: Boolean(v.read_only) })),
    // a tmpfs volume and a tmpfs: entry mount the same
    tmpfs: [...(svc.tmpfs ?? []), ...(svc.volumes ?? []).filter((v: Json) => v.type === 'tmpfs').map((v: Json) => v.target)].sort(),
    healthcheck: hc ?? null,
    ports: svc.ports ?? [],
    networks: Object.keys(svc.networks ?? {}).sort(),
    restart: svc.restart ?? 'no',
    depends_on: Object.fromEntries(Object.entries(svc.depends_on ?? {}).map(([k, v]) => [k, (v as Json).condition])),
  };
}

describe('lifeops import: round trip through the real docker compose config', () => {
  for (const app of Object.keys(APPS) as (keyof typeof APPS)[]) {
    it(`${app}: imported, loaded, rendered; every service equal to the original's`, async () => {
      const { dir, composeFile, envFile, outFile, result } = imported(app);
      const stack = loadStack({ file: outFile, processEnv: {}, env: 'production' });
      const renderDir = path.join(dir, 'ops', '.lifeops', 'render', 'production');
      mkdirSync(renderDir, { recursive: true });
      const files = renderAll(stack, { renderDir });
      for (const f of files) {
        mkdirSync(path.dirname(path.join(renderDir, f.path)), { recursive: true });
        writeFileSync(path.join(renderDir, f.path), f.content);
      }
      const composes = composeFiles(files);
      for (const c of composes) expect(composeSpecProblems(parse(readFileSync(path.join(renderDir, c), 'utf8'))), c).toEqual([]);

      const vars = parseEnvText(readFileSync(path.join(dir, 'ops', 'stack.env'), 'utf8'));
      const original = await composeConfig([composeFile], stack.project, {}, path.dirname(composeFile), envFile);
      const rendered = await composeConfig(composes.map((c) => path.join(renderDir, c)), stack.project, vars, renderDir);
      expect(Object.keys(rendered.services).sort()).toEqual(Object.keys(original.services).sort());
      // a redis-server --requirepass became the redis: block: started its own way, compared by import --check's rule
      const redis = stack.redis?.password ? { service: stack.redis.service, conf: REDIS_CONF, envVar: REDIS_PASSWORD_ENV } : undefined;
      for (const name of Object.keys(original.services)) {
        if (name === redis?.service) expect(meaningDiff(original, rendered, redis).filter((d) => d.startsWith(`services.${name}.`)), `service ${name}`).toEqual([]);
        else expect(comparable(rendered.services[name]), `service ${name}`).toEqual(comparable(original.services[name]));
      }
      // named volumes keep their compose names (adoption keeps the data)
      for (const v of Object.keys(original.volumes ?? {})) expect(rendered.volumes[v]?.name, `volume ${v}`).toBe(original.volumes[v].name);
      for (const n of Object.keys(original.networks ?? {})) expect(rendered.networks[n]?.name, `network ${n}`).toBe(original.networks[n].name);

      // secrets: out of the stack file, into the env file (mode 0600 is the CLI's job)
      for (const s of APPS[app].secrets) {
        expect(result.stack).not.toContain(s);
        expect(result.env).toContain(s);
        expect(result.notes.join('\n')).not.toContain(s);
        for (const f of files) expect(f.content, f.path).not.toContain(s);
      }
    });
  }

  it('every guess is marked with a comment saying why', () => {
    const { result } = imported('django');
    expect(result.roles).toMatchObject({ db: { role: 'postgres' }, cache: { role: 'redis' }, broker: { role: 'redis' }, web: { role: 'web' }, worker: { role: 'worker' }, beat: { role: 'worker' }, nginx: { role: 'other' } });
    expect(result.stack).toContain('role: postgres # guessed: image postgres:16-alpine');
    expect(result.stack).toContain('role: web # guessed: command runs gunicorn');
    expect(result.stack).toContain('role: worker # guessed: command runs celery worker');
    expect(result.stack).toContain("role: other # guessed: image nginx:1.25 is a proxy with its own configuration");
    const rails = imported('rails').result;
    expect(rails.roles).toMatchObject({ web: { role: 'web', why: 'command runs puma' }, sidekiq: { role: 'worker', why: 'command runs sidekiq' }, streaming: { role: 'other' }, db: { role: 'postgres' }, redis: { role: 'redis' } });
    expect(imported('docs').result.roles).toMatchObject({ broker: { role: 'redis' }, db: { role: 'postgres' }, gotenberg: { role: 'other' } });
    expect(imported('graphql').result.roles).toMatchObject({ api: { role: 'web' }, worker: { role: 'worker' }, db: { role: 'postgres' } });
  });

  it('secrets become variables: literal values, URL passwords (reusing the variable of the same password), values in commands', () => {
    const { result } = imported('django');
    const stack = parse(result.stack);
    expect(stack.services.db.environment.POSTGRES_PASSWORD).toBe('${POSTGRES_PASSWORD}');
    expect(stack.services.web.environment.DATABASE_URL).toBe('postgres://shop:${POSTGRES_PASSWORD}@db:5432/shop');
    expect(stack.services.web.environment.CACHE_URL).toBe('redis://:${CACHE_PASSWORD}@cache:6379/1');
    expect(stack.services.web.environment.SECRET_KEY).toBe('${SECRET_KEY}');
    // the password off the command line: the redis: block hands it to the server in a file
    expect(stack.services.cache.command).toBeUndefined();
    expect(stack.redis).toEqual({ service: 'cache', password: '${CACHE_PASSWORD}', maxmemory: '256M', maxmemory_policy: 'allkeys-lru', appendonly: false, save: ['3600 1', '300 100', '60 10000'] });
    expect(parseEnvText(result.env)).toMatchObject({ POSTGRES_PASSWORD: 's3cr3t-db-pass', CACHE_PASSWORD: 'cache-pass-123', SECRET_KEY: 'dj-insecure-9f8e7d6c5b4a', APP_VERSION: '2.4.2' });
    expect(result.secretVars).toEqual(expect.arrayContaining(['POSTGRES_PASSWORD', 'CACHE_PASSWORD', 'SECRET_KEY']));
  });

  it('project and volume names stay compose\'s, so the first deploy finds the data', () => {
    expect(parse(imported('django').result.stack).project).toBe('app');
    expect(parse(imported('docs').result.stack).project).toBe('paperwork');
  });

  it('strings a YAML 1.1 reader would misread (yes, on, y, 0755, 0o755, 12:30, 1e3) are quoted: 1.1 and 1.2 readers read the same stack', () => {
    for (const app of Object.keys(APPS) as (keyof typeof APPS)[]) {
      const { result } = imported(app);
      // PyYAML and compose v1 read YAML 1.1; lifeops and compose v2 read 1.2
      expect(parse(result.stack, { version: '1.1' }), app).toEqual(parse(result.stack, { version: '1.2' }));
    }
    const graphql = parse(imported('graphql').result.stack, { version: '1.1' });
    expect(graphql.services.dashboard.environment).toMatchObject({ IS_CLOUD_INSTANCE: 'no', ENABLED_SERVICE_NAME_HEADER: 'on', CACHE_MAX_AGE: '1e3', STATIC_MODE: '0755', BUILD_ID: '0x1f', Y: 'yes' });
    expect(graphql.services.dashboard.labels).toEqual({ 'example.tier': 'off' });
    expect(graphql.services.dashboard.command).toEqual(['serve', '--mode', '0755', '--verbose', 'true']);
    const docs = imported('docs').result.stack;
    expect(parse(docs, { version: '1.1' }).services.webserver.environment).toMatchObject({ PAPERWORK_CONSUMER_POLLING: 'off', PAPERWORK_OCR_SKIP_ARCHIVE: 'y', PAPERWORK_FILE_MODE: '0640', PAPERWORK_UMASK: '0o022', PAPERWORK_TRAIN_AT: '12:30' });
    // 0o022 is an octal number to a YAML 1.2 reader: quoted as well
    expect(docs).toContain('PAPERWORK_UMASK: "0o022"');
    expect(imported('django').result.stack).toMatch(/- "yes"/);
  });

  it('ambiguousScalar: what is quoted and what stays plain', () => {
    for (const s of ['yes', 'No', 'ON', 'off', 'y', 'N', 'true', 'null', '~', '0755', '0o755', '0x1F', '0b101', '1e3', '1_000', '12:30', '1:20:30', '.5', '.inf', '2001-12-14', '<<', '=', '']) expect(ambiguousScalar(s), s).toBe(true);
    for (const s of ['yess', 'redis-server', 'v1', '10m', '127.0.0.1:8000:8000', 'a:b', 'http://x', '--appendonly', 'shop']) expect(ambiguousScalar(s), s).toBe(false);
  });

  it('a compose file it cannot read is a ConfigError (exit 2) at its file:line:col', () => {
    const run = (composeText: string) => {
      try {
        importCompose({ composeText, composeFile: 'in.yml', outFile: '/tmp/x/stack.yaml', envFileName: 'stack.env' });
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        expect((e as ConfigError).exitCode).toBe(2);
        return (e as Error).message;
      }
      throw new Error('imported without an error');
    };
    expect(run('name: x\nservices: [\n')).toMatch(/^in\.yml:\d+:\d+: not a YAML file compose can read/);
    expect(run('name: x\nservices: 3\n')).toMatch(/^in\.yml:2:1: services: no services mapping/);
    expect(run('services:\n  web: { image: a }\n  Web:\n    image: x\n')).toMatch(/^in\.yml:3:3: services\.Web: lifeops service names are lower-case/);
    expect(run('services:\n  web: 5\n')).toMatch(/^in\.yml:2:3: services\.web: not a mapping/);
    expect(run('services:\n  web: { image: *nowhere }\n')).toMatch(/^in\.yml:\d+:\d+: /);
  });

  it('guesses and durations in isolation', () => {
    expect(guessRole('x', { image: 'bitnami/postgresql' }).role).toBe('other');
    expect(guessRole('x', { image: 'postgis/postgis:16-3.4' }).role).toBe('postgres');
    expect(guessRole('x', { image: 'valkey/valkey:8' }).role).toBe('redis');
    expect(guessRole('x', { image: 'app', command: ['uvicorn', 'main:app'] }).role).toBe('web');
    expect(guessRole('queue-worker', { image: 'app' }).role).toBe('worker');
    expect(duration('1m30s')).toBe('90s');
    expect(duration('500ms')).toBe('500ms');
    expect(duration('1h')).toBe('1h');
  });
});

describe('lifeops import CLI', () => {
  it('writes the stack and a 0600 env file, prints no secret, and refuses to overwrite', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-import-cli-'));
    cpSync(path.join(FIXTURES, 'django'), path.join(dir, 'app'), { recursive: true });
    const bin = path.join(ROOT, 'bin', 'lifeops.js');
    const run = (args: string[]) => execa('node', [bin, ...args], { cwd: dir, reject: false, all: true, env: { PATH: process.env.PATH ?? '' }, extendEnv: false });
    expect(existsSync(bin)).toBe(true);
    const r = await run(['import', 'app/docker-compose.yml', '--env-file', 'app/.env', '-o', 'shop.yaml']);
    expect(r.exitCode, String(r.all)).toBe(0);
    for (const s of APPS.django.secrets) expect(String(r.all)).not.toContain(s);
    expect(String(r.all)).toContain('wrote shop.yaml and shop.env');
    expect(statSync(path.join(dir, 'shop.env')).mode & 0o777).toBe(0o600);
    expect(readFileSync(path.join(dir, 'shop.yaml'), 'utf8')).toContain('env_file: shop.env');
    const again = await run(['import', 'app/docker-compose.yml', '-o', 'shop.yaml']);
    expect(again.exitCode).toBe(2);
    expect(String(again.all)).toContain('shop.yaml exists; lifeops import does not overwrite it');
    const json = await run(['import', 'app/docker-compose.yml', '--env-file', 'app/.env', '-o', 'shop.yaml', '--force', '--json']);
    expect(json.exitCode, String(json.all)).toBe(0);
    for (const s of APPS.django.secrets) expect(String(json.all)).not.toContain(s);
  });
});
