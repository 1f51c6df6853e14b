// Private files: everything lifeops keeps for itself (the state folder, the
// backups, release archives, run logs, the ledger) is 0700 for folders and
// 0600 for files, whatever the process umask. mkdir's and open's modes are
// masked by the umask, so each writer here creates with the mode AND sets it
// afterwards. The rendered files containers read (render/<env>/) are the one
// exception: flows/render.ts gives them the modes the containers need, and
// they stay out of reach of other users because the state folder is 0700.
import { chmodSync, closeSync, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

export const PRIVATE_DIR = 0o700;
export const PRIVATE_FILE = 0o600;

/**
 * mkdir -p `dir`, 0700: every folder this call creates, and `dir` itself
 * (an existing one made looser by an older version is tightened). Folders
 * above that already existed are not ours to change.
 */
export function mkdirPrivate(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  const target = path.resolve(dir);
  if (first) {
    // the created chain runs from `first` down to `dir`
    const chain: string[] = [];
    for (let p = target; ; p = path.dirname(p)) {
      chain.push(p);
      if (p === path.resolve(first) || p === path.dirname(p)) break;
    }
    for (const p of chain.reverse()) chmodSync(p, PRIVATE_DIR);
  } else if ((statSync(target).mode & 0o777) !== PRIVATE_DIR) chmodSync(target, PRIVATE_DIR);
}

/** Write a whole file, 0600, its folder made private first. */
export function writePrivate(file: string, data: string | Buffer): void {
  mkdirPrivate(path.dirname(file));
  writeFileSync(file, data, { mode: PRIVATE_FILE });
  chmodSync(file, PRIVATE_FILE);
}

/** Write a whole file by renaming a 0600 temporary file into place: a reader never sees half of it. */
export function replacePrivate(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writePrivate(tmp, data);
  renameSync(tmp, file);
}

/** Append to a file that is 0600 (set when the file was made, or found looser). */
export function appendPrivate(file: string, data: string): void {
  const fd = openSync(file, 'a', PRIVATE_FILE);
  try {
    if ((fstatSync(fd).mode & 0o777) !== PRIVATE_FILE) fchmodSync(fd, PRIVATE_FILE);
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Every folder under `root` (itself included) 0700, every file 0600; symbolic
 * links are left alone (never followed). A folder for which `keepInside(rel)`
 * is true is made 0700 but what it holds is left as it is. Returns how many
 * modes were changed.
 */
export function tightenTree(root: string, keepInside: (rel: string) => boolean = () => false): number {
  let changed = 0;
  const visit = (abs: string, rel: string) => {
    let st;
    try {
      st = lstatSync(abs);
    } catch {
      return; // removed meanwhile
    }
    if (st.isSymbolicLink()) return;
    const want = st.isDirectory() ? PRIVATE_DIR : PRIVATE_FILE;
    if ((st.mode & 0o777) !== want) {
      chmodSync(abs, want);
      changed++;
    }
    if (!st.isDirectory() || keepInside(rel)) return;
    for (const name of readdirSync(abs)) visit(path.join(abs, name), rel ? `${rel}/${name}` : name);
  };
  visit(root, '');
  return changed;
}
