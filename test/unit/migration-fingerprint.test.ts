// The schema fingerprint behind migrations_ran: parsing psql's line, combining
// databases, and deciding whether a migration changed anything. Pure, no Docker;
// the real-engine half is test/engine/deploy-migrations.test.ts.
import { describe, it, expect } from 'vitest';
import { changedParts, combineFingerprints, migrationEffect, parseFingerprint, type DatabaseFingerprint } from '../../src/flows/migrations.js';

const h = (c: string) => c.repeat(32);

describe('schema fingerprint (pure)', () => {
  const db = (parts: Record<string, string>, version_tables: string[] = ['public.schema_migrations']): DatabaseFingerprint => ({ parts, version_tables });

  it('parses the JSON line psql prints and refuses anything else', () => {
    const line = JSON.stringify({ parts: { columns: h('a') }, version_tables: ['public.schema_migrations'] });
    expect(parseFingerprint(`NOTICE: something\n${line}\n`)).toEqual({ parts: { columns: h('a') }, version_tables: ['public.schema_migrations'] });
    expect(() => parseFingerprint('psql: error: connection refused')).toThrow(/no fingerprint/);
    expect(() => parseFingerprint('{"parts": {"columns": "not-an-md5"}, "version_tables": []}')).toThrow(/unexpected shape/);
    expect(() => parseFingerprint('{"parts": {}}')).toThrow(/unexpected shape/);
  });

  it('combines databases independently of key order and names the parts that differ', () => {
    const a = combineFingerprints({ demo: db({ columns: h('a'), indexes: h('b') }), extra: db({ columns: h('c') }) }, 'x');
    const b = combineFingerprints({ extra: db({ columns: h('c') }), demo: db({ indexes: h('b'), columns: h('a') }) }, 'y');
    expect(a.hash).toBe(b.hash);
    const c = combineFingerprints({ demo: db({ columns: h('d'), indexes: h('b'), versions: h('e') }), extra: db({ columns: h('c') }) }, 'x');
    expect(c.hash).not.toBe(a.hash);
    expect(changedParts(a, c)).toEqual(['demo/columns', 'demo/versions']);
    expect(changedParts(a, b)).toEqual([]);
  });

  it('counts a run as a change only when the fingerprint moved, or when it cannot tell', () => {
    const before = combineFingerprints({ demo: db({ columns: h('a'), versions: h('b') }) }, '127.0.0.1:5432');
    const same = combineFingerprints({ demo: db({ columns: h('a'), versions: h('b') }) }, '127.0.0.1:5432');
    const moved = combineFingerprints({ demo: db({ columns: h('a'), versions: h('c') }) }, '127.0.0.1:5432');

    expect(migrationEffect(before, same, 0)).toMatchObject({ changed: false, reason: expect.stringMatching(/did not change .* a rollback will not restore it/) });
    expect(migrationEffect(before, same, 2)).toMatchObject({ changed: false }); // new files, but the version table shows none was applied
    expect(migrationEffect(before, moved, 1)).toMatchObject({ changed: true, parts: ['demo/versions'], before: before.hash, after: moved.hash });

    const unfp = migrationEffect({ error: 'service db is not running' }, same, 0);
    expect(unfp).toMatchObject({ changed: true, reason: expect.stringMatching(/could not tell .*before: service db is not running.*counted as changed/) });
    expect(migrationEffect(before, { error: 'psql exit 2' }, 0)).toMatchObject({ changed: true, reason: expect.stringContaining('after: psql exit 2') });

    // no version table: an unchanged schema cannot rule out a data-only migration
    const untracked = combineFingerprints({ demo: db({ columns: h('a') }, []) }, 'x');
    expect(migrationEffect(untracked, untracked, 1)).toMatchObject({ changed: true, reason: expect.stringContaining('no version table') });
    expect(migrationEffect(untracked, untracked, 0)).toMatchObject({ changed: false });
  });
});
