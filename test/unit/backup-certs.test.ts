// The ACME account and certificates in a backup (backup/certs.ts), without an
// engine: what is kept (live/ and the account, not the webroot's tokens nor the
// attempts), encrypted with the backup's key when it has one, and put back
// whole over the ones in force; a backup that cannot be read changes nothing.
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { Stack } from '../../src/config/schema.js';
import type { BackupManifest } from '../../src/backup/format.js';
import { walkFiles } from '../../src/backup/format.js';
import { archiveCerts, restoreCerts } from '../../src/backup/certs.js';
import { ROOT } from '../helpers.js';

const KEY = 'backup-key-for-the-certs-test';
const PRIVKEY = '-----BEGIN PRIVATE KEY-----\nnot-a-real-key-9c2f\n-----END PRIVATE KEY-----\n';

function acmeFolder(root: string, serial: string): string {
  const dir = path.join(root, 'acme', 'local');
  const put = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  };
  put('account.key', 'account key\n');
  put('account.json', '{"url":"https://ca.example/acct/1"}\n');
  put('live/app.example.org/privkey.pem', PRIVKEY);
  put(`live/app.example.org/fullchain.pem`, `certificate ${serial}\n`);
  put('webroot/.well-known/acme-challenge/token1', 'token');
  put('attempts.json', '{}\n');
  return dir;
}

const stackWith = (encrypted: boolean) => ({ backup: { encryption_key_env: encrypted ? 'BACKUP_KEY' : undefined }, vars: {} }) as unknown as Stack;

async function backupOf(acme: string, encrypted: boolean): Promise<{ folder: string; manifest: BackupManifest }> {
  const folder = mkdtempSync(path.join(ROOT, '.tmp-tests', 'certs-backup-'));
  const written = await archiveCerts(acme, folder, encrypted ? '.enc' : '', encrypted ? KEY : undefined);
  const files = [...written].map(([p, w]) => ({ path: p, size: w.size, sha256: w.sha256 }));
  return { folder, manifest: { encrypted, files } as unknown as BackupManifest };
}

describe('ACME account and certificates in a backup', () => {
  mkdirSync(path.join(ROOT, '.tmp-tests'), { recursive: true });

  it('keeps live/ and the account, encrypted with the backup key: no private key readable in the backup', async () => {
    const acme = acmeFolder(mkdtempSync(path.join(ROOT, '.tmp-tests', 'certs-src-')), 'serial-1');
    const { folder, manifest } = await backupOf(acme, true);
    expect(manifest.files.map((f) => f.path).sort()).toEqual(['acme/account.json.enc', 'acme/account.key.enc', 'acme/live/app.example.org/fullchain.pem.enc', 'acme/live/app.example.org/privkey.pem.enc']);
    for (const rel of walkFiles(folder)) {
      expect(readFileSync(path.join(folder, rel), 'utf8')).not.toContain('not-a-real-key');
      expect(statSync(path.join(folder, rel)).mode & 0o777).toBe(0o600);
    }
  });

  it('a rollback puts the backup\'s certificates back (decrypted, 0600) and keeps the webroot and attempts; the same ones again is no change', async () => {
    const acme = acmeFolder(mkdtempSync(path.join(ROOT, '.tmp-tests', 'certs-src-')), 'serial-1');
    const { folder, manifest } = await backupOf(acme, true);
    writeFileSync(path.join(acme, 'live/app.example.org/fullchain.pem'), 'certificate serial-2 (renewed since)\n');
    const first = await restoreCerts(stackWith(true), { BACKUP_KEY: KEY }, manifest, folder, acme);
    expect(first).toEqual({ files: 4, changed: true });
    expect(readFileSync(path.join(acme, 'live/app.example.org/fullchain.pem'), 'utf8')).toBe('certificate serial-1\n');
    expect(readFileSync(path.join(acme, 'live/app.example.org/privkey.pem'), 'utf8')).toBe(PRIVKEY);
    expect(statSync(path.join(acme, 'live/app.example.org/privkey.pem')).mode & 0o777).toBe(0o600);
    expect(existsSync(path.join(acme, 'webroot/.well-known/acme-challenge/token1'))).toBe(true);
    expect(existsSync(path.join(acme, 'attempts.json'))).toBe(true);
    expect(existsSync(`${acme}.restoring`)).toBe(false);
    expect(await restoreCerts(stackWith(true), { BACKUP_KEY: KEY }, manifest, folder, acme)).toEqual({ files: 4, changed: false });
  });

  it('an encrypted backup without its key changes nothing; a backup without certificates is a no-op', async () => {
    const acme = acmeFolder(mkdtempSync(path.join(ROOT, '.tmp-tests', 'certs-src-')), 'serial-1');
    const { folder, manifest } = await backupOf(acme, true);
    writeFileSync(path.join(acme, 'live/app.example.org/fullchain.pem'), 'certificate serial-2\n');
    await expect(restoreCerts(stackWith(true), {}, manifest, folder, acme)).rejects.toThrow(/encrypted and BACKUP_KEY is not set/);
    expect(readFileSync(path.join(acme, 'live/app.example.org/fullchain.pem'), 'utf8')).toBe('certificate serial-2\n');
    expect(await restoreCerts(stackWith(false), {}, { encrypted: false, files: [] } as unknown as BackupManifest, folder, acme)).toEqual({ files: 0, changed: false });
  });

  it('a plain backup (no encryption key) round-trips as well', async () => {
    const acme = acmeFolder(mkdtempSync(path.join(ROOT, '.tmp-tests', 'certs-src-')), 'serial-7');
    const { folder, manifest } = await backupOf(acme, false);
    expect(manifest.files.every((f) => !f.path.endsWith('.enc'))).toBe(true);
    writeFileSync(path.join(acme, 'live/app.example.org/fullchain.pem'), 'other\n');
    expect((await restoreCerts(stackWith(false), {}, manifest, folder, acme)).changed).toBe(true);
    expect(readFileSync(path.join(acme, 'live/app.example.org/fullchain.pem'), 'utf8')).toBe('certificate serial-7\n');
  });
});
