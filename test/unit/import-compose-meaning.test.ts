// `lifeops import` keeps what a compose setup means (issue 23). Each compose
// setup under test/fixtures/import/ (written for these tests, in the shapes of
// real projects' published setups) is imported, loaded, rendered, and the real
// `docker compose config` (v2, host binary, no engine) of the original, run in
// its folder as a user runs it (.env and override file read by compose itself),
// is compared service by service with compose's reading of the rendered files:
// image, command, environment, volumes, ports, networks with their options,
// labels, restart, depends_on. What lifeops cannot carry exits 2 naming the key,
// and then nothing is written.
import { describe, it, expect } from 'vitest';
import { cpSync, existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { importCompose } from '../../src/import/compose.js';
import { defaultComposeFile, overrideFileFor } from '../../src/import/files.js';
import { MAX_EXPANDED_VALUES } from '../../src/import/yaml-read.js';
import { meaningDiff } from '../../src/import/check.js';
import { ConfigError } from '../../src/errors.js';
import { loadStack } from '../../src/config/load.js';
import { parseEnvText } from '../../src/config/envfile.js';
import { renderAll, composeFiles } from '../../src/render/index.js';
import { imagesToBuild } from '../../src/flows/deploy.js';
import { ROOT, lifeops } from '../helpers.js';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'import');
type Json = Record<string, any>;

/** The fixture copied to a scratch folder, imported as the CLI reads it (override and .env beside the default file). */
function imported(fixture: string, composeText?: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `lifeops-import-${fixture}-`));
  const app = path.join(dir, 'app');
  if (fixture !== 'none') cpSync(path.join(FIXTURES, fixture), app, { recursive: true });
  else mkdirSync(app);
  if (composeText !== undefined) writeFileSync(path.join(app, 'compose.yaml'), composeText);
  const composeFile = defaultComposeFile(app, existsSync)!;
  const override = overrideFileFor(composeFile, existsSync);
  const envFile = existsSync(path.join(app, '.env')) ? path.join(app, '.env') : undefined;
  mkdirSync(path.join(dir, 'ops'));
  const outFile = path.join(dir, 'ops', 'stack.yaml');
  const result = importCompose({
    composeText: readFileSync(composeFile, 'utf8'),
    composeFile,
    overrides: override ? [{ text: readFileSync(override, 'utf8'), file: override }] : [],
    envText: envFile ? readFileSync(envFile, 'utf8') : undefined,
    envFile,
    processEnv: {},
    outFile,
    envFileName: 'stack.env',
  });
  writeFileSync(outFile, result.stack);
  writeFileSync(path.join(dir, 'ops', 'stack.env'), result.env);
  return { dir, app, outFile, result };
}

async function composeConfig(args: string[], env: Record<string, string>, cwd: string): Promise<Json> {
  const all = ['compose', ...args, 'config', '--format', 'json'];
  const r = await execa('docker', all, { reject: false, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, extendEnv: false, cwd });
  expect(r.exitCode, `docker ${all.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(String(r.stdout));
}

/** What a service means to compose; lifeops' own additions (its labels, logging, init) left out. */
function meaning(svc: Json): Json {
  return {
    image: svc.image,
    command: svc.command ?? null,
    entrypoint: svc.entrypoint ?? null,
    // named without a value and set nowhere: compose passes nothing
    environment: Object.fromEntries(Object.entries(svc.environment ?? {}).filter(([, v]) => v !== null)),
    // tmpfs mounts (a tmpfs volume is a tmpfs: entry) are compared by meaningDiff below
    volumes: (svc.volumes ?? []).filter((v: Json) => v.type !== 'tmpfs').map((v: Json) => ({ type: v.type, source: v.source, target: v.target, read_only: Boolean(v.read_only) })),
    ports: svc.ports ?? [],
    networks: Object.fromEntries(
      Object.entries(svc.networks ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([n, o]) => [n, o ? { ...(o as Json), ...((o as Json).aliases ? { aliases: [...(o as Json).aliases].sort() } : {}) } : null]),
    ),
    labels: Object.fromEntries(Object.entries(svc.labels ?? {}).filter(([k]) => !k.startsWith('lifeops.'))),
    restart: svc.restart ?? 'no',
    depends_on: Object.fromEntries(Object.entries(svc.depends_on ?? {}).map(([k, v]) => [k, (v as Json).condition])),
  };
}

/** Load, render and read back with compose; compare with compose's reading of the original in its own folder. */
async function roundTrip(t: ReturnType<typeof imported>) {
  const stack = loadStack({ file: t.outFile, processEnv: {}, env: 'production' });
  const renderDir = path.join(t.dir, 'ops', '.lifeops', 'render', 'production');
  mkdirSync(renderDir, { recursive: true });
  const files = renderAll(stack, { renderDir });
  for (const f of files) {
    mkdirSync(path.dirname(path.join(renderDir, f.path)), { recursive: true });
    writeFileSync(path.join(renderDir, f.path), f.content);
  }
  const vars = parseEnvText(readFileSync(path.join(t.dir, 'ops', 'stack.env'), 'utf8'));
  const original = await composeConfig([], {}, t.app);
  const rendered = await composeConfig(['-p', stack.project, ...composeFiles(files).flatMap((c) => ['-f', path.join(renderDir, c)])], vars, renderDir);
  expect(stack.project, 'project name').toBe(original.name);
  expect(Object.keys(rendered.services).sort()).toEqual(Object.keys(original.services).sort());
  for (const name of Object.keys(original.services)) expect(meaning(rendered.services[name]), `service ${name}`).toEqual(meaning(original.services[name]));
  for (const v of Object.keys(original.volumes ?? {})) expect(rendered.volumes[v]?.name, `volume ${v}`).toBe(original.volumes[v].name);
  // and what `import --check` reports (mount options, tmpfs sizes, healthchecks too): nothing
  expect(meaningDiff(original, rendered)).toEqual([]);
  return { stack, files, original, rendered };
}

describe('lifeops import keeps what the compose setup means', () => {
  it('.env: variables in volume paths, ports and restart carried; values built from other values expanded as compose does; COMPOSE_PROJECT_NAME is the project', async () => {
    const t = imported('dotenv');
    const { stack, files } = await roundTrip(t);
    expect(stack.project).toBe('photos');
    const env = t.result.env;
    // kept as written: the stack's env file means what .env meant, and follows a changed password
    expect(env).toContain('DB_URL=postgres://${DB_USERNAME}:${DB_PASSWORD}@database:5432/${DB_DATABASE_NAME}');
    expect(env).toContain("LOG_PREFIX='${not-a-variable}'");
    expect(stack.services.server.environment).toMatchObject({ DB_URL: 'postgres://photos:ph0tos-db-s3cret@database:5432/photos', LOG_PREFIX: '${not-a-variable}', GREETING: 'hello photos', ML_URL: 'http://ml:3003', WORKERS: '2', FALLBACK: 'fallback', KEEP_EMPTY: '', ALT: 'has-tz' });
    expect(stack.services.server.restart).toBe('unless-stopped');
    // `- NAME` passes NAME from .env; one set nowhere is passed by neither
    expect(stack.services.microservices.environment).toEqual({ REDIS_HOSTNAME: 'redis' });
    expect(stack.services.server.ports).toEqual(['2283:2283', ':8081:8081']);
    // a URL holding the password is a secret: never in the stack or a rendered file
    expect(t.result.secretVars).toEqual(expect.arrayContaining(['DB_PASSWORD', 'DB_URL']));
    expect(parse(t.result.stack).variables).toEqual({ secrets: ['DB_URL'] });
    expect(t.result.stack).not.toContain('ph0tos-db-s3cret');
    for (const f of files) expect(f.content, f.path).not.toContain('ph0tos-db-s3cret');
  });

  it("a backend-as-a-service's shapes: ports with /tcp from .env, SELinux volume modes, $$ in an entrypoint, unquoted .env values with spaces", async () => {
    const t = imported('baas');
    const { stack, original } = await roundTrip(t);
    expect(original.services.kong.ports[0]).toMatchObject({ target: 8000, published: '8000', protocol: 'tcp' });
    expect(stack.services.studio.environment.DEFAULT_ORGANIZATION_NAME).toBe('Default Organization');
    expect(t.result.stack).not.toContain('your-super-secret-and-long-postgres-password');
  });

  it('dotted environment keys, build.target, fixed addresses, a bind mount of ".", empty labels', async () => {
    const t = imported('shapes');
    const { stack, original } = await roundTrip(t);
    expect(original.services.search.environment['discovery.type']).toBe('single-node');
    expect(original.services.search.networks.back).toEqual({ ipv4_address: '172.30.6.20', ipv6_address: 'fd00:30:6::20' });
    expect(original.services.wiki.labels['com.example.proxy.companion']).toBe('');
    expect(original.services.wiki.volumes[0].source).toBe(t.app);
    expect(original.services.wiki.volumes[2].bind).toEqual({ selinux: 'z', propagation: 'rslave' });
    expect(original.services.search.healthcheck.start_interval).toBe('2s');
    // a literal $ (an htpasswd hash in a label) stays literal through lifeops' rendering
    expect(original.services.proxy.labels['com.example.auth.users']).toBe('admin:$$apr1$$H6uskkkW$$IgXLP6ewTrSuBkTrqE8wj/');
    // the stage named is the one built
    const build = imagesToBuild(stack).find((b) => b.services.includes('wiki'))!;
    expect(build.argv).toEqual(expect.arrayContaining(['--target', 'production']));
    expect(build.argv[build.argv.length - 1]).toBe(t.app);
  });

  it('compose.override.yaml beside compose.yaml is merged as compose merges it', async () => {
    const t = imported('override');
    const { original } = await roundTrip(t);
    expect(original.services.app.environment.ROOT_URL).toBe('https://chat.example.com');
    expect(Object.keys(original.services)).toContain('mongo-express');
    // extends: within the file, merged as compose merges it (the override's mongo volumes included)
    expect(original.services['mongo-init'].volumes.map((v: Json) => v.target).sort()).toEqual(['/data/db', '/dump']);
    expect(t.result.stack).toContain('compose.yaml + compose.override.yaml');
    // named explicitly like `-f`, a non-default file reads no override
    expect(overrideFileFor(path.join(t.app, 'other.yaml'), existsSync)).toBeUndefined();
  });

  it('a large file with many alias uses is read; an alias bomb is refused naming its key', async () => {
    // the shape of a large real file: services that name the shared parts one by one, then services built from a defaults block holding them
    const direct = Array.from({ length: 25 }, (_, i) => `  one${i}:\n    image: app:${i}\n    restart: unless-stopped\n    environment: *common-env\n    logging: *logging`);
    const merged = Array.from({ length: 40 }, (_, i) => `  svc${i}:\n    <<: *defaults\n    image: app:${i}\n    environment:\n      <<: *common-env\n      INDEX: "${i}"`);
    const text = `x-logging: &logging\n  driver: json-file\n  options: { max-size: 5m, max-file: "2" }\nx-env: &common-env\n  TZ: UTC\n  LANG: C.UTF-8\nx-defaults: &defaults\n  restart: unless-stopped\n  logging: *logging\n  environment: *common-env\nservices:\n${[...direct, ...merged].join('\n')}\n`;
    expect((text.match(/\*[a-z-]+/g) ?? []).length).toBe(132);
    const t = imported('none', text);
    await roundTrip(t);
    expect(Object.keys(parse(t.result.stack).services)).toHaveLength(65);

    const levels = Array.from({ length: 9 }, (_, i) => `  l${i + 1}: &l${i + 1} [${Array(10).fill(`*l${i}`).join(', ')}]`).join('\n');
    const bomb = `x-lol:\n  l0: &l0 "lol"\n${levels}\nservices:\n  web:\n    image: app\n`;
    let err: unknown;
    try {
      imported('none', bomb);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/compose\.yaml:\d+:\d+: x-lol\.l\d: its aliases expand to [\d,]+ values; valid: aliases expanding to at most/);
    expect((err as ConfigError).message).toContain(MAX_EXPANDED_VALUES.toLocaleString('en'));
  });
});

describe('lifeops import is all or nothing', () => {
  const bin = path.join(ROOT, 'bin', 'lifeops.js');
  const run = (cwd: string, args: string[]) => execa('node', [bin, ...args], { cwd, reject: false, all: true, env: { PATH: process.env.PATH ?? '' }, extendEnv: false });
  const setup = (compose: string, env?: string) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-import-aon-'));
    mkdirSync(path.join(dir, 'app'));
    writeFileSync(path.join(dir, 'app', 'compose.yaml'), compose);
    if (env !== undefined) writeFileSync(path.join(dir, 'app', '.env'), env);
    return dir;
  };

  it('a stack that would not load: exit 2 at the key, with what to do, and nothing written', async () => {
    const dir = setup('services:\n  web:\n    image: app\n    restart: ${RESTART_POLICY}\n', 'RESTART_POLICY=sometimes\n');
    const r = await run(dir, ['import', 'app', '-o', 'stack.yaml']);
    expect(r.exitCode, String(r.all)).toBe(2);
    // shown where the user can change it: the compose file's line, not the stack that was not written
    expect(String(r.all)).toMatch(/app\/compose\.yaml:4:5: services\.web\.restart: /);
    expect(String(r.all)).toContain('nothing was written');
    expect(String(r.all)).not.toMatch(/\n\s+at /);
    expect(readdirSync(dir).sort()).toEqual(['app']);
  });

  it('a required variable .env lacks, or a build key lifeops cannot carry: exit 2 naming the key', async () => {
    const unset = setup('services:\n  web:\n    image: app\n    environment:\n      TZ: ${TZ:?set TZ first}\n');
    const r = await run(unset, ['import', 'app', '-o', 'stack.yaml']);
    expect(r.exitCode, String(r.all)).toBe(2);
    expect(String(r.all)).toMatch(/compose\.yaml:5:\d+: services\.web\.environment\.TZ: variable TZ is required: set TZ first/);
    expect(readdirSync(unset).sort()).toEqual(['app']);
    const ssh = setup('services:\n  web:\n    image: app\n    build:\n      context: .\n      ssh: [default]\n');
    const s = await run(ssh, ['import', 'app/compose.yaml', '-o', 'stack.yaml']);
    expect(s.exitCode, String(s.all)).toBe(2);
    expect(String(s.all)).toMatch(/compose\.yaml:6:7: services\.web\.build\.ssh: /);
    const nocopy = setup('services:\n  web:\n    image: app\n    volumes:\n      - type: volume\n        source: data\n        target: /data\n        volume: { nocopy: true }\nvolumes: { data: {} }\n');
    const n = await run(nocopy, ['import', 'app', '-o', 'stack.yaml']);
    expect(n.exitCode, String(n.all)).toBe(2);
    expect(String(n.all)).toMatch(/compose\.yaml:8:19: services\.web\.volumes\.0\.volume\.nocopy: /);
    expect(readdirSync(nocopy).sort()).toEqual(['app']);
    const ext = setup('services:\n  web:\n    extends: { file: common.yml, service: app }\n');
    const x = await run(ext, ['import', 'app', '-o', 'stack.yaml']);
    expect(x.exitCode, String(x.all)).toBe(2);
    expect(String(x.all)).toMatch(/compose\.yaml:3:5: services\.web\.extends: extends a service of another file/);
    const inc = setup('include:\n  - other/compose.yaml\nservices:\n  web:\n    image: app\n');
    const i = await run(inc, ['import', 'app', '-o', 'stack.yaml']);
    expect(i.exitCode, String(i.all)).toBe(2);
    expect(String(i.all)).toMatch(/compose\.yaml:1:1: include: a top-level key lifeops does not carry/);
    const optional = setup('services:\n  web:\n    image: app\n    depends_on:\n      cache:\n        condition: service_started\n        required: false\n  cache:\n    image: redis:7\n');
    const o = await run(optional, ['import', 'app', '-o', 'stack.yaml']);
    expect(o.exitCode, String(o.all)).toBe(2);
    expect(String(o.all)).toMatch(/compose\.yaml:7:9: services\.web\.depends_on\.cache\.required: an optional dependency/);
    const syslog = setup('services:\n  web:\n    image: app\n    logging:\n      driver: syslog\n');
    const l = await run(syslog, ['import', 'app', '-o', 'stack.yaml']);
    expect(l.exitCode, String(l.all)).toBe(2);
    expect(String(l.all)).toMatch(/compose\.yaml:5:7: services\.web\.logging\.driver: logging driver syslog: /);
  });
});

describe('lifeops import --check', () => {
  it('reads the original (with its override and .env) and the rendered stack with docker compose, and finds them the same', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-import-check-'));
    cpSync(path.join(FIXTURES, 'override'), path.join(dir, 'app'), { recursive: true });
    cpSync(path.join(FIXTURES, 'dotenv'), path.join(dir, 'photos'), { recursive: true });
    mkdirSync(path.join(dir, 'ops'));
    const run = (args: string[]) => execa('node', [path.join(ROOT, 'bin', 'lifeops.js'), ...args], { cwd: dir, reject: false, all: true, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' }, extendEnv: false });
    const r = await run(['import', 'app', '-o', 'ops/chat.yaml', '--check']);
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(String(r.all)).toContain('read app/compose.yaml, app/compose.override.yaml');
    expect(String(r.all)).toContain('check: docker compose reads the same services from the original and from the rendered stack');
    const p = await run(['import', 'photos', '-o', 'ops/photos.yaml', '--check', '--json']);
    expect(p.exitCode, String(p.all)).toBe(0);
    expect(JSON.parse(String(p.stdout)).differences).toEqual([]);
    expect(String(p.all)).not.toContain('ph0tos-db-s3cret');
  });

  it('COMPOSE_FILE in .env names the files compose reads (and then no override is added)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-import-composefile-'));
    mkdirSync(path.join(dir, 'app'));
    writeFileSync(path.join(dir, 'app', 'compose.yaml'), 'services:\n  web:\n    image: app:1\n    restart: always\n');
    writeFileSync(path.join(dir, 'app', 'compose.prod.yaml'), 'services:\n  web:\n    labels: [tier=prod]\n');
    writeFileSync(path.join(dir, 'app', 'compose.override.yaml'), 'services:\n  web:\n    labels: [tier=dev]\n');
    writeFileSync(path.join(dir, 'app', '.env'), 'COMPOSE_FILE=compose.yaml:compose.prod.yaml\n');
    const r = await execa('node', [path.join(ROOT, 'bin', 'lifeops.js'), 'import', 'app', '-o', 'ops/stack.yaml', '--check'], { cwd: dir, reject: false, all: true, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' }, extendEnv: false });
    expect(r.exitCode, String(r.all)).toBe(0);
    expect(String(r.all)).toContain('check: docker compose reads the same services');
    expect(parse(readFileSync(path.join(dir, 'ops', 'stack.yaml'), 'utf8')).services.web.labels).toEqual({ tier: 'prod' });
  });

  it('a difference is named by service and key; environment values are never printed', () => {
    const svc = { image: 'app:1', environment: { DB_URL: 'postgres://u:hunter2-secret@db/x', TZ: 'UTC' }, ports: [{ target: 80, published: '8080' }], restart: 'always' };
    const diff = meaningDiff(
      { name: 'p', services: { web: svc, db: { image: 'postgres:16' } }, volumes: { data: { name: 'p_data' } } },
      { name: 'p', services: { web: { ...svc, environment: { DB_URL: 'postgres://u:other-secret@db/x' }, restart: 'no' } }, volumes: { data: { name: 'q_data' } } },
    );
    expect(diff).toEqual([
      'services.db: only in the original',
      'services.web.environment.DB_URL: the value differs',
      'services.web.environment.TZ: only in the original',
      'services.web.restart: original "always", rendered "no"',
      'volumes.data: original name "p_data", rendered "q_data"',
    ]);
    expect(diff.join('\n')).not.toMatch(/secret/);
  });

  it('a healthcheck that would put a secret on a command line: the CLI import exits 2 at the compose key and writes nothing', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-import-hcsecret-'));
    writeFileSync(path.join(dir, '.env'), 'API_KEY=k3y-for-the-healthcheck-test-0123456789\n');
    writeFileSync(path.join(dir, 'compose.yaml'), 'services:\n  api:\n    image: nginx:1.25\n    environment:\n      API_KEY: ${API_KEY}\n    healthcheck:\n      test: ["CMD-SHELL", "curl -fs -H \\"X-Key: ${API_KEY}\\" http://localhost/health"]\n');
    const out = path.join(dir, 'ops', 'stack.yaml');
    const r = await lifeops(['import', path.join(dir, 'compose.yaml'), '-o', out]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/compose\.yaml:\d+:\d+: services\.api\.healthcheck\.test/);
    expect(r.stderr).not.toContain('k3y-for-the-healthcheck-test');
    expect(existsSync(out)).toBe(false);
  });
});
