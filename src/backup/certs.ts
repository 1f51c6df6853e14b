// The ACME account and certificates of an environment (acme/<env>/ in the
// state dir, state/certs.ts) inside a backup. They hold private keys, so each
// file goes through the backup's own encryption, unlike the rendered release;
// a rollback to the backup puts them back, so the front serves the
// certificates of that moment without asking the CA again (rate limits).
import { createReadStream, existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { mkdirPrivate, writePrivate } from '../util/private-files.js';
import { plainStream, streamToFile, walkFiles, type BackupManifest, type Written } from './format.js';

/** The folder of a backup that holds them. */
export const CERTS_DIR = 'acme';

/** The account and the live certificates: not the webroot's challenge tokens, nor the renewal attempts (the moment's, not the backup's). */
const kept = (rel: string) => rel.startsWith('live/') || rel.startsWith('account.');

/** Copy what a backup keeps of `acmeDir` into `<tmp>/acme/`, encrypted when a passphrase is given; each written file's sha256 and size by its path in the backup. */
export async function archiveCerts(acmeDir: string, tmp: string, ext: string, passphrase?: string): Promise<Map<string, Written>> {
  const out = new Map<string, Written>();
  if (!existsSync(acmeDir)) return out;
  for (const rel of walkFiles(acmeDir).filter(kept)) {
    const inBackup = `${CERTS_DIR}/${rel}${ext}`;
    mkdirPrivate(path.dirname(path.join(tmp, inBackup)));
    out.set(inBackup, await streamToFile(createReadStream(path.join(acmeDir, rel)), path.join(tmp, inBackup), passphrase));
  }
  return out;
}

/** The backup's files under acme/ (none in a backup of a stack without ACME, or one older than this). */
export const certFiles = (manifest: BackupManifest) => manifest.files.filter((f) => f.path.startsWith(`${CERTS_DIR}/`));

/**
 * Put a backup's account and certificates back into `acmeDir`: decrypted into
 * a staging folder first (a backup that cannot be read leaves the ones in
 * force untouched), then each top-level entry (live/, account.*) renamed over
 * the one in force. The webroot and the attempts stay. Returns how many files
 * the backup held and whether any differed from those in force.
 */
export async function restoreCerts(stack: Stack, env: Record<string, string | undefined>, manifest: BackupManifest, backupFolder: string, acmeDir: string): Promise<{ files: number; changed: boolean }> {
  const files = certFiles(manifest);
  if (!files.length) return { files: 0, changed: false };
  const ext = manifest.encrypted ? '.enc' : '';
  const staging = `${acmeDir}.restoring`;
  rmSync(staging, { recursive: true, force: true });
  for (const f of files) {
    const rel = f.path.slice(CERTS_DIR.length + 1, ext ? -ext.length : undefined);
    const chunks: Buffer[] = [];
    for await (const c of plainStream(stack, env, manifest, path.join(backupFolder, f.path))) chunks.push(c as Buffer);
    writePrivate(path.join(staging, rel), Buffer.concat(chunks));
  }
  const inForce = existsSync(acmeDir) ? walkFiles(acmeDir).filter(kept) : [];
  const staged = walkFiles(staging);
  const same = staged.length === inForce.length && staged.every((rel) => inForce.includes(rel) && readFileSync(path.join(staging, rel)).equals(readFileSync(path.join(acmeDir, rel))));
  if (same) {
    rmSync(staging, { recursive: true, force: true });
    return { files: files.length, changed: false };
  }
  mkdirPrivate(acmeDir);
  for (const name of readdirSync(staging)) {
    rmSync(path.join(acmeDir, name), { recursive: true, force: true });
    renameSync(path.join(staging, name), path.join(acmeDir, name));
  }
  rmSync(staging, { recursive: true, force: true });
  return { files: files.length, changed: true };
}
