// Maintenance mode's files, under the render folder in force
// (render/<env>/nginx/maintenance/, which the nginx front sees through its
// bind mount): one state folder per `maintenance on` holding the page, its
// JSON twin and the record `status` reads, and the symlink `active` pointing
// at the current one. Turning on is a rename of a fresh symlink over
// `active`, turning off its unlink: a request never sees half a page.
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { maintenanceDir } from './paths.js';

export const ACTIVE_LINK = 'active';

/** What state.json in the active folder holds. */
export interface MaintenanceState {
  since: string;
  message: string;
  retry_after: number;
  by: string;
}

/** How long a state folder that is no longer active is kept (a request may be reading its page). */
const KEEP_OLD_MS = 60_000;

/** The active maintenance record, or undefined when maintenance is off (or its record unreadable: then `folder` alone). */
export function readMaintenance(stateDir: string, env: string): (Partial<MaintenanceState> & { folder: string }) | undefined {
  const dir = maintenanceDir(stateDir, env);
  let folder: string;
  try {
    folder = readlinkSync(path.join(dir, ACTIVE_LINK));
  } catch {
    return undefined;
  }
  if (!existsSync(path.join(dir, ACTIVE_LINK, 'index.html'))) return undefined; // what nginx tests
  try {
    return { ...(JSON.parse(readFileSync(path.join(dir, folder, 'state.json'), 'utf8')) as MaintenanceState), folder };
  } catch {
    return { folder };
  }
}

/**
 * Write a state folder (under a temporary name, renamed when whole) and point
 * `active` at it. Files are world-readable: the front's nginx workers read them.
 */
export function writeMaintenance(stateDir: string, env: string, folder: string, files: { name: string; content: string }[]): string {
  if (!/^[A-Za-z0-9-]+$/.test(folder)) throw new Error(`bad maintenance folder name ${folder}`);
  const dir = maintenanceDir(stateDir, env);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = path.join(dir, `.tmp-${folder}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { mode: 0o755 });
  for (const f of files) writeFileSync(path.join(tmp, f.name), f.content, { mode: 0o644 });
  rmSync(path.join(dir, folder), { recursive: true, force: true });
  renameSync(tmp, path.join(dir, folder));
  const link = path.join(dir, `.tmp-link-${process.pid}`);
  rmSync(link, { force: true });
  symlinkSync(folder, link); // relative: it resolves the same inside the container
  renameSync(link, path.join(dir, ACTIVE_LINK));
  pruneOld(dir, folder);
  return path.join(dir, folder);
}

/** Turn maintenance off: unlink `active`. True when it was on. */
export function clearMaintenance(stateDir: string, env: string): boolean {
  const dir = maintenanceDir(stateDir, env);
  const link = path.join(dir, ACTIVE_LINK);
  let was = false;
  try {
    lstatSync(link);
    was = true;
  } catch {
    return false;
  }
  if (was) unlinkSync(link);
  pruneOld(dir, undefined);
  return true;
}

/** Remove state folders other than `keep` last changed more than a minute ago. */
function pruneOld(dir: string, keep: string | undefined): void {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    if (name === keep || name === ACTIVE_LINK) continue;
    const p = path.join(dir, name);
    try {
      if (now - statSync(p).mtimeMs > KEEP_OLD_MS) rmSync(p, { recursive: true, force: true });
    } catch {
      /* gone already */
    }
  }
}
