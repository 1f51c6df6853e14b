// The marker of a disaster recovery under way (disaster/<env>.json): which
// off-site copy it restores and how far it got. Written before anything is
// created on the target and removed once the stack serves; a run killed
// half-way leaves it, and the next `restore --from-offsite` continues from it
// (the volumes it finds are the ones that run made, not data to protect).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { disasterFile } from './paths.js';
import { mkdirPrivate, replacePrivate } from '../util/private-files.js';

export interface DisasterMarker {
  /** the run that started the recovery */
  run: string;
  started: string;
  backup: string;
  repo: string;
  snapshot: string;
  /** 'data': the data is being restored; 'deploy': the data is back, the app is being deployed */
  phase: 'data' | 'deploy';
  /** the backup of what the target held before (--replace-data) */
  safety_backup?: string;
  /** --to: the instant the database is replayed to (ISO), and the off-site WAL snapshot replayed */
  to?: string;
  /** timeline: that of the newest segment pushed, which the replay follows (absent in a marker of an older lifeops) */
  wal?: { repo: string; snapshot: string; range: { from: string; to: string }; timeline?: number };
}

export function readDisaster(stateDir: string, env: string): DisasterMarker | undefined {
  const file = disasterFile(stateDir, env);
  if (!existsSync(file)) return undefined;
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as DisasterMarker;
    return j && typeof j.backup === 'string' ? j : undefined;
  } catch {
    return undefined;
  }
}

export function writeDisaster(stateDir: string, env: string, m: DisasterMarker): void {
  const file = disasterFile(stateDir, env);
  mkdirPrivate(path.dirname(file));
  replacePrivate(file, JSON.stringify(m, null, 2) + '\n');
}

export function clearDisaster(stateDir: string, env: string): void {
  rmSync(disasterFile(stateDir, env), { force: true });
}
