// Pure deploy checks: dangerous migrations, Alembic heads, production secret
// strength, published ports, rollout planning.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listMigrationFiles, newMigrations, scanDangerous, checkAlembicHeads, alembicHeads, alembicRevisions, dangerError } from '../../src/flows/migrations.js';
import { checkSecrets, secretWeakness, weakSecrets, publishedPorts } from '../../src/flows/preflight.js';
import { parseHashes, planRollout } from '../../src/plan/rollout.js';
import { ConfigError, OperationError } from '../../src/errors.js';
import type { Stack } from '../../src/config/schema.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'lifeops-deploy-unit-'));

describe('migrations', () => {
  it('refuses a new migration with a dangerous pattern, naming file:line and pattern', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, '0001_ok.sql'), 'CREATE TABLE a (id int);\n');
    writeFileSync(path.join(dir, '0002_drop.py'), 'def upgrade():\n    op.DROP_COLUMN("users", "email")\n');
    const files = listMigrationFiles(dir);
    const hits = scanDangerous(newMigrations(files, undefined), ['drop_table', 'drop_column', 'execute(']);
    expect(hits).toEqual([expect.objectContaining({ file: '0002_drop.py', line: 2, pattern: 'drop_column' })]);
    const err = dangerError(dir, hits);
    expect(err).toBeInstanceOf(OperationError);
    expect(err.message).toContain('0002_drop.py:2');
    expect(err.hint).toContain('--allow-dangerous-migrations');
  });

  it('only scans files that are new or changed since the recorded set', () => {
    const dir = tmp();
    writeFileSync(path.join(dir, '0001.sql'), 'DROP TABLE old;\n');
    const files = listMigrationFiles(dir);
    const recorded = Object.fromEntries(files.map((f) => [f.name, f.sha256]));
    expect(newMigrations(files, recorded)).toEqual([]);
    writeFileSync(path.join(dir, '0001.sql'), 'DROP TABLE old; -- edited\n');
    expect(newMigrations(listMigrationFiles(dir), recorded).map((f) => f.name)).toEqual(['0001.sql']);
  });

  it('refuses two Alembic heads and accepts a merge revision', () => {
    const dir = tmp();
    mkdirSync(path.join(dir, 'versions'));
    const rev = (id: string, down: string) => writeFileSync(path.join(dir, 'versions', `${id}.py`), `"""x"""\nrevision = '${id}'\ndown_revision = ${down}\n`);
    rev('a1', 'None');
    rev('b2', "'a1'");
    rev('c3', "'a1'");
    expect(() => checkAlembicHeads(dir, listMigrationFiles(dir))).toThrow(/2 heads \(b2 .*c3/);
    rev('d4', "('b2', 'c3')");
    const files = listMigrationFiles(dir);
    expect(alembicHeads(alembicRevisions(files)).map((h) => h.revision)).toEqual(['d4']);
    expect(() => checkAlembicHeads(dir, files)).not.toThrow();
  });
});

describe('production secrets', () => {
  const stack = (vars: Record<string, string>, production = true) => ({ production, env: 'production', secretNames: Object.keys(vars), vars }) as unknown as Stack;

  it('refuses placeholders, known defaults and short values with exit 2, never echoing the value', () => {
    expect(secretWeakness('change-me-please-change-me-please-123')).toMatch(/placeholder/);
    expect(secretWeakness('postgres')).toMatch(/default/);
    expect(secretWeakness('Zq8d0vP2')).toMatch(/shorter than 32/);
    expect(secretWeakness('b3f1c9e07a5d4e2f8a6c1b9d3e7f0a2c')).toBeUndefined();
    const s = stack({ POSTGRES_PASSWORD: 'Zq8d0vP2', SECRET_KEY: 'b3f1c9e07a5d4e2f8a6c1b9d3e7f0a2c', DATABASE_URL: 'postgresql://u:changeme@db/x' });
    expect(weakSecrets(s).map((p) => p.name)).toEqual(['POSTGRES_PASSWORD', 'DATABASE_URL']);
    let err: unknown;
    try {
      checkSecrets(s);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(2);
    expect((err as ConfigError).message).not.toContain('Zq8d0vP2');
    expect((err as ConfigError).hint).toContain('openssl rand');
  });

  it('does not apply outside production', () => {
    expect(() => checkSecrets(stack({ POSTGRES_PASSWORD: 'x' }, false))).not.toThrow();
  });
});

describe('ports and rollout plan', () => {
  it('lists explicitly published host ports only', () => {
    const s = { services: { a: { ports: ['127.0.0.1:8080:80', '127.0.0.1::5432', '9000:9000', '53:53/udp'], replicas: 1 } } } as unknown as Stack;
    expect(publishedPorts(s).map((p) => `${p.ip}:${p.port}`)).toEqual(['127.0.0.1:8080', '0.0.0.0:9000']);
  });

  it('rolls web, recreates the rest, leaves matching services alone', () => {
    const s = { services: { web: { role: 'web', replicas: 1 }, worker: { role: 'worker', replicas: 1 }, db: { role: 'postgres', replicas: 1 } } } as unknown as Stack;
    const c = (service: string, hash: string) => ({ id: service, service, state: 'running', labels: { 'com.docker.compose.config-hash': hash } }) as never;
    const hashes = parseHashes('web 1111111111111111aaaa\nworker 2222222222222222bbbb\ndb 3333333333333333cccc\n');
    const plan = planRollout(s, [c('web', 'old'), c('worker', 'old'), c('db', '3333333333333333cccc')], hashes);
    expect(plan).toMatchObject({ unchanged: ['db'], rolling: ['web'], recreate: ['worker'], fresh: false });
    expect(planRollout(s, [], hashes).fresh).toBe(true);
  });
});
