// Retention in an off-site repository, pure: the copies of one project and
// environment (by their tags) go through the same decision as the local
// backup folder (plan/retention.ts), with the local verified marks and pins.
// A backup copied twice (a retried copy) keeps only its newest snapshot.
import { chooseDeletions, type RetentionPolicy } from './retention.js';
import { copiesOf, type SnapshotFacts } from './disaster.js';

export interface OffsiteDeletion {
  backup: string;
  snapshot: string;
}

/** A backup id's own time (ids start with it: 20261207T120348Z-...), else the copy's. */
function backupTime(id: string, fallback: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.000Z` : fallback;
}

export function offsiteDeletions(
  snaps: SnapshotFacts[],
  o: { project: string; env: string; policy: RetentionPolicy; verified: Record<string, string>; pinned: Record<string, string>; now: Date },
): OffsiteDeletion[] {
  const copies = copiesOf('', snaps, o.project, o.env);
  const out: OffsiteDeletion[] = [];
  const newestOf = new Map<string, (typeof copies)[number]>();
  for (const c of copies) {
    const known = newestOf.get(c.backup);
    if (known && known.time >= c.time) out.push({ backup: c.backup, snapshot: c.snapshot });
    else {
      if (known) out.push({ backup: known.backup, snapshot: known.snapshot });
      newestOf.set(c.backup, c);
    }
  }
  const retained = [...newestOf.values()].map((c) => ({
    id: c.backup,
    time: backupTime(c.backup, c.time),
    ...(o.verified[c.backup] ? { verified: o.verified[c.backup] } : {}),
    ...(o.pinned[c.backup] ? { pinned: o.pinned[c.backup] } : {}),
  }));
  for (const id of chooseDeletions(retained, o.policy, o.now)) out.push({ backup: id, snapshot: newestOf.get(id)!.snapshot });
  return out;
}
