// The WAL archive off-site, the pure parts: restic and docker argv (exact; the
// repository password and the recovery settings never on an argv), pg_waldump's
// last commit, the host mirror's plan, the index and the base backup a
// `restore --from-offsite --to` picks (exit 2 outside the off-site range,
// naming it), superseded WAL snapshots, status's check, and the cron line.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStack } from '../../src/config/load.js';
import { UsageError } from '../../src/errors.js';
import { resticBackupWal, resticDump, resticForgetOnly, resticWalSnapshots, walTags, type ResticTarget } from '../../src/commands/restic.js';
import { archiveFileArgv, copyWalInArgv, ownArchiveArgv, prepareRecoveryArgv, walDumpArgv } from '../../src/commands/pitr-offsite.js';
import type { ArchivedFile, BaseRef } from '../../src/commands/pitr.js';
import { indexKey, lastCommitTime, mirrorPlan, offsiteRecoveryPlan, offsiteRecoverySettings, segmentsNewestFirst, segmentTimeline, walIndex, type WalIndex } from '../../src/plan/pitr-offsite.js';
import { walOffsiteCheck, type WalOffsiteFact } from '../../src/plan/pitr-offsite-status.js';
import { supersededWal } from '../../src/flows/pitr-offsite.js';
import { renderCronD } from '../../src/render/cron.js';
import { ROOT } from '../helpers.js';

const box: ResticTarget = { name: 'box', url: '/srv/restic/shop' };
const PW = 'wal-secret-pw-9c1e';
const A = '/var/lib/postgresql/wal-archive';

describe('argv builders', () => {
  it('restic: the WAL snapshot, its listing, one file, forget without prune; the password only in the environment', () => {
    const secret = { value: PW };
    const b = resticBackupWal(box, secret, '/s/cache', { project: 'shop', env: 'prod' });
    expect(b.argv).toEqual(['restic', '--repo', '/srv/restic/shop', 'backup', '--json', '--host', 'lifeops-shop-prod', '--tag', 'lifeops', '--tag', 'project=shop', '--tag', 'env=prod', '--tag', 'wal', 'wal']);
    expect(b.env.RESTIC_PASSWORD).toBe(PW);
    expect(resticWalSnapshots(box, secret, '/s/cache', { project: 'shop', env: 'prod' }).argv.slice(3)).toEqual(['snapshots', '--json', '--tag', 'project=shop,env=prod,wal']);
    expect(resticDump(box, { file: '/s/pw' }, '/c', '3f9a1c2b', 'wal/lifeops-wal.json').argv.slice(3)).toEqual(['dump', '3f9a1c2b', 'wal/lifeops-wal.json']);
    expect(resticForgetOnly(box, secret, '/c', ['3f9a1c2b', 'aa00bb11']).argv.slice(3)).toEqual(['forget', '3f9a1c2b', 'aa00bb11']);
    expect(() => resticDump(box, secret, '/c', '--target=/', 'x')).toThrow(/snapshot id/);
    expect(() => resticForgetOnly(box, secret, '/c', [])).toThrow();
    expect(walTags('shop', 'prod')).not.toContainEqual(expect.stringMatching(/^backup=/));
    for (const c of [b, resticWalSnapshots(box, secret, '/c', { project: 'shop', env: 'prod' }), resticDump(box, secret, '/c', '3f9a1c2b', 'f'), resticForgetOnly(box, secret, '/c', ['3f9a1c2b'])]) {
      expect(c.argv.join(' ')).not.toContain(PW);
    }
  });

  it('docker: one archived file, its commits in UTC, the recovery prepared (settings from the environment), the WAL copied in and owned', () => {
    expect(archiveFileArgv('c1', '000000010000000000000004')).toEqual(['docker', 'exec', 'c1', 'cat', `${A}/000000010000000000000004`]);
    expect(archiveFileArgv('c1', '00000002.history')).toEqual(['docker', 'exec', 'c1', 'cat', `${A}/00000002.history`]);
    expect(walDumpArgv('c1', '000000010000000000000004')).toEqual(['docker', 'exec', '-e', 'TZ=UTC', 'c1', 'pg_waldump', '--rmgr=Transaction', `${A}/000000010000000000000004`]);
    for (const bad of ['../etc/passwd', '00000001000000000000000Z', 'x;rm -rf /', '']) expect(() => archiveFileArgv('c1', bad), bad).toThrow(/not a WAL archive file name/);
    const prep = prepareRecoveryArgv('img:15', 'shop', 'shop_db-data', 'shop_lifeops-wal-archive');
    expect(prep.slice(0, 15)).toEqual(['docker', 'run', '--rm', '-i', '--label', 'lifeops.project=shop', '--label', 'lifeops.oneoff=pitr-offsite-restore', '--user', '0', '--entrypoint', 'sh', '-e', 'LIFEOPS_RECOVERY', '-v']);
    expect(prep).toContain('shop_db-data:/pgdata');
    expect(prep).toContain('shop_lifeops-wal-archive:/archive');
    expect(prep.at(-1)).toContain('find /pgdata /archive -mindepth 1 -delete');
    expect(prep.join(' ')).not.toContain('recovery_target_time');
    expect(copyWalInArgv('/s/offsite/prod-wal/wal/', 'c1')).toEqual(['docker', 'cp', '/s/offsite/prod-wal/wal/.', `c1:${A}/`]);
    const own = ownArchiveArgv('img:15', 'shop', 'shop_lifeops-wal-archive', 'lifeops-wal.json');
    expect(own.at(-1)).toBe('set -e\nrm -f "/archive/lifeops-wal.json"\nchown -R postgres:postgres /archive\nchmod 700 /archive\nfind /archive -type f -exec chmod 600 {} +');
  });
});

// lines as pg_waldump 15 printed them here (TZ=UTC)
const DUMP = [
  'rmgr: Transaction len (rec/tot):     66/    66, tx:        722, lsn: 0/015004B0, prev 0/01500438, desc: COMMIT 2026-12-07 15:30:48.184978 UTC; inval msgs: catcache 21; sync',
  'rmgr: Transaction len (rec/tot):     34/    34, tx:        723, lsn: 0/015006D0, prev 0/01500630, desc: ABORT 2026-12-07 15:30:48.300000 UTC',
  'rmgr: Transaction len (rec/tot):    405/   405, tx:        724, lsn: 0/015165D8, prev 0/01516598, desc: COMMIT 2026-12-07 15:30:48.447511 UTC; inval msgs: catcache 80 snapshot 2608 relcache 16384',
  'pg_waldump: error: error in WAL record at 0/15165D8: invalid record length at 0/1516788: wanted 24, got 0',
].join('\n');

describe('the last commit pg_waldump shows', () => {
  it('is the last COMMIT/ABORT time, cut (never rounded up) to milliseconds', () => {
    expect(lastCommitTime(DUMP)).toBe('2026-12-07T15:30:48.447Z');
    expect(lastCommitTime('desc: COMMIT 2026-12-07 15:30:48 UTC')).toBe('2026-12-07T15:30:48.000Z');
    expect(lastCommitTime('rmgr: XLOG len ... desc: SWITCH')).toBeUndefined();
    expect(lastCommitTime('')).toBeUndefined();
  });
});

const MB16 = 16 * 1024 * 1024;
const f = (name: string, iso: string, size = MB16): ArchivedFile => ({ name, mtime: Date.parse(iso) / 1000, size });

describe('the host mirror of the archive', () => {
  it('fetches what it lacks, drops what the archive pruned, keeps its index and ignores other names', () => {
    const archive = [f('000000010000000000000004', '2026-12-07T10:01:00Z'), f('000000010000000000000005', '2026-12-07T10:02:00Z'), f('00000002.history', '2026-12-07T10:03:00Z', 42)];
    const plan = mirrorPlan(archive, ['000000010000000000000003', '000000010000000000000004', 'lifeops-wal.json', '000000010000000000000005.tmp']);
    expect(plan.fetch.map((x) => x.name)).toEqual(['000000010000000000000005', '00000002.history']);
    expect(plan.drop).toEqual(['000000010000000000000003']);
  });

  it('orders segments by their place in the WAL, a later timeline first', () => {
    expect(segmentsNewestFirst(['000000010000000000000005', '00000002.history', '000000020000000000000006', '000000010000000000000006', '00000001000000010000000A'])).toEqual([
      '00000001000000010000000A', '000000020000000000000006', '000000010000000000000006', '000000010000000000000005',
    ]);
  });
});

const bases: BaseRef[] = [
  { id: '20261207T090000Z-aaaaaa', start_wal: '000000010000000000000002', start_time: '2026-12-07T09:00:00.000Z', end_time: '2026-12-07T09:00:05.000Z' },
  { id: '20261207T100000Z-bbbbbb', start_wal: '000000010000000000000004', start_time: '2026-12-07T10:00:00.000Z', end_time: '2026-12-07T10:00:05.000Z' },
];
const files = [f('000000010000000000000002', '2026-12-07T09:00:06Z'), f('000000010000000000000003', '2026-12-07T09:30:00Z'), f('000000010000000000000004', '2026-12-07T10:00:06Z'), f('000000010000000000000005', '2026-12-07T10:20:00Z')];
const index: WalIndex = walIndex({ project: 'shop', env: 'prod', now: new Date('2026-12-07T10:25:00Z'), files, reachable: '2026-12-07T10:19:58.123Z', bases: [...bases].reverse() });
const usage = (fn: () => unknown): UsageError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).exitCode).toBe(2);
    return e as UsageError;
  }
  throw new Error('expected a UsageError');
};

describe('restore --from-offsite --to: the index and the plan', () => {
  it('the index names the newest segment, the last commit and the base backups (oldest first)', () => {
    expect(index).toMatchObject({ format: 1, segments: 4, oldest_segment: '000000010000000000000002', newest_segment: { name: '000000010000000000000005', time: '2026-12-07T10:20:00.000Z' }, reachable_until: '2026-12-07T10:19:58.123Z' });
    expect(index.bases.map((b) => b.id)).toEqual(bases.map((b) => b.id));
    expect(indexKey(index)).toBe(indexKey({ ...index, pushed_at: 'later' }));
    expect(indexKey(index)).not.toBe(indexKey({ ...index, reachable_until: '2026-12-07T10:21:00.000Z' }));
  });

  it('picks the newest base backup that ended at or before the target', () => {
    const ids = bases.map((b) => b.id);
    expect(offsiteRecoveryPlan(index, ids, new Date('2026-12-07T10:10:00Z'), 'box')).toEqual({ base: bases[1], range: { from: bases[0].end_time, to: '2026-12-07T10:19:58.123Z' } });
    expect(offsiteRecoveryPlan(index, ids, new Date('2026-12-07T09:59:59Z'), 'box').base).toEqual(bases[0]);
    expect(offsiteRecoveryPlan(index, ids, new Date('2026-12-07T10:19:58.123Z'), 'box').base).toEqual(bases[1]);
    // a base backup whose copy is not in the repository is not used
    expect(offsiteRecoveryPlan(index, [bases[0].id], new Date('2026-12-07T10:10:00Z'), 'box').base).toEqual(bases[0]);
  });

  it('refuses (exit 2) a time past the last off-site commit, naming it, and one before the oldest base backup, naming the range', () => {
    const ids = bases.map((b) => b.id);
    const past = usage(() => offsiteRecoveryPlan(index, ids, new Date('2026-12-07T10:19:58.124Z'), 'box'));
    expect(past.message).toContain('past the newest point the off-site WAL reaches: 2026-12-07T10:19:58.123Z');
    expect(past.message).toContain('segment 000000010000000000000005');
    expect(past.hint).toContain('at or before 2026-12-07T10:19:58.123Z');
    const before = usage(() => offsiteRecoveryPlan(index, ids, new Date('2026-12-07T09:00:04Z'), 'box'));
    expect(before.message).toContain(`before the end of the oldest off-site base backup (${bases[0].id}, ended ${bases[0].end_time}); recoverable from the off-site copies: ${bases[0].end_time} .. 2026-12-07T10:19:58.123Z`);
    // the pushed WAL starts after the first base backup: the range starts at the second
    const pruned = { ...index, oldest_segment: '000000010000000000000004' };
    expect(usage(() => offsiteRecoveryPlan(pruned, ids, new Date('2026-12-07T09:30:00Z'), 'box')).message).toContain(`(${bases[1].id}, ended ${bases[1].end_time})`);
    expect(usage(() => offsiteRecoveryPlan({ ...index, reachable_until: undefined }, ids, new Date('2026-12-07T10:10:00Z'), 'box')).message).toContain('holds no commit yet');
    expect(usage(() => offsiteRecoveryPlan(index, [], new Date('2026-12-07T10:10:00Z'), 'box')).message).toContain('starts after every base backup copied there');
  });

  it('replays to the target, or the whole WAL at the range end (the last pushed commit lies just after its millisecond)', () => {
    const end = '2026-12-07T10:19:58.123Z';
    const before = offsiteRecoverySettings(new Date('2026-12-07T10:10:00Z'), end, 'cp /a/%f %p');
    expect(before).toContain("recovery_target_time = '2026-12-07 10:10:00.000+00'");
    expect(before).toContain("recovery_target_action = 'promote'");
    expect(offsiteRecoverySettings(new Date(end), end, 'cp /a/%f %p')).toBe(
      "# lifeops restore --from-offsite --to the end of the off-site WAL: removed again once the server is promoted\nrestore_command = 'cp /a/%f %p'\nrecovery_target_timeline = 'latest'\n",
    );
  });

  it('follows the timeline of the newest segment pushed, not the newest in the archive (an abandoned one)', () => {
    const end = '2026-12-07T10:19:58.123Z';
    expect(segmentTimeline('00000003000000000000002A')).toBe(3);
    expect(segmentTimeline('00000003.history')).toBeUndefined();
    expect(offsiteRecoverySettings(new Date('2026-12-07T10:10:00Z'), end, 'cp /a/%f %p', 3)).toContain("recovery_target_timeline = '3'");
    expect(offsiteRecoverySettings(new Date(end), end, 'cp /a/%f %p', 3)).toContain("recovery_target_timeline = '3'");
    expect(offsiteRecoverySettings(new Date(end), end, 'cp /a/%f %p', 3)).not.toContain('latest');
  });

  it('keeps the newest three WAL snapshots and forgets the others (backup copies untouched)', () => {
    const snap = (id: string, time: string, tags = ['lifeops', 'wal']) => ({ id: id.repeat(8), short_id: id.repeat(8).slice(0, 8), time, tags });
    const snaps = [snap('a', '2026-12-07T10:00:00Z'), snap('b', '2026-12-07T10:05:00Z'), snap('c', '2026-12-07T10:10:00Z'), snap('d', '2026-12-07T10:15:00Z'), snap('e', '2026-12-07T10:20:00Z'), snap('f', '2026-12-07T09:00:00Z', ['lifeops', 'backup=x'])];
    expect(supersededWal(snaps).sort()).toEqual(['aaaaaaaa', 'bbbbbbbb']);
  });
});

describe('status: the WAL off-site check', () => {
  const now = new Date('2026-12-07T12:00:00Z');
  const base: WalOffsiteFact = { repo: 'box', newest: { name: '000000010000000000000005', time: '2026-12-07T08:00:00Z' }, reachable_until: '2026-12-07T07:59:58.000Z', pushed_at: '2026-12-07T08:01:00Z', last_attempt: { time: '2026-12-07T08:01:00Z', ok: true }, waiting: 0, warn_s: 900, crit_s: 3600 };
  it('caught up is OK however old the newest segment is (an idle database archives nothing)', () => {
    const c = walOffsiteCheck(base, now);
    expect(c).toMatchObject({ check: 'wal off-site box', level: 'OK' });
    expect(c.message).toContain('newest segment off-site 000000010000000000000005, archived 4h00m ago, its last commit 2026-12-07T07:59:58.000Z');
    expect(c.message).toContain('caught up');
  });
  it('segments waiting past warn / crit are WARNING / CRITICAL; a failed push is at least WARNING', () => {
    expect(walOffsiteCheck({ ...base, waiting: 2, oldest_waiting_since: '2026-12-07T11:50:00Z' }, now).level).toBe('OK');
    expect(walOffsiteCheck({ ...base, waiting: 2, oldest_waiting_since: '2026-12-07T11:40:00Z' }, now).level).toBe('WARNING');
    const crit = walOffsiteCheck({ ...base, waiting: 9, oldest_waiting_since: '2026-12-07T10:30:00Z' }, now);
    expect(crit.level).toBe('CRITICAL');
    expect(crit.message).toContain('9 segments not off-site yet, the oldest archived 1h30m ago');
    const failed = walOffsiteCheck({ ...base, last_attempt: { time: '2026-12-07T11:59:00Z', ok: false, error: 'ssh: connect refused' } }, now);
    expect(failed.level).toBe('WARNING');
    expect(failed.message).toContain('last push FAILED 1m00s ago: ssh: connect refused');
  });
  it('without the archive listing, the newest off-site segment\'s age is judged; never pushed is a WARNING', () => {
    expect(walOffsiteCheck({ ...base, waiting: undefined }, now).level).toBe('CRITICAL');
    expect(walOffsiteCheck({ ...base, waiting: undefined, newest: { name: 'x', time: '2026-12-07T11:55:00Z' } }, now).level).toBe('OK');
    const never = walOffsiteCheck({ repo: 'box', waiting: 3, oldest_waiting_since: '2026-12-07T11:59:00Z', warn_s: 900, crit_s: 3600 }, now);
    expect(never.message).toContain('no WAL off-site yet');
  });
});

describe('the cron line of the WAL push', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'lifeops-pitr-offsite-'));
  const demo = (name: string, backupExtra: string) => {
    const file = path.join(tmp, `${name}.yaml`);
    writeFileSync(file, readFileSync(path.join(ROOT, 'stacks', 'demo.yaml'), 'utf8').replace(/^backup:\n/m, `backup:\n${backupExtra}`));
    writeFileSync(path.join(tmp, 'demo.local.env'), readFileSync(path.join(ROOT, 'stacks', 'demo.local.env')));
    return loadStack({ file, processEnv: {} });
  };
  const target = { node: '/usr/bin/node', bin: '/opt/lifeops/bin/lifeops.js', stateDir: '/var/lib/lifeops' };
  it('runs `offsite push` on backup.pitr.offsite.schedule when pitr and off-site repositories are on, and not otherwise', () => {
    const s = demo('on', '  pitr: { enabled: true, offsite: { schedule: "*/10 * * * *" } }\n');
    const line = renderCronD(s, target).split('\n').find((l) => l.includes('offsite push'));
    expect(line).toBe(`*/10 * * * * root /usr/bin/node /opt/lifeops/bin/lifeops.js -f ${s.file} --state-dir /var/lib/lifeops offsite push --wait 4m --env local >> /var/lib/lifeops/logs/cron.log 2>&1`);
    expect(demo('def', '  pitr: { enabled: true }\n').backup.pitr!.offsite).toEqual({ schedule: '*/5 * * * *', lag: { warn: '15m', crit: '1h' } });
    expect(renderCronD(demo('off', ''), target)).not.toContain('offsite push');
  });
});
