// `down --volumes` on compose, without Docker: a scripted engine
// (test/compose-scripted.ts) answers through the recording effects port. The
// data is backed up, the backup verified and pinned, and only then is the
// stack removed with its volumes; a backup that fails removes nothing, and a
// port that refuses changes (a dry run) changes nothing.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { down, LAST_BACKUP_TAG } from '../../src/flows/down.js';
import { refusingChanges } from '../../src/flows/effects.js';
import { backupDir, listBackups, readPinned } from '../../src/backup/catalog.js';
import { readLock } from '../../src/state/lock.js';
import { lockFile } from '../../src/state/paths.js';
import { composeSetup, what } from '../compose-scripted.js';

function stackToTakeDown(prefix: string) {
  const t = composeSetup(prefix);
  const run = t.newRun();
  const go = (o: { volumes: boolean; skipBackup?: boolean }) => down(t.stack, run, { stateDir: t.stateDir, commandLine: 'test', ...o });
  const changes = () => t.rec.calls.filter((c) => c.kind === 'change').map(what);
  const isDown = (argv: string[]) => argv[1] === 'compose' && argv.includes('down');
  return { ...t, run, go, changes, isDown };
}

describe('compose: down through the recording port', () => {
  it('--volumes: the last backup is taken, verified and pinned before compose down --volumes, the one change after it', async () => {
    const t = stackToTakeDown('down-volumes-');
    const r = await t.go({ volumes: true });
    expect(r.last).toMatchObject({ kind: 'taken' });
    const id = (r.last as { id: string }).id;
    const all = t.rec.changes();
    const removal = all.findIndex(t.isDown);
    // the removal is the last change, after every change the backup and its verification made
    expect(removal).toBe(all.length - 1);
    expect(all[removal]).toEqual(expect.arrayContaining(['down', '--volumes']));
    expect(t.changes().slice(0, removal)).toContain('redis-cli BGSAVE');
    // the volumes were listed (a read) before anything changed
    const firstChange = t.rec.calls.findIndex((c) => c.kind === 'change');
    expect(t.rec.calls.findIndex((c) => c.argv.join(' ') === 'docker volume ls -q')).toBeLessThan(firstChange);
    // the backup is on disk, verified, and pinned against retention
    const dir = backupDir(t.stack, t.stateDir);
    expect(JSON.parse(readFileSync(path.join(dir, id, 'manifest.json'), 'utf8'))).toMatchObject({ id, tag: LAST_BACKUP_TAG });
    expect(listBackups(dir, t.stack.project, 'local').find((b) => b.id === id)?.verified).toEqual(expect.any(String));
    expect(readPinned(dir)[id]).toContain(LAST_BACKUP_TAG);
    expect(readLock(lockFile(t.stateDir, 'local'))).toBeUndefined();
  }, 60_000);

  it('--volumes: a backup that fails stops the run before anything is removed', async () => {
    const t = stackToTakeDown('down-backup-fails-');
    t.engine.failOn = /BGSAVE/;
    await expect(t.go({ volumes: true })).rejects.toThrow(/the last backup before deleting the volumes failed, so nothing was removed/);
    expect(t.rec.changes().some(t.isDown)).toBe(false);
    expect(readLock(lockFile(t.stateDir, 'local'))).toBeUndefined();
  }, 60_000);

  it('--volumes --skip-backup: no backup, compose down --volumes only', async () => {
    const t = stackToTakeDown('down-skip-');
    const r = await t.go({ volumes: true, skipBackup: true });
    expect(r.last).toEqual({ kind: 'skipped' });
    expect(t.rec.changes()).toHaveLength(1);
    expect(t.rec.changes()[0]).toEqual(expect.arrayContaining(['down', '--volumes']));
  }, 60_000);

  it('without --volumes: compose down, nothing backed up, the volumes kept', async () => {
    const t = stackToTakeDown('down-plain-');
    const r = await t.go({ volumes: false });
    expect(r.last).toBeUndefined();
    expect(t.rec.changes()).toHaveLength(1);
    expect(t.rec.changes()[0]).toContain('down');
    expect(t.rec.changes()[0]).not.toContain('--volumes');
  }, 60_000);

  it('--volumes on a port that refuses changes (a dry run): the first change is refused loudly, nothing is changed or removed', async () => {
    const t = stackToTakeDown('down-dry-');
    t.run.effects = refusingChanges(t.rec);
    await expect(t.go({ volumes: true })).rejects.toThrow(/dry run: refused to run a command that changes the target/);
    expect(t.rec.changes()).toEqual([]);
    // the reads still ran: the volumes were listed
    expect(t.rec.calls.some((c) => c.argv.join(' ') === 'docker volume ls -q')).toBe(true);
  }, 60_000);
});
