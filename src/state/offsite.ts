// What lifeops knows about an environment's off-site copies, in one file per
// environment (offsite/<env>.json): for each repository, the copies made
// (backup id -> restic snapshot, when), the last copy attempt and its outcome,
// and the rotation of `backups verify --offsite` (which subset it reads next).
// Written whole (a temporary file renamed into place), mode 0600.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { offsiteFile } from './paths.js';

export interface OffsiteCopy {
  /** restic's short snapshot id (what `restic backup` names; `restic restore` takes it) */
  snapshot: string;
  /** when the copy finished */
  time: string;
}

export interface OffsiteAttempt {
  time: string;
  ok: boolean;
  /** first line of the error (already redacted by the caller) */
  error?: string;
}

export interface OffsiteCheck {
  time: string;
  ok: boolean;
  subset: string;
  error?: string;
}

/** The last push of the WAL archive (backup.pitr) into this repository. */
export interface OffsiteWal {
  snapshot: string;
  /** when the push finished */
  time: string;
  newest_segment?: { name: string; time: string };
  /** the last commit the pushed WAL holds */
  reachable_until?: string;
  /** what the push held (plan/pitr-offsite.ts indexKey): an unchanged archive is not pushed again */
  key: string;
}

export interface OffsiteRepoRecord {
  copies: Record<string, OffsiteCopy>;
  wal?: OffsiteWal;
  wal_attempt?: OffsiteAttempt;
  last_attempt?: OffsiteAttempt;
  /** the subset the next `backups verify --offsite` reads (1-based) */
  next_subset?: number;
  last_check?: OffsiteCheck;
}

export type OffsiteRecord = Record<string, OffsiteRepoRecord>;

export function readOffsite(stateDir: string, env: string): OffsiteRecord {
  try {
    const j = JSON.parse(readFileSync(offsiteFile(stateDir, env), 'utf8')) as OffsiteRecord;
    return j && typeof j === 'object' ? j : {};
  } catch {
    return {};
  }
}

export function writeOffsite(stateDir: string, env: string, rec: OffsiteRecord): void {
  const file = offsiteFile(stateDir, env);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

/** Change one repository's record (read, change, write whole). */
export function updateOffsite(stateDir: string, env: string, repo: string, fn: (r: OffsiteRepoRecord) => void): OffsiteRepoRecord {
  const all = readOffsite(stateDir, env);
  const r = (all[repo] ??= { copies: {} });
  r.copies ??= {};
  fn(r);
  writeOffsite(stateDir, env, all);
  return r;
}
