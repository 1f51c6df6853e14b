// backup.pitr, the pure parts: the --to time forms, WAL segment names, gaps,
// the recoverable range and the base backup picked, the recovery settings
// and argv builders (exact), the rendered postgresql.conf and compose
// service, the schema's refusals (exit 2, file:line), and status's check.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import { archiveGap, parseSegment, parseTargetTime, pgTimestamp, pickBase, recoverableRange, recoverySettings, segmentName } from '../../src/plan/pitr.js';
import { archiveCleanupArgv, archiveListArgv, baseBackupArgv, copyVolumeArgv, parseArchiveListing, parseArchiver, restoreBaseArgv, type ArchivedFile, type BaseRef } from '../../src/commands/pitr.js';
import { ARCHIVE_COMMAND, RESTORE_COMMAND } from '../../src/render/pitr.js';
import { renderPostgresConf } from '../../src/render/datastores.js';
import { renderCompose } from '../../src/render/compose.js';
import { pitrCheck, type PitrFact } from '../../src/plan/pitr-status.js';
import { ROOT } from '../helpers.js';

const MB16 = 16 * 1024 * 1024;
const seg = (name: string, iso: string): ArchivedFile => ({ name, mtime: Date.parse(iso) / 1000, size: MB16 });

describe('rollback --to: the time', () => {
  it('reads the space and T forms as UTC, and honours an offset', () => {
    expect(parseTargetTime('2026-12-07 10:31:05').toISOString()).toBe('2026-12-07T10:31:05.000Z');
    expect(parseTargetTime('2026-12-07T10:31:05.25').toISOString()).toBe('2026-12-07T10:31:05.250Z');
    expect(parseTargetTime('2026-12-07 10:31').toISOString()).toBe('2026-12-07T10:31:00.000Z');
    expect(parseTargetTime('2026-12-07T10:31:05Z').toISOString()).toBe('2026-12-07T10:31:05.000Z');
    expect(parseTargetTime('2026-12-07T11:31:05+01:00').toISOString()).toBe('2026-12-07T10:31:05.000Z');
    expect(parseTargetTime('2026-12-07 05:01:05-0530').toISOString()).toBe('2026-12-07T10:31:05.000Z');
    expect(pgTimestamp(new Date('2026-12-07T10:31:05.123Z'))).toBe('2026-12-07 10:31:05.123+00');
  });

  it('refuses what is not a time, or not a real one, with exit 2 and the valid forms', () => {
    for (const bad of ['yesterday', '2026-12-07', '07/12/2026 10:31', '2026-02-30 10:00:00', '2026-12-07 24:00:00', '2026-12-07 10:61:00']) {
      let err: unknown;
      try {
        parseTargetTime(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(UsageError);
      expect((err as UsageError).exitCode).toBe(2);
      expect((err as Error).message).toMatch(/valid: "2026-12-07 10:31:05" \(UTC\)/);
    }
  });
});

describe('the WAL archive', () => {
  it('names segments by timeline, log and segment', () => {
    expect(parseSegment('00000002000000010000003F', 256)).toEqual({ timeline: 2, index: 256 + 63 });
    expect(segmentName(2, 256 + 63, 256)).toBe('00000002000000010000003F');
    expect(segmentName(1, 255, 256)).toBe('0000000100000000000000FF');
  });

  const files = [
    seg('000000010000000000000003', '2026-12-07T10:00:00Z'),
    seg('000000010000000000000004', '2026-12-07T10:01:00Z'),
    { name: '000000010000000000000004.00000028.backup', mtime: Date.parse('2026-12-07T10:01:00Z') / 1000, size: 300 },
    seg('000000010000000000000005', '2026-12-07T10:02:00Z'),
    { name: '00000002.history', mtime: Date.parse('2026-12-07T10:03:00Z') / 1000, size: 42 },
    // a rollback's new timeline continues the numbering where it branched
    seg('000000020000000000000005', '2026-12-07T10:03:00Z'),
    seg('000000020000000000000006', '2026-12-07T10:04:00Z'),
  ];

  it('finds no gap across a timeline switch, and the first missing segment when there is one', () => {
    expect(archiveGap(files, '000000010000000000000003')).toBeUndefined();
    // timeline 1's segment 5 is not missed: timeline 2 holds segment 5
    const holed = files.filter((f) => f.name !== '000000010000000000000004' && f.name !== '000000010000000000000005');
    expect(archiveGap(holed, '000000010000000000000003')).toEqual({ first_missing: '000000010000000000000004', missing: 1, recoverable_until: '2026-12-07T10:00:00.000Z' });
    const wider = holed.filter((f) => f.name !== '000000020000000000000005');
    expect(archiveGap(wider, '000000010000000000000003')).toEqual({ first_missing: '000000010000000000000004', missing: 2, recoverable_until: '2026-12-07T10:00:00.000Z' });
    // segments before the base backup's first one do not count
    expect(archiveGap(files.slice(1), '000000010000000000000004')).toBeUndefined();
    expect(archiveGap([], '000000010000000000000004')).toEqual({ first_missing: '000000010000000000000004', missing: 1 });
  });

  const bases: BaseRef[] = [
    { id: 'b1', start_wal: '000000010000000000000003', start_time: '2026-12-07T09:59:50Z', end_time: '2026-12-07T10:00:00.500Z' },
    { id: 'b2', start_wal: '000000010000000000000005', start_time: '2026-12-07T10:01:50Z', end_time: '2026-12-07T10:02:00.500Z' },
  ];

  it('reaches from the oldest base backup to the newest archived segment (or the first gap), and picks the newest base before the target', () => {
    expect(recoverableRange(bases, files)).toEqual({ from: '2026-12-07T10:00:00.500Z', to: '2026-12-07T10:04:00.000Z' });
    expect(pickBase(bases, files, new Date('2026-12-07T10:01:00Z')).base.id).toBe('b1');
    expect(pickBase(bases, files, new Date('2026-12-07T10:03:30Z')).base.id).toBe('b2');
    // the marker commit `rollback --to` makes before reading the archive: the range ends there
    expect(recoverableRange(bases, files, '2026-12-07T10:04:30.250Z')).toEqual({ from: '2026-12-07T10:00:00.500Z', to: '2026-12-07T10:04:30.250Z' });
    const holed = files.filter((f) => f.name !== '000000010000000000000004');
    expect(recoverableRange(bases, holed, '2026-12-07T10:04:30.250Z')).toEqual({ from: '2026-12-07T10:00:00.500Z', to: '2026-12-07T10:00:00.000Z' });
  });

  it('refuses a target outside the range with exit 2, naming the range', () => {
    for (const t of ['2026-12-07T09:00:00Z', '2026-12-07T10:00:00.100Z', '2026-12-07T10:05:00Z']) {
      let err: unknown;
      try {
        pickBase(bases, files, new Date(t));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toBe(`${new Date(t).toISOString()} is outside the recoverable range 2026-12-07T10:00:00.500Z .. 2026-12-07T10:04:00.000Z (oldest base backup .. newest archived WAL)`);
    }
    expect(() => pickBase([], files, new Date('2026-12-07T10:01:00Z'))).toThrow(/no backup holds a base backup yet/);
  });

  it('parses what the container prints: the archive listing (temporary copies left out) and pg_stat_archiver', () => {
    const listing = `/var/lib/postgresql/wal-archive/000000010000000000000004 1796637660 16777216\n/var/lib/postgresql/wal-archive/000000010000000000000005.tmp 1796637661 8192\n/var/lib/postgresql/wal-archive/000000010000000000000003 1796637600 16777216\n`;
    expect(parseArchiveListing(listing)).toEqual([
      { name: '000000010000000000000003', mtime: 1796637600, size: MB16 },
      { name: '000000010000000000000004', mtime: 1796637660, size: MB16 },
    ]);
    expect(parseArchiver('12|000000010000000000000004|1796637660|1|000000010000000000000005|1796637700|2|1796637690')).toEqual({
      archived_count: 12,
      last_archived_wal: '000000010000000000000004',
      last_archived_time: new Date(1796637660_000).toISOString(),
      failed_count: 1,
      last_failed_wal: '000000010000000000000005',
      last_failed_time: new Date(1796637700_000).toISOString(),
      waiting: 2,
      oldest_waiting_since: new Date(1796637690_000).toISOString(),
    });
    expect(parseArchiver('0||||||0|')).toEqual({ archived_count: 0, failed_count: 0, waiting: 0 });
  });
});

describe('recovery settings and argv (exact)', () => {
  it('writes the recovery settings postgresql.auto.conf gets', () => {
    expect(recoverySettings(new Date('2026-12-07T10:31:05Z'), RESTORE_COMMAND)).toBe(
      [
        '# lifeops rollback --to: removed again once the server is promoted',
        "restore_command = 'cp /var/lib/postgresql/wal-archive/%f %p'",
        "recovery_target_time = '2026-12-07 10:31:05.000+00'",
        "recovery_target_action = 'promote'",
        "recovery_target_timeline = 'latest'",
        '',
      ].join('\n'),
    );
  });

  it('builds the base backup, listing, cleanup, copy and restore commands', () => {
    expect(baseBackupArgv('c1', 'demo', 'lifeops X')).toEqual(['docker', 'exec', 'c1', 'pg_basebackup', '-U', 'demo', '-D', '-', '-F', 't', '-X', 'fetch', '-c', 'fast', '-l', 'lifeops X']);
    expect(archiveListArgv('c1')).toEqual(['docker', 'exec', 'c1', 'find', '/var/lib/postgresql/wal-archive', '-maxdepth', '1', '-type', 'f', '!', '-name', '*.tmp', '-exec', 'stat', '-c', '%n %Y %s', '{}', '+']);
    expect(archiveCleanupArgv('c1', '000000010000000000000005')).toEqual(['docker', 'exec', 'c1', 'pg_archivecleanup', '/var/lib/postgresql/wal-archive', '000000010000000000000005']);
    expect(copyVolumeArgv('img', 'p-local', 'p-local_pgdata', 'undo')).toEqual([
      'docker', 'run', '--rm', '--label', 'lifeops.project=p-local', '--label', 'lifeops.oneoff=pitr-copy', '--user', '0', '--entrypoint', 'sh',
      '-v', 'p-local_pgdata:/from:ro', '-v', 'undo:/to', 'img', '-c', 'set -e; find /to -mindepth 1 -delete; cp -a /from/. /to/',
    ]);
    const restore = restoreBaseArgv('img', 'p-local', 'p-local_pgdata');
    // the recovery settings travel in the environment, never on the command line
    expect(restore.slice(0, 14)).toEqual(['docker', 'run', '--rm', '-i', '--label', 'lifeops.project=p-local', '--label', 'lifeops.oneoff=pitr-restore', '--user', '0', '--entrypoint', 'sh', '-e', 'LIFEOPS_RECOVERY']);
    expect(restore.at(-1)).toBe('set -e\nfind /pgdata -mindepth 1 -delete\ntar -x -C /pgdata\nprintf "%s" "$LIFEOPS_RECOVERY" >> /pgdata/postgresql.auto.conf\n: > /pgdata/recovery.signal\nchown -R postgres:postgres /pgdata\nchmod 700 /pgdata');
  });
});

const tmp = mkdtempSync(path.join(os.tmpdir(), 'lifeops-pitr-'));
function demoWith(name: string, edit: (text: string) => string) {
  const text = edit(readFileSync(path.join(ROOT, 'stacks', 'demo.yaml'), 'utf8'));
  const f = path.join(tmp, `${name}.yaml`);
  writeFileSync(f, text);
  writeFileSync(path.join(tmp, 'demo.local.env'), readFileSync(path.join(ROOT, 'stacks', 'demo.local.env')));
  return loadStack({ file: f, processEnv: {} });
}
const withPitr = (extra = '') => (t: string) => t.replace(/^backup:\n/m, `backup:\n  pitr: { enabled: true, archive_timeout: 30s }\n${extra}`);

describe('rendered files with backup.pitr on', () => {
  it('postgresql.conf archives each segment atomically and never overwrites', () => {
    const conf = renderPostgresConf(demoWith('on', withPitr()));
    expect(conf).toContain("archive_mode = 'on'   # backup.pitr\n");
    expect(conf).toContain('archive_timeout = 30   # backup.pitr\n');
    expect(conf).toContain("wal_level = 'replica'   # backup.pitr\n");
    expect(conf).toContain(`archive_command = '${ARCHIVE_COMMAND}'   # backup.pitr\n`);
    expect(ARCHIVE_COMMAND).toBe('f=/var/lib/postgresql/wal-archive/%f; if [ -f "$f" ]; then cmp -s %p "$f"; else cp %p "$f.tmp" && sync "$f.tmp" && mv "$f.tmp" "$f"; fi');
    expect(renderPostgresConf(demoWith('off', (t) => t))).not.toMatch(/archive/);
  });

  it('the db service mounts the archive volume and starts through the wrapper, with the image unchanged', () => {
    const stack = demoWith('on2', withPitr());
    const doc = parse(renderCompose(stack, path.join(tmp, 'render')));
    const db = doc.services.db;
    expect(db.image).toBe('lifeops/postgres:15');
    expect(db.volumes).toContain('lifeops-wal-archive:/var/lib/postgresql/wal-archive');
    expect(doc.volumes['lifeops-wal-archive']).toEqual({});
    expect(db.command.slice(0, 2)).toEqual(['sh', '-c']);
    expect(db.command.slice(3)).toEqual(['postgres-start', 'postgres', '-c', 'config_file=/etc/postgresql/postgresql.conf']);
    expect(db.command[2]).toContain('chown postgres:postgres "$$d"');
    expect(db.command[2]).toContain('exec docker-entrypoint.sh "$$@"');
  });

  it('refuses pitr where it cannot work, and archiving keys it sets itself (exit 2, file:line)', () => {
    const err = (name: string, edit: (t: string) => string) => {
      try {
        demoWith(name, edit);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        expect((e as ConfigError).exitCode).toBe(2);
        return (e as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(err('ext', (t) => withPitr()(t).replace('postgres: { service: db,', 'postgres: { service: db, external_url: "postgresql://u@db.example:5432/x",'))).toMatch(/backup\.pitr\.enabled.*point-in-time recovery archives the WAL of the stack's own Postgres service/);
    expect(err('tun', (t) => withPitr()(t).replace('database: demo }', 'database: demo, tuning: { archive_mode: "off" } }'))).toMatch(/:\d+:\d+.*postgres\.tuning\.archive_mode.*backup\.pitr sets archive_mode itself/);
    expect(err('sw', (t) => withPitr()(t).replace("    env_file: demo.local.env\n    target: swarm", "    env_file: demo.local.env\n    target: swarm").replace(/^default_environment: local$/m, 'default_environment: swarm'))).toMatch(/compose target only/);
  });
});

describe('status: the wal archive check', () => {
  const now = new Date('2026-12-07T10:10:00Z');
  const fact = (f: Partial<PitrFact>): PitrFact => ({ base_backups: 1, warn_s: 300, crit_s: 1800, duration_ms: 5, archiver: { archived_count: 9, last_archived_wal: '000000010000000000000009', last_archived_time: '2026-12-07T10:09:30Z', failed_count: 0, waiting: 0 }, newest: { name: '000000010000000000000009', time: '2026-12-07T10:09:30Z' }, ...f });
  it('OK when nothing waits, WARNING/CRITICAL by the age of the oldest waiting segment, WARNING on failures, a gap, no base backup', () => {
    expect(pitrCheck(fact({}), now)).toEqual({ check: 'wal archive', level: 'OK', duration_ms: 5, message: 'last archived 000000010000000000000009 30.0s ago; none waiting; newest in the archive 000000010000000000000009, archived 30.0s ago; 1 base backup' });
    const waiting = (since: string) => fact({ archiver: { ...fact({}).archiver!, waiting: 3, oldest_waiting_since: since } });
    expect(pitrCheck(waiting('2026-12-07T10:09:00Z'), now).level).toBe('OK');
    expect(pitrCheck(waiting('2026-12-07T10:04:00Z'), now).level).toBe('WARNING');
    expect(pitrCheck(waiting('2026-12-07T09:30:00Z'), now)).toMatchObject({ level: 'CRITICAL', message: expect.stringContaining('3 segments waiting, the oldest since 40m') });
    const failing = fact({ archiver: { ...fact({}).archiver!, failed_count: 4, last_failed_wal: '00000001000000000000000A', last_failed_time: '2026-12-07T10:09:50Z' } });
    expect(pitrCheck(failing, now)).toMatchObject({ level: 'WARNING', message: expect.stringContaining('archive_command FAILING: last failure for 00000001000000000000000A') });
    expect(pitrCheck(fact({ gap: { first_missing: '000000010000000000000007', missing: 1 } }), now)).toMatchObject({ level: 'WARNING', message: expect.stringContaining('GAP: 1 segment missing from 000000010000000000000007') });
    expect(pitrCheck(fact({ base_backups: 0 }), now)).toMatchObject({ level: 'WARNING', message: expect.stringContaining('no base backup yet') });
    expect(pitrCheck(fact({ archiver: undefined, error: 'db is not running: the archiver cannot be asked' }), now)).toMatchObject({ level: 'UNKNOWN' });
  });
});
