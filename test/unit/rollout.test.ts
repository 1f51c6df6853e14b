// Pure parts of the fast path of deploy: when compose's hashes can be reused,
// image changes seen without compose, config-file labels, the front's files,
// and the compose detection cache key.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { composeInputsDigest, digestMatches, frontFiles, planRollout } from '../../src/plan/rollout.js';
import { CONFIG_FILES_LABEL, mountedFilesDigest, renderAll } from '../../src/render/index.js';
import { composeFingerprint } from '../../src/clients/compose-detect.js';
import { loadStack } from '../../src/config/load.js';
import type { ContainerState } from '../../src/clients/docker.js';
import type { ComposeCli } from '../../src/commands/compose.js';
import { ROOT } from '../helpers.js';

const V1: ComposeCli = { kind: 'v1', argv: ['docker-compose'], version: '1.29.2' };
const compose = (body: string) => [{ path: 'docker-compose.yml', content: `services:\n  db:\n    environment: { POSTGRES_PASSWORD: "\${POSTGRES_PASSWORD}" }\n${body}` }];
const demo = () => loadStack({ file: path.join(ROOT, 'stacks', 'demo.yaml'), env: 'local', processEnv: {} });

describe('reusing compose hashes', () => {
  it('matches only the same files, the same referenced variables and the same compose', () => {
    const files = compose('');
    const env = { POSTGRES_PASSWORD: 'one-password-value', UNRELATED: 'a' };
    const digest = composeInputsDigest(files, env, V1);
    expect(digestMatches(digest, files, env, V1)).toBe(true);
    expect(digestMatches(digest, files, { ...env, UNRELATED: 'b' }, V1)).toBe(true); // not referenced by the files
    expect(digestMatches(digest, files, { ...env, POSTGRES_PASSWORD: 'another-password' }, V1)).toBe(false);
    expect(digestMatches(digest, compose('  web: {}\n'), env, V1)).toBe(false);
    expect(digestMatches(digest, files, env, { ...V1, version: '1.29.3' })).toBe(false);
    expect(digestMatches(digest, files, env, { kind: 'v2', argv: ['docker', 'compose'], version: '2.29.0' })).toBe(false);
    expect(digestMatches(undefined, files, env, V1)).toBe(false);
  });

  it('is salted: the ledger entry does not reveal a secret by a plain hash', () => {
    const files = compose('');
    const env = { POSTGRES_PASSWORD: 'one-password-value' };
    const a = composeInputsDigest(files, env, V1);
    const b = composeInputsDigest(files, env, V1);
    expect(a).not.toBe(b);
    expect(a).not.toContain('one-password-value');
    expect(digestMatches(a, files, env, V1) && digestMatches(b, files, env, V1)).toBe(true);
  });
});

describe('planRollout', () => {
  const stack = demo();
  const container = (service: string, imageId: string, hash = 'h-' + service): ContainerState => ({
    id: `${service}-id`,
    name: `demo-local_${service}_1`,
    service,
    number: 1,
    image: 'img',
    imageId,
    state: 'running',
    health: 'healthy',
    restarts: 0,
    ports: {},
    labels: { 'com.docker.compose.config-hash': hash },
  });
  const services = ['db', 'cache', 'web', 'worker', 'front'];
  const hashes = Object.fromEntries(services.map((s) => [s, 'h-' + s]));

  it('leaves services alone when hash and image id are the same', () => {
    const plan = planRollout(stack, services.map((s) => container(s, 'sha256:same')), hashes, Object.fromEntries(services.map((s) => [s, 'sha256:same'])));
    expect(plan.unchanged).toEqual(services);
  });

  it('replaces a service whose image tag now points at another image (rebuilt), as compose would', () => {
    const ids = Object.fromEntries(services.map((s) => [s, 'sha256:same']));
    ids.web = 'sha256:rebuilt';
    ids.worker = 'sha256:rebuilt';
    const plan = planRollout(stack, services.map((s) => container(s, 'sha256:same')), hashes, ids);
    expect(plan.rolling).toEqual(['web']);
    expect(plan.recreate).toEqual(['worker']);
    expect(plan.unchanged).toEqual(['db', 'cache', 'front']);
  });
});

describe('config files label', () => {
  it('changes exactly for the services whose mounted rendered files changed; the nginx front has none', () => {
    const stack = demo();
    const files = renderAll(stack, { renderDir: '/tmp/r' });
    const labels = (fs: typeof files) => {
      const doc = parse(fs.find((f) => f.path === 'docker-compose.yml')!.content) as { services: Record<string, { labels: Record<string, string> }> };
      return Object.fromEntries(Object.entries(doc.services).map(([n, s]) => [n, s.labels[CONFIG_FILES_LABEL]]));
    };
    const before = labels(files);
    expect(before.db).toMatch(/^sha256:[0-9a-f]{16}$/); // postgresql.conf
    expect(before.cache).toMatch(/^sha256:[0-9a-f]{16}$/); // redis.conf
    expect(before.web).toMatch(/^sha256:[0-9a-f]{16}$/); // gunicorn config
    expect(before.front).toBeUndefined(); // reloaded, not recreated
    const tuned = loadStack({ file: path.join(ROOT, 'stacks', 'demo.yaml'), env: 'local', processEnv: {} });
    const pgConf = files.find((f) => f.path === 'postgres/postgresql.conf')!;
    const edited = files.map((f) => (f === pgConf ? { ...f, content: f.content + '\n# changed\n' } : f));
    expect(mountedFilesDigest(['./postgres/postgresql.conf:/etc/postgresql/postgresql.conf:ro'], edited)).not.toBe(before.db);
    expect(labels(renderAll(tuned, { renderDir: '/tmp/r' }))).toEqual(before); // deterministic
  });

  it('hashes every file under a mounted folder, and nothing for named volumes', () => {
    const files = [
      { path: 'prometheus/prometheus.yml', content: 'a' },
      { path: 'prometheus/rules/x.yml', content: 'b' },
      { path: 'prometheus-other.yml', content: 'c' },
    ];
    const d = mountedFilesDigest(['./prometheus:/etc/prometheus:ro', 'prometheus-data:/prometheus'], files);
    expect(d).toMatch(/^sha256:/);
    expect(mountedFilesDigest(['./prometheus:/etc/prometheus:ro'], [files[0], { ...files[1], content: 'B' }, files[2]])).not.toBe(d);
    expect(mountedFilesDigest(['./prometheus:/etc/prometheus:ro'], [...files.slice(0, 2), { ...files[2], content: 'C' }])).toBe(d);
    expect(mountedFilesDigest(['pgdata:/var/lib/postgresql/data'], files)).toBeUndefined();
  });

  it('frontFiles covers nginx/** only', () => {
    const stack = demo();
    const files = renderAll(stack, { renderDir: '/tmp/r' });
    const a = frontFiles(stack, files);
    expect(a).toContain('nginx/nginx.conf');
    expect(frontFiles(stack, files.map((f) => (f.path === 'redis/redis.conf' ? { ...f, content: 'x' } : f)))).toBe(a);
    expect(frontFiles(stack, files.map((f) => (f.path === 'nginx/nginx.conf' ? { ...f, content: 'x' } : f)))).not.toBe(a);
  });
});

describe('compose detection cache key', () => {
  it('changes when a compose binary on PATH appears or is upgraded, not otherwise', () => {
    const bin = mkdtempSync(path.join(os.tmpdir(), 'lifeops-path-'));
    const home = mkdtempSync(path.join(os.tmpdir(), 'lifeops-home-'));
    const env = { PATH: bin, HOME: home };
    const empty = composeFingerprint(env);
    expect(composeFingerprint(env)).toBe(empty);
    writeFileSync(path.join(bin, 'docker-compose'), '#!/bin/sh\n', { mode: 0o755 });
    const withV1 = composeFingerprint(env);
    expect(withV1).not.toBe(empty);
    utimesSync(path.join(bin, 'docker-compose'), new Date(2020, 1, 1), new Date(2020, 1, 1));
    expect(composeFingerprint(env)).not.toBe(withV1);
    mkdirSync(path.join(home, '.docker', 'cli-plugins'), { recursive: true });
    const before = composeFingerprint(env);
    writeFileSync(path.join(home, '.docker', 'cli-plugins', 'docker-compose'), 'plugin', { mode: 0o755 });
    expect(composeFingerprint(env)).not.toBe(before);
    expect(composeFingerprint({ ...env, LIFEOPS_COMPOSE: 'v1' })).not.toBe(composeFingerprint(env));
  });
});

describe('database restore argv', () => {
  it('drops user schemas and restores in one transaction, committing only when pg_restore finished', async () => {
    const { restoreDatabaseArgv, DROP_USER_SCHEMAS_SQL } = await import('../../src/commands/postgres.js');
    const { argv, env } = restoreDatabaseArgv('c1', 'demo', 'shop');
    expect(argv.slice(0, 8)).toEqual(['docker', 'exec', '-i', '-e', 'LIFEOPS_PRE', '-e', 'LIFEOPS_FAIL', 'c1']);
    expect(argv.slice(-2)).toEqual(['demo', 'shop']); // user and database as arguments, never inside the script
    expect(env.LIFEOPS_PRE).toBe(DROP_USER_SCHEMAS_SQL);
    expect(DROP_USER_SCHEMAS_SQL.startsWith('BEGIN;')).toBe(true);
    expect(DROP_USER_SCHEMAS_SQL).toMatch(/DROP SCHEMA %I CASCADE/);
    const script = argv[argv.length - 3];
    expect(script).toMatch(/then printf "COMMIT;\\n"; else echo 1 > "\$failed"/);
    expect(script).toMatch(/psql -X -q -v ON_ERROR_STOP=1/);
  });

  it('beside the container: same image, its network namespace, the password only in the environment, a login check before reading', async () => {
    const { restoreBesideArgv, restoreDatabaseArgv, BESIDE_UNREACHABLE } = await import('../../src/commands/postgres.js');
    const { argv, env } = restoreBesideArgv('c1', 'sha256:abc', 'demo', 'shop', 's3cret-pw');
    expect(argv.slice(0, 16)).toEqual(['docker', 'run', '--rm', '-i', '--network', 'container:c1', '--entrypoint', 'sh', '-e', 'LIFEOPS_PRE', '-e', 'LIFEOPS_FAIL', '-e', 'PGPASSWORD', '-e', 'PGHOST=127.0.0.1']);
    expect(argv[16]).toBe('sha256:abc');
    expect(argv.slice(-2)).toEqual(['demo', 'shop']);
    expect(argv.join(' ')).not.toContain('s3cret-pw');
    expect(env.PGPASSWORD).toBe('s3cret-pw');
    const script = argv[argv.length - 3];
    expect(script.split('\n')[0]).toBe(`psql -X -q -At -c 'SELECT 1' -U "$0" -d "$1" >/dev/null 2>&1 || exit ${BESIDE_UNREACHABLE}`);
    // the same restore script follows as inside the container
    const inside = restoreDatabaseArgv('c1', 'demo', 'shop').argv;
    expect(script.endsWith(inside[inside.length - 3])).toBe(true);
  });
});
