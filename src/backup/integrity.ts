// A backup's files re-read against its manifest. Nothing live is touched
// before every checksum has been re-read and matched: corruption (flipped,
// truncated, appended bytes, a missing or extra file) is found here.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { sha256File, walkFiles, type BackupManifest } from './format.js';
import { loadBackup } from './catalog.js';

/** Re-read every file: problems (each naming the file), empty when all match. */
export async function checkFiles(dir: string, manifest: BackupManifest): Promise<string[]> {
  const problems: string[] = [];
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const f of manifest.files) {
    const p = path.join(dir, f.path);
    if (f.path.includes('..') || path.isAbsolute(f.path)) {
      problems.push(`${f.path}: bad path in manifest`);
      continue;
    }
    if (!existsSync(p)) {
      problems.push(`${f.path}: missing`);
      continue;
    }
    const got = await sha256File(p);
    if (got.size !== f.size) problems.push(`${f.path}: size ${got.size} bytes, manifest says ${f.size}`);
    else if (got.sha256 !== f.sha256) problems.push(`${f.path}: sha256 mismatch (content changed)`);
  }
  for (const rel of walkFiles(dir)) if (rel !== 'manifest.json' && !listed.has(rel)) problems.push(`${rel}: not in the manifest`);
  return problems;
}

/** Checksums only; throws naming every bad file. */
export async function verifyChecksums(stack: Stack, stateDir: string, id: string): Promise<{ dir: string; manifest: BackupManifest }> {
  const b = loadBackup(stack, stateDir, id);
  const problems = await checkFiles(b.dir, b.manifest);
  if (problems.length) throw new OperationError(`backup ${id} failed verification:\n  ${problems.join('\n  ')}`, 'use another backup (`lifeops backups list`)');
  return b;
}

/** Row-count differences between the manifest and a restored database, one line per table. */
export function rowDiffs(expected: Record<string, number>, got: Record<string, number>): string[] {
  const diffs: string[] = [];
  for (const t of new Set([...Object.keys(expected), ...Object.keys(got)])) {
    if (expected[t] !== got[t]) diffs.push(`${t}: manifest ${expected[t] ?? 'absent'}, restored ${got[t] ?? 'absent'}`);
  }
  return diffs;
}
