// Pure parts of backups: retention choice, crontab merge, encryption round
// trip, checksum verification of a backup folder (flipped/truncated/appended
// bytes, missing and unlisted files).
import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, appendFileSync, truncateSync, rmSync } from 'node:fs';
import { readRenderedDir, SECRET_FILES_DIR } from '../../src/flows/render.js';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { chooseDeletions } from '../../src/plan/retention.js';
import { encryptStream, decryptStream, type BackupManifest } from '../../src/backup/format.js';
import { parseRowCounts } from '../../src/backup/postgres.js';
import { dumpCompression } from '../../src/commands/postgres.js';
import type { Stack } from '../../src/config/schema.js';
import { checkFiles } from '../../src/backup/integrity.js';

const day = 86_400_000;
const now = new Date('2026-06-30T00:00:00Z');
const b = (id: string, ageDays: number, verified = false) => ({ id, env: 'x', time: new Date(now.getTime() - ageDays * day).toISOString(), size: 1, ...(verified ? { verified: 'yes' } : {}) });

describe('retention', () => {
  const list = [b('a', 10), b('b', 8, true), b('c', 5), b('d', 3), b('e', 1)];
  it('keep_last keeps the newest N', () => expect(chooseDeletions(list, { keep_last: 2 }, now)).toEqual(['a', 'c']));
  it('never deletes the newest verified one', () => expect(chooseDeletions(list, { keep_last: 1 }, now)).toEqual(['a', 'c', 'd']));
  it('max_age_days keeps young ones', () => expect(chooseDeletions(list, { max_age_days: 4 }, now)).toEqual(['a', 'c']));
  it('either rule keeps', () => expect(chooseDeletions(list, { keep_last: 1, max_age_days: 6 }, now)).toEqual(['a']));
  it('no policy deletes nothing', () => expect(chooseDeletions(list, {}, now)).toEqual([]));
  it('always keeps the newest even when too old', () => expect(chooseDeletions([b('old', 100)], { max_age_days: 1 }, now)).toEqual([]));
});

describe('pg_dump compression', () => {
  const level = (compression: number | undefined, safety: boolean) => dumpCompression({ backup: { compression } } as unknown as Stack, safety);
  it("regular backups use the stack's level, else pg_dump's own", () => {
    expect(level(undefined, false)).toEqual([]);
    expect(level(9, false)).toEqual(['-Z9']);
  });
  it('safety backups use at most 1 (0 stays 0)', () => {
    expect(level(undefined, true)).toEqual(['-Z1']);
    expect(level(9, true)).toEqual(['-Z1']);
    expect(level(0, true)).toEqual(['-Z0']);
  });
});

describe('encryption', () => {
  const roundTrip = async (data: Buffer, encKey: string, decKey: string) => {
    const enc: Buffer[] = [];
    await pipeline(Readable.from([data.subarray(0, 7), data.subarray(7)]), encryptStream(encKey), async function* (s) { for await (const c of s) enc.push(c as Buffer); });
    const cipher = Buffer.concat(enc);
    const dec: Buffer[] = [];
    await pipeline(Readable.from([cipher.subarray(0, 5), cipher.subarray(5, 40), cipher.subarray(40)]), decryptStream(decKey), async function* (s) { for await (const c of s) dec.push(c as Buffer); });
    return { cipher, plain: Buffer.concat(dec) };
  };
  it('round trips and hides the plain text', async () => {
    const data = Buffer.from('secret rows '.repeat(1000));
    const r = await roundTrip(data, 'pass', 'pass');
    expect(r.plain.equals(data)).toBe(true);
    expect(r.cipher.includes(Buffer.from('secret rows'))).toBe(false);
  });
  it('refuses a wrong key', async () => {
    await expect(roundTrip(Buffer.from('x'.repeat(100)), 'pass', 'nope')).rejects.toThrow(/wrong key or corrupted/);
  });
});

it('parses row counts', () => {
  expect(parseRowCounts('public.t|3\npublic."odd name"|0\n')).toEqual({ 'public.t': 3, 'public."odd name"': 0 });
});

describe('checksum verification of a backup folder', () => {
  const make = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-bk-'));
    const content = Buffer.from('dump bytes '.repeat(100));
    writeFileSync(path.join(dir, 'db.dump'), content);
    const m = { files: [{ path: 'db.dump', size: content.length, sha256: createHash('sha256').update(content).digest('hex') }] } as unknown as BackupManifest;
    return { dir, m, file: path.join(dir, 'db.dump') };
  };
  it('passes when intact', async () => {
    const { dir, m } = make();
    expect(await checkFiles(dir, m)).toEqual([]);
  });
  it('names a flipped byte', async () => {
    const { dir, m, file } = make();
    const buf = readFileSync(file);
    buf[10] ^= 1;
    writeFileSync(file, buf);
    expect(await checkFiles(dir, m)).toEqual(['db.dump: sha256 mismatch (content changed)']);
  });
  it('names a truncated and an appended file', async () => {
    const a = make();
    truncateSync(a.file, 10);
    expect((await checkFiles(a.dir, a.m))[0]).toMatch(/^db.dump: size 10 bytes/);
    const c = make();
    appendFileSync(c.file, 'x');
    expect((await checkFiles(c.dir, c.m))[0]).toMatch(/^db.dump: size \d+ bytes, manifest says/);
  });
  it('names missing and unlisted files', async () => {
    const { dir, m, file } = make();
    rmSync(file);
    writeFileSync(path.join(dir, 'extra'), 'x');
    expect(await checkFiles(dir, m)).toEqual(['db.dump: missing', 'extra: not in the manifest']);
  });
});

it('never reads secret files back from a render folder (so no release, archive or backup carries them)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-render-'));
  mkdirSync(path.join(dir, SECRET_FILES_DIR), { recursive: true });
  writeFileSync(path.join(dir, SECRET_FILES_DIR, 'slack_webhook_url'), 'https://hooks.slack.com/services/T0/B0/secret-value');
  writeFileSync(path.join(dir, 'alertmanager', 'alertmanager.yml'), 'route: {}\n');
  const files = readRenderedDir(dir);
  expect(files.map((f) => f.path)).toEqual(['alertmanager/alertmanager.yml']);
  expect(JSON.stringify(files)).not.toContain('secret-value');
});

describe('volume names in backups', () => {
  it('an external volume is backed up under its own Docker name, others under <project>_<key>', async () => {
    const { volumeName } = await import('../../src/backup/volumes.js');
    const stack = { project: 'shop-production', volumes: { media: { external: true }, uploads: { external: true, name: 'legacy_uploads' } } } as unknown as Parameters<typeof volumeName>[0];
    expect(volumeName(stack, 'media')).toBe('media');
    expect(volumeName(stack, 'uploads')).toBe('legacy_uploads');
    expect(volumeName(stack, 'pgdata')).toBe('shop-production_pgdata');
  });
});
