// The backups in a backup folder: where it is, which complete backups it
// holds (a folder with its manifest), which passed verification, and the
// incomplete leftovers of killed runs. A shared backup.dir holds other
// stacks' backups too: they are never listed, loaded, kept or deleted here.
import { readdirSync, rmSync, statSync, existsSync, readFileSync } from 'node:fs';
import { mkdirPrivate, replacePrivate } from '../util/private-files.js';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { OperationError, UsageError } from '../errors.js';
import type { BackupManifest } from './format.js';

export function backupDir(stack: Stack, stateDir: string): string {
  return stack.backup.dir ? path.resolve(stack.baseDir, stack.backup.dir) : path.join(stateDir, 'backups');
}

export interface BackupSummary {
  id: string;
  env: string;
  time: string;
  tag?: string;
  size: number;
  verified?: string;
  /** why it is kept out of retention's reach (see pinBackup) */
  pinned?: string;
}

export function readManifest(dir: string, id: string): BackupManifest | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, id, 'manifest.json'), 'utf8')) as BackupManifest;
  } catch {
    return undefined;
  }
}

/**
 * One marker file per verified backup, <dir>/.verified/<id>, holding the time
 * of the last successful verify: written by rename, so two runs (two
 * environments or two stacks sharing a backup.dir) never lose each other's
 * marks. A verified.json from older versions is still read.
 */
const verifiedDir = (dir: string) => path.join(dir, '.verified');

export function readVerified(dir: string): Record<string, string> {
  let marks: Record<string, string> = {};
  try {
    marks = JSON.parse(readFileSync(path.join(dir, 'verified.json'), 'utf8')) as Record<string, string>;
  } catch {
    // none from an older version
  }
  if (!existsSync(verifiedDir(dir))) return marks;
  for (const id of readdirSync(verifiedDir(dir))) {
    if (id.includes('.tmp-')) continue;
    try {
      marks[id] = readFileSync(path.join(verifiedDir(dir), id), 'utf8').trim();
    } catch {
      // removed meanwhile by retention
    }
  }
  return marks;
}

export function markVerified(dir: string, id: string, when: Date): void {
  replacePrivate(path.join(verifiedDir(dir), id), when.toISOString() + '\n');
}

export function forgetVerified(dir: string, id: string): void {
  rmSync(path.join(verifiedDir(dir), id), { force: true });
}

/**
 * One marker file per pinned backup, <dir>/.pinned/<id>, holding why it is
 * pinned: retention keeps it until a newer backup of its environment has
 * verified (plan/retention.ts). The last backup before `down --volumes` is
 * pinned: it may be the only copy of the data left.
 */
const pinnedDir = (dir: string) => path.join(dir, '.pinned');

export function pinBackup(dir: string, id: string, reason: string): void {
  replacePrivate(path.join(pinnedDir(dir), id), reason.replace(/\n/g, ' ') + '\n');
}

export function unpinBackup(dir: string, id: string): void {
  rmSync(path.join(pinnedDir(dir), id), { force: true });
}

export function readPinned(dir: string): Record<string, string> {
  const pins: Record<string, string> = {};
  if (!existsSync(pinnedDir(dir))) return pins;
  for (const id of readdirSync(pinnedDir(dir))) {
    if (id.includes('.tmp-')) continue;
    try {
      pins[id] = readFileSync(path.join(pinnedDir(dir), id), 'utf8').trim();
    } catch {
      // removed meanwhile
    }
  }
  return pins;
}

/** The backup folder, made private (0700) when this creates it; an existing one is tightened when it is ours to change. */
export function prepareBackupDir(dir: string): void {
  try {
    mkdirPrivate(dir);
  } catch (e) {
    // a backup.dir owned by someone else (a mount point): each backup folder in it is private anyway
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
  }
}

/** Complete backups of one project (and environment, when given), oldest first. */
export function listBackups(dir: string, project: string, env?: string): BackupSummary[] {
  if (!existsSync(dir)) return [];
  const verified = readVerified(dir);
  const pinned = readPinned(dir);
  const out: BackupSummary[] = [];
  for (const n of readdirSync(dir)) {
    if (n.startsWith('.')) continue;
    let isDir = false;
    try {
      isDir = statSync(path.join(dir, n)).isDirectory();
    } catch {
      continue;
    }
    if (!isDir) continue;
    const m = readManifest(dir, n);
    if (!m || m.id !== n) continue;
    if (m.project !== project || (env && m.env !== env)) continue;
    out.push({ id: m.id, env: m.env, time: m.time, ...(m.tag ? { tag: m.tag } : {}), size: m.size, ...(verified[m.id] ? { verified: verified[m.id] } : {}), ...(pinned[m.id] ? { pinned: pinned[m.id] } : {}) });
  }
  return out.sort((a, b) => a.time.localeCompare(b.time) || a.id.localeCompare(b.id));
}

/**
 * The images (reference and recorded id) named by every complete backup in
 * the folder, whatever its project: pruning keeps them all, so a shared
 * backup.dir only ever keeps more.
 */
export function backupImages(dir: string): { image: string; id?: string }[] {
  if (!existsSync(dir)) return [];
  const out: { image: string; id?: string }[] = [];
  for (const n of readdirSync(dir)) {
    if (n.startsWith('.')) continue;
    const m = readManifest(dir, n);
    if (!m || m.id !== n) continue;
    for (const img of Object.values(m.release?.images ?? {})) out.push({ image: img.image, ...(img.id ? { id: img.id } : {}) });
  }
  return out;
}

/**
 * Delete one backup: the manifest first, so a half-deleted folder is never
 * listed as a backup; then its verified mark.
 */
export function deleteBackup(dir: string, id: string): void {
  rmSync(path.join(dir, id, 'manifest.json'), { force: true });
  rmSync(path.join(dir, id), { recursive: true, force: true });
  forgetVerified(dir, id);
  unpinBackup(dir, id);
}

/** Where a backup is written before it is complete: named after its project, so a shared backup.dir tells whose it is. */
export function tmpFolder(dir: string, id: string, project: string): string {
  return path.join(dir, `.tmp-${id}.${project}`);
}

/**
 * Remove the `.tmp-*` folders left by killed or failed runs of `project`
 * (named .tmp-<id>.<project>; plain .tmp-<id> ones come from older versions).
 * The caller holds the project's lock, so none of them is still being
 * written. Another project's folder (a shared backup.dir) is left alone: it
 * may be a live run's.
 */
export function cleanTmp(dir: string, project: string): string[] {
  const removed = listTmp(dir, project);
  for (const n of removed) rmSync(path.join(dir, n), { recursive: true, force: true });
  return removed;
}

/** The `.tmp-*` folders of `project` (and unnamed ones of older versions) in a backup folder. */
export function listTmp(dir: string, project: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => {
    if (!n.startsWith('.tmp-')) return false;
    const owner = /^\.tmp-[^.]+\.(.+)$/.exec(n)?.[1];
    return owner === undefined || owner === project;
  });
}

/** Load a backup's manifest; unknown id or missing manifest is an error naming it. */
export function loadBackup(stack: Stack, stateDir: string, id: string): { dir: string; manifest: BackupManifest } {
  const root = backupDir(stack, stateDir);
  if (!/^[A-Za-z0-9._-]+$/.test(id) || id.startsWith('.')) throw new UsageError(`"${id}" is not a backup id`, 'see `lifeops backups list`');
  const dir = path.join(root, id);
  if (!existsSync(dir)) throw new OperationError(`unknown backup ${id}: no such folder in ${root}`, 'see `lifeops backups list`');
  if (!existsSync(path.join(dir, 'manifest.json'))) throw new OperationError(`backup ${id} has no manifest.json: it is incomplete or damaged and cannot be used`);
  const manifest = readManifest(root, id);
  if (!manifest || manifest.id !== id || !Array.isArray(manifest.files)) throw new OperationError(`backup ${id}: manifest.json is unreadable or does not belong to this folder`);
  // a shared backup.dir: another stack's backup is never restored into this one
  if (manifest.project !== stack.project) throw new OperationError(`backup ${id} belongs to stack ${manifest.project}, not ${stack.project}`, `use that stack's file: lifeops -f <its stack file> ...`);
  return { dir, manifest };
}
