// Restoring a backup's data into the running compose stack, without Docker: a
// scripted engine (test/compose-scripted.ts) answers through the recording
// effects port. Asserts the changing calls, in order: Postgres restored by a
// client beside its container (or inside it when that client cannot log
// in), Redis stopped, its AOF cleared, its files copied in and started, the
// marked volume replaced and checked file by file. A damaged backup touches
// nothing; an encrypted one is restored through its cipher; a dry-run port
// refuses the first change.
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { takeBackup } from '../../src/flows/backup.js';
import { restoreBackup } from '../../src/flows/restore.js';
import { DryRunMutationError, refusingChanges } from '../../src/flows/effects.js';
import { backupDir } from '../../src/backup/catalog.js';
import { BESIDE_UNREACHABLE } from '../../src/commands/postgres.js';
import { composeSetup, what } from '../compose-scripted.js';

async function backedUp(prefix: string, processEnv: Record<string, string> = {}, key?: string) {
  const t = composeSetup(prefix, processEnv);
  if (key) t.stack.backup.encryption_key_env = key;
  const backup = await takeBackup(t.stack, t.newRun(), { stateDir: t.stateDir });
  t.rec.calls.length = 0;
  const run = t.newRun();
  const restore = (parts?: ('postgres' | 'redis' | 'volumes')[]) => restoreBackup(t.stack, run, { stateDir: t.stateDir, id: backup.id, ...(parts ? { parts } : {}) });
  const changes = () => t.rec.calls.filter((c) => c.kind === 'change').map(what);
  return { ...t, backup, run, restore, changes, folder: path.join(backupDir(t.stack, t.stateDir), backup.id) };
}

describe('compose: restore of a backup through the recording port', () => {
  it('Postgres beside its container (password in the environment), then Redis stopped, its AOF cleared, its files copied in, started, then the volume replaced', async () => {
    const t = await backedUp('restore-all-');
    await t.restore();
    const id = t.backup.id;
    expect(t.changes()).toEqual([`postgres restore beside from ${id}`, 'docker stop', 'clear the redis AOF', `redis files from ${id}`, 'docker start', `volume restore from ${id}`]);
    const calls = t.rec.calls.filter((c) => c.kind === 'change');
    expect(calls[0].env).toEqual(expect.arrayContaining(['PGPASSWORD']));
    expect(calls.flatMap((c) => c.argv).join(' ')).not.toContain('pw-for-the-rollback-test');
    // the data files go in from the backup folder itself (`< file`), the stopped Redis started again
    expect(calls[3].argv).toEqual(['docker', 'cp', '-', `${t.engine.containers.find((c) => c.service === 'cache')!.id}:/data`]);
    expect(calls[4].argv).toEqual(['docker', 'start', t.engine.containers.find((c) => c.service === 'cache')!.id]);
  }, 60_000);

  it('a client beside the database that cannot log in (nothing read): the restore runs inside the container instead', async () => {
    const t = await backedUp('restore-inside-');
    const answer = t.engine.answer.bind(t.engine);
    t.engine.answer = (argv, kind) => (argv.join(' ').includes('--network container:') ? { exitCode: BESIDE_UNREACHABLE, stderr: '' } : answer(argv, kind));
    await t.restore(['postgres']);
    expect(t.changes()).toEqual([`postgres restore beside from ${t.backup.id}`, `postgres restore inside from ${t.backup.id}`]);
  }, 60_000);

  it('a restore beside that fails for another reason is not retried inside: the error names the database', async () => {
    const t = await backedUp('restore-fail-');
    t.engine.failOn = /--network container:/;
    await expect(t.restore()).rejects.toThrow(/restore of demo failed \(exit 1\)/);
    expect(t.changes()).toEqual([`postgres restore beside from ${t.backup.id}`]);
  }, 60_000);

  it('only the parts asked for: Redis alone', async () => {
    const t = await backedUp('restore-parts-');
    await t.restore(['redis']);
    expect(t.changes()).toEqual(['docker stop', 'clear the redis AOF', `redis files from ${t.backup.id}`, 'docker start']);
  }, 60_000);

  it('a backup file whose bytes changed: the checksums are re-read first and nothing is touched', async () => {
    const t = await backedUp('restore-damaged-');
    const dump = path.join(t.folder, 'postgres', 'demo.dump');
    writeFileSync(dump, readFileSync(dump, 'utf8').replace('PGDMP', 'PGDMQ'));
    await expect(t.restore()).rejects.toThrow(/postgres\/demo\.dump/);
    expect(t.changes()).toEqual([]);
  }, 60_000);

  it('a volume whose files landed different from the backup\'s list: the restore fails naming the file', async () => {
    const t = await backedUp('restore-volume-');
    const answer = t.engine.answer.bind(t.engine);
    t.engine.answer = (argv, kind) => (argv.join(' ').includes('tar -C /v -xf') ? { stdout: `${'0'.repeat(64)}  ./a.txt\n` } : answer(argv, kind));
    await expect(t.restore(['volumes'])).rejects.toThrow(/does not match backup .*\n\s+\.\/a\.txt: content differs/);
  }, 60_000);

  it('an encrypted backup: its files hold no plain dump, and the restore feeds the commands through the cipher', async () => {
    const t = await backedUp('restore-encrypted-', { BACKUP_KEY: 'a key for the restore test' }, 'BACKUP_KEY');
    expect(t.backup.encrypted).toBe(true);
    expect(readFileSync(path.join(t.folder, 'postgres', 'demo.dump.enc')).includes('PGDMP')).toBe(false);
    await t.restore();
    // streams decrypted as they are read, not the files themselves: the commands get the plain bytes
    const fed = t.rec.calls.filter((c) => c.kind === 'change' && c.fed).map((c) => [c.argv[1], c.fed!.toString('latin1')]);
    expect(fed).toEqual([
      ['run', 'PGDMP scripted dump'],
      ['cp', 'REDIS0011 scripted dump.rdb in a tar'],
      ['run', expect.stringContaining('scripted upload')],
    ]);
  }, 60_000);

  it('on a port that refuses changes (a dry run), the first change is refused loudly and nothing is changed', async () => {
    const t = await backedUp('restore-dry-');
    t.run.effects = refusingChanges(t.rec);
    await expect(t.restore()).rejects.toBeInstanceOf(DryRunMutationError);
    expect(t.rec.changes()).toEqual([]);
  }, 60_000);
});
