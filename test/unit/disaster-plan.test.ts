// Disaster recovery's and off-site retention's pure decisions: which copies
// are this project's (by tags), which one `latest|<id>` names, whether the
// target may be written to; daily/weekly/monthly generations; the copies
// off-site retention removes (never the newest, never the newest verified);
// and restic forget's exact argv.
import { describe, it, expect } from 'vitest';
import { chooseCopy, copiesOf, targetDecision, type SnapshotFacts } from '../../src/plan/disaster.js';
import { chooseDeletions, generationKey } from '../../src/plan/retention.js';
import { offsiteDeletions } from '../../src/plan/offsite-retention.js';
import { resticForget, resticTarget } from '../../src/commands/restic.js';
import { UsageError } from '../../src/errors.js';

const tags = (backup: string, project = 'shop-production', env = 'production') => ['lifeops', `project=${project}`, `env=${env}`, `backup=${backup}`];
const snap = (short: string, backup: string, time = '2026-12-07T10:00:00Z', t = tags(backup)): SnapshotFacts => ({ id: short.padEnd(64, '0'), short_id: short, time, tags: t });

describe('off-site copies of a project', () => {
  const snaps = [
    snap('aaaa0001', '20261205T020000Z-111111'),
    snap('aaaa0002', '20261207T020000Z-333333'),
    snap('aaaa0003', '20261206T020000Z-222222'),
    snap('bbbb0001', '20261207T030000Z-999999', undefined, tags('20261207T030000Z-999999', 'other-production')),
    snap('bbbb0002', '20261207T030000Z-888888', undefined, tags('20261207T030000Z-888888', 'shop-production', 'staging')),
    { id: 'c'.repeat(64), short_id: 'cccc0001', time: '2026-12-07T04:00:00Z', tags: null },
    snap('dddd0001', '../etc', undefined, tags('../etc')),
  ];
  const copies = copiesOf('box', snaps, 'shop-production', 'production');

  it('keeps only this project and environment, with a sane backup id, in backup order', () => {
    expect(copies.map((c) => [c.backup, c.snapshot])).toEqual([
      ['20261205T020000Z-111111', 'aaaa0001'],
      ['20261206T020000Z-222222', 'aaaa0003'],
      ['20261207T020000Z-333333', 'aaaa0002'],
    ]);
  });
  it('latest is the newest backup; an id or a snapshot id names one', () => {
    expect(chooseCopy(copies, 'latest', 'box').backup).toBe('20261207T020000Z-333333');
    expect(chooseCopy(copies, '20261205T020000Z-111111', 'box').snapshot).toBe('aaaa0001');
    expect(chooseCopy(copies, 'aaaa0003', 'box').backup).toBe('20261206T020000Z-222222');
    expect(chooseCopy(copies, 'aaaa0003'.padEnd(64, '0'), 'box').backup).toBe('20261206T020000Z-222222');
  });
  it('an unknown id is a usage error listing the newest there; no copy at all says so', () => {
    expect(() => chooseCopy(copies, 'nope', 'box')).toThrow(UsageError);
    expect(() => chooseCopy(copies, 'nope', 'box')).toThrow(/no off-site copy of backup "nope" in box; the newest there: 20261207T020000Z-333333, 20261206T020000Z-222222, 20261205T020000Z-111111/);
    expect(() => chooseCopy([], 'latest', 'box, disk')).toThrow(/no off-site copy of this project and environment in box, disk/);
  });
});

describe('the target of a disaster recovery', () => {
  const base = { project: 'shop-production', dataVolumes: [], containers: [], unfinished: false, replaceData: false };
  it('a fresh engine: go', () => expect(targetDecision(base)).toBe('fresh'));
  it("one holding the project's data: refused (exit 2) naming what it holds and the flag", () => {
    const f = { ...base, dataVolumes: ['db', 'cache'], containers: ['db', 'db', 'web'] };
    expect(() => targetDecision(f)).toThrow(UsageError);
    expect(() => targetDecision(f)).toThrow('this engine already holds project shop-production (data volumes of db, cache and containers of db, web)');
    try {
      targetDecision(f);
    } catch (e) {
      expect((e as UsageError).exitCode).toBe(2);
      expect((e as UsageError).hint).toContain('--replace-data');
    }
  });
  it('with --replace-data: a safety backup first', () => expect(targetDecision({ ...base, dataVolumes: ['db'], replaceData: true })).toBe('safety'));
  it('what an unfinished recovery made is continued, not refused', () => expect(targetDecision({ ...base, dataVolumes: ['db'], unfinished: true })).toBe('resume'));
});

describe('daily, weekly and monthly generations', () => {
  it('calendar buckets in UTC (ISO weeks)', () => {
    expect(generationKey('keep_daily', '2026-12-07T23:59:59Z')).toBe('2026-12-07');
    expect(generationKey('keep_monthly', '2026-12-07T10:00:00Z')).toBe('2026-12');
    expect(generationKey('keep_weekly', '2026-12-07T10:00:00Z')).toBe('2026-W50');
    expect(generationKey('keep_weekly', '2027-01-01T00:00:00Z')).toBe('2026-W53');
    expect(generationKey('keep_weekly', '2021-01-03T23:00:00Z')).toBe('2020-W53');
    expect(generationKey('keep_weekly', '2024-12-30T00:00:00Z')).toBe('2025-W01');
  });
  // two backups a day for 70 days, the newest on 2026-12-07
  const now = new Date('2026-12-07T12:00:00Z');
  const list = Array.from({ length: 140 }, (_, i) => {
    const t = new Date(now.getTime() - Math.floor(i / 2) * 86_400_000 - (i % 2 ? 6 : 2) * 3_600_000);
    return { id: `b${String(i).padStart(3, '0')}`, time: t.toISOString() };
  });
  const kept = (policy: Parameters<typeof chooseDeletions>[1]) => {
    const gone = new Set(chooseDeletions(list, policy, now));
    return list.filter((b) => !gone.has(b.id)).map((b) => b.id);
  };
  it('keep_daily: the newest of each of the N newest days', () => expect(kept({ keep_daily: 3 })).toEqual(['b000', 'b002', 'b004']));
  it('keep_weekly: the newest of each of the N newest weeks', () => {
    // 2026-12-07 is a Monday: this week's newest, then the Sundays before
    expect(kept({ keep_weekly: 3 }).map((id) => list.find((b) => b.id === id)!.time.slice(0, 10))).toEqual(['2026-12-07', '2026-12-06', '2026-11-29']);
  });
  it('keep_monthly: the newest of each month', () => expect(kept({ keep_monthly: 2 }).map((id) => list.find((b) => b.id === id)!.time.slice(0, 10))).toEqual(['2026-12-07', '2026-11-30']));
  it('the rules add up (a backup any rule keeps stays)', () => expect(kept({ keep_last: 1, keep_daily: 2, keep_monthly: 3 })).toHaveLength(4));
});

describe('off-site retention', () => {
  const now = new Date('2026-12-07T12:00:00Z');
  const snaps = [
    snap('00000001', '20261201T020000Z-aaaaaa'),
    snap('00000002', '20261202T020000Z-bbbbbb'),
    snap('00000003', '20261203T020000Z-cccccc'),
    snap('00000004', '20261204T020000Z-dddddd'),
    // the same backup copied twice (a retried copy): the older snapshot goes
    snap('00000005', '20261204T020000Z-dddddd', '2026-12-07T11:00:00Z'),
    snap('00000006', '20261205T020000Z-eeeeee'),
    snap('99999999', '20261205T020000Z-ffffff', undefined, tags('20261205T020000Z-ffffff', 'other-production')),
  ];
  const o = { project: 'shop-production', env: 'production', verified: {}, pinned: {}, now };
  it('the same decision as locally: keep_last 2 removes the older copies, never another project', () => {
    expect(offsiteDeletions(snaps, { ...o, policy: { keep_last: 2 } })).toEqual([
      { backup: '20261204T020000Z-dddddd', snapshot: '00000004' },
      { backup: '20261201T020000Z-aaaaaa', snapshot: '00000001' },
      { backup: '20261202T020000Z-bbbbbb', snapshot: '00000002' },
      { backup: '20261203T020000Z-cccccc', snapshot: '00000003' },
    ]);
  });
  it('never the newest verified copy, never a pinned one', () => {
    const gone = offsiteDeletions(snaps, { ...o, policy: { keep_last: 1 }, verified: { '20261202T020000Z-bbbbbb': '2026-12-03T00:00:00Z' }, pinned: { '20261203T020000Z-cccccc': 'down --volumes' } }).map((d) => d.backup);
    expect(gone).not.toContain('20261202T020000Z-bbbbbb');
    expect(gone).not.toContain('20261203T020000Z-cccccc');
    expect(gone).not.toContain('20261205T020000Z-eeeeee');
    expect(gone.sort()).toEqual(['20261201T020000Z-aaaaaa', '20261204T020000Z-dddddd', '20261204T020000Z-dddddd']);
  });
  it('no policy: only the duplicate goes', () => expect(offsiteDeletions(snaps, { ...o, policy: {} })).toEqual([{ backup: '20261204T020000Z-dddddd', snapshot: '00000004' }]));
  it('restic forget argv: the ids and --prune, the password not in it', () => {
    const t = resticTarget({ name: 'box', repository: '/srv/offsite', password_env: 'P', freshness: { warn: '30h', crit: '54h' }, check_subsets: 12 }, '/stacks');
    const c = resticForget(t, { value: 'pw-secret' }, '/state/cache/restic', ['00000001', '00000002']);
    expect(c.argv).toEqual(['restic', '--repo', '/srv/offsite', 'forget', '--prune', '00000001', '00000002']);
    expect(c.env.RESTIC_PASSWORD).toBe('pw-secret');
    expect(() => resticForget(t, { value: 'x' }, '/c', [])).toThrow();
    expect(() => resticForget(t, { value: 'x' }, '/c', ['--keep-last=0'])).toThrow();
  });
});
