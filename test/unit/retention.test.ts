// Retention's pin rule: the last backup before `down --volumes` deleted the
// data is kept whatever the policy says until a NEWER backup has verified.
import { describe, it, expect } from 'vitest';
import { chooseDeletions, releasedPins, type RetainedBackup } from '../../src/plan/retention.js';

const day = 86_400_000;
const now = new Date('2026-12-07T00:00:00Z');
const b = (id: string, ageDays: number, o: { verified?: boolean; pinned?: boolean } = {}): RetainedBackup => ({
  id,
  time: new Date(now.getTime() - ageDays * day).toISOString(),
  ...(o.verified ? { verified: now.toISOString() } : {}),
  ...(o.pinned ? { pinned: 'last before down --volumes (run r1)' } : {}),
});

describe('retention keeps a pinned backup until a newer one verifies', () => {
  it('newer backups that did not verify do not release it, whatever keep_last and max_age_days say', () => {
    // its own verified mark lost (or never there): the pin alone keeps it
    const list = [b('old', 40), b('pin', 30, { pinned: true }), b('n1', 3), b('n2', 2), b('n3', 1)];
    expect(chooseDeletions(list, { keep_last: 1 }, now)).toEqual(['old', 'n1', 'n2']);
    expect(chooseDeletions(list, { max_age_days: 7 }, now)).toEqual(['old']);
    expect(releasedPins(list)).toEqual([]);
  });

  it('an older verified backup does not release it', () => {
    const list = [b('v-old', 50, { verified: true }), b('pin', 30, { pinned: true }), b('n1', 1)];
    expect(chooseDeletions(list, { keep_last: 1 }, now)).toEqual([]);
    expect(releasedPins(list)).toEqual([]);
  });

  it('a newer verified backup releases it: then it ages like any other', () => {
    const list = [b('pin', 30, { pinned: true, verified: true }), b('n1', 3), b('n2', 2, { verified: true }), b('n3', 1)];
    expect(releasedPins(list)).toEqual(['pin']);
    expect(chooseDeletions(list, { keep_last: 1 }, now)).toEqual(['pin', 'n1']);
    expect(chooseDeletions(list, { max_age_days: 10 }, now)).toEqual(['pin']);
  });

  it('the same time: the id decides which is newer; no policy still deletes nothing', () => {
    const t = b('a', 5);
    const list = [{ ...t, id: 'a', pinned: 'x' }, { ...t, id: 'b', verified: 'y' }];
    expect(releasedPins(list)).toEqual(['a']);
    expect(chooseDeletions([b('pin', 400, { pinned: true }), b('n', 1)], {}, now)).toEqual([]);
  });
});
