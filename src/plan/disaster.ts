// Disaster recovery's decisions, pure: which off-site copies belong to this
// project and environment (by the tags every copy carries), which one
// `restore --from-offsite latest|<id>` means, and whether the target may be
// written to (a host that already holds the stack's data is refused unless
// the operator said to replace it).
import { UsageError } from '../errors.js';

/** What restic's `snapshots --json` says of one copy (the fields used here). */
export interface SnapshotFacts {
  id: string;
  short_id: string;
  time: string;
  tags?: string[] | null;
}

/** One off-site copy of a backup. */
export interface OffsiteCopyFound {
  repo: string;
  backup: string;
  snapshot: string;
  time: string;
}

/** The copies of `project`/`env` in one repository, oldest first; snapshots without lifeops' tags are not ours. */
export function copiesOf(repo: string, snaps: SnapshotFacts[], project: string, env: string): OffsiteCopyFound[] {
  const out: OffsiteCopyFound[] = [];
  for (const s of snaps) {
    const tags = s.tags ?? [];
    if (!tags.includes('lifeops') || !tags.includes(`project=${project}`) || !tags.includes(`env=${env}`)) continue;
    const backup = tags.find((t) => t.startsWith('backup='))?.slice('backup='.length);
    if (!backup || !/^[A-Za-z0-9._-]+$/.test(backup) || backup.startsWith('.')) continue;
    out.push({ repo, backup, snapshot: s.short_id, time: s.time });
  }
  // backup ids start with their UTC time: they sort as the backups were taken
  return out.sort((a, b) => a.backup.localeCompare(b.backup) || a.time.localeCompare(b.time));
}

/**
 * The copy `wanted` names: "latest" (the newest backup), a backup id, or a
 * restic snapshot id (short or long). Copies come in repository order; the
 * first repository holding the backup wins. Unknown: a usage error listing
 * the newest few that exist.
 */
export function chooseCopy(copies: OffsiteCopyFound[], wanted: string, where: string): OffsiteCopyFound {
  if (!copies.length) throw new UsageError(`no off-site copy of this project and environment in ${where}`, 'check backup.offsite and its credentials, or restore from a backup folder with `lifeops rollback <id>`');
  if (wanted === 'latest') {
    const newest = copies.map((c) => c.backup).sort().pop()!;
    return copies.find((c) => c.backup === newest)!;
  }
  const hit = copies.find((c) => c.backup === wanted) ?? copies.find((c) => c.snapshot === wanted || (wanted.length >= 8 && wanted.startsWith(c.snapshot)));
  if (hit) return hit;
  const newest = [...new Set(copies.map((c) => c.backup))].sort().slice(-5).reverse();
  throw new UsageError(`no off-site copy of backup "${wanted}" in ${where}; the newest there: ${newest.join(', ')}`, 'lifeops restore --from-offsite latest, or one of the ids listed');
}

/** What the target engine already holds of the project. */
export interface TargetFacts {
  project: string;
  /** datastores with a named volume of theirs in the engine */
  dataVolumes: string[];
  /** services with a container of the project */
  containers: string[];
  /** an earlier `restore --from-offsite` of this state dir did not finish (its marker is there) */
  unfinished: boolean;
  replaceData: boolean;
}

/**
 * May the recovery write to this target? A fresh engine, or one holding what
 * an unfinished recovery made: yes. One holding the project's data: only
 * with --replace-data, and then a safety backup is taken first ('safety').
 */
export function targetDecision(f: TargetFacts): 'fresh' | 'resume' | 'safety' {
  if (f.unfinished) return 'resume';
  if (!f.dataVolumes.length && !f.containers.length) return 'fresh';
  if (f.replaceData) return 'safety';
  const what = [...(f.dataVolumes.length ? [`data volumes of ${f.dataVolumes.join(', ')}`] : []), ...(f.containers.length ? [`containers of ${[...new Set(f.containers)].join(', ')}`] : [])].join(' and ');
  throw new UsageError(
    `this engine already holds project ${f.project} (${what}): a disaster recovery onto it would replace that data`,
    'pass --replace-data to replace it (a safety backup of it is taken first), or restore a local backup with `lifeops rollback <id>`',
  );
}

/** Bad input, refused before anything runs: no repositories to restore from, or --repo naming none of them. */
export function checkRecoveryInput(env: string, repos: string[], repo: string | undefined): void {
  if (!repos.length) throw new UsageError(`environment ${env} has no backup.offsite repositories to restore from`, 'add backup.offsite (with its credentials) to the stack file');
  if (repo && !repos.includes(repo)) throw new UsageError(`--repo ${repo}: backup.offsite has no repository of that name (it has ${repos.join(', ')})`);
}
