// `restore --from-offsite` on compose, without Docker: a scripted engine and
// off-site repository (test/compose-scripted.ts) answer through the recording
// effects port. On a new host the copy comes back with restic, the data
// services start (created empty), Postgres, Redis and the volume are
// restored and the row counts compared, then the app's deploy runs: here its
// pre-flight finds no engine, so the recovery stops after its data phase,
// recorded in the state dir, and the next run goes straight to the deploy.
// A host that holds the project's data is refused unless --replace-data,
// which takes a safety backup first.
import { describe, it, expect } from 'vitest';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { takeBackup } from '../../src/flows/backup.js';
import { restoreFromOffsite } from '../../src/flows/disaster.js';
import { backupDir } from '../../src/backup/catalog.js';
import { readDisaster } from '../../src/state/disaster.js';
import { renderDir as renderDirFor } from '../../src/state/paths.js';
import { UsageError } from '../../src/errors.js';
import { composeSetup, what } from '../compose-scripted.js';

const STOP = 'scripted: no engine answers the deploy';

/** A backup copied off-site, then the host lost (no backup folder, no rendered files, no containers or volumes) unless `keepHost`. */
async function lostHost(prefix: string, keepHost = false) {
  const t = composeSetup(prefix, { OFFSITE_PASSWORD: 'offsite-pw-for-the-test' });
  const backup = await takeBackup(t.stack, t.newRun(), { stateDir: t.stateDir });
  const offsite = mkdtempSync(path.join(path.dirname(t.stateDir), 'offsite-'));
  cpSync(path.join(backupDir(t.stack, t.stateDir), backup.id), path.join(offsite, backup.id), { recursive: true });
  t.engine.offsite = { id: backup.id, snapshot: 'abcd1234', folder: path.join(offsite, backup.id) };
  if (!keepHost) {
    rmSync(path.join(backupDir(t.stack, t.stateDir), backup.id), { recursive: true });
    rmSync(renderDirFor(t.stateDir, t.stack.env), { recursive: true });
    t.engine.empty();
  }
  t.engine.pingRefusal = STOP;
  t.rec.calls.length = 0;
  const recover = (replaceData = false) => restoreFromOffsite(t.stack, t.newRun(), { stateDir: t.stateDir, wanted: 'latest', replaceData, commandLine: 'test', confirm: async () => undefined, stackFor: () => t.stack });
  const changes = () => t.rec.calls.filter((c) => c.kind === 'change').map(what);
  return { ...t, backup, recover, changes };
}

const restoreOf = (id: string) => [`postgres restore beside from ${id}`, 'docker stop', 'clear the redis AOF', `redis files from ${id}`, 'docker start', `volume restore from ${id}`];

describe('compose: restore --from-offsite through the recording port', () => {
  it('a new host: restic restore of the copy, the data services created, their data restored and counted, then the deploy (stopped at its pre-flight); the next run only deploys', async () => {
    const t = await lostHost('disaster-new-');
    await expect(t.recover()).rejects.toThrow(STOP);
    expect(t.changes()).toEqual(['restic restore', 'compose up db cache', ...restoreOf(t.backup.id)]);
    // the row counts of the restored database compared with the manifest's
    expect(t.rec.calls.some((c) => c.kind === 'read' && c.argv.includes('psql') && c.argv.join(' ').includes('pg_tables'))).toBe(true);
    // the restic password travels in its environment only
    expect(t.rec.calls.flatMap((c) => c.argv).join(' ')).not.toContain('offsite-pw-for-the-test');
    expect(readDisaster(t.stateDir, 'local')).toMatchObject({ backup: t.backup.id, snapshot: 'abcd1234', phase: 'deploy' });

    t.rec.calls.length = 0;
    await expect(t.recover()).rejects.toThrow(STOP);
    expect(t.changes()).toEqual([]);
    expect(t.rec.calls.some((c) => c.argv[0] === 'restic')).toBe(false);
  }, 60_000);

  it('a host that holds the project\'s data: refused without --replace-data, nothing changed', async () => {
    const t = await lostHost('disaster-held-', true);
    await expect(t.recover()).rejects.toBeInstanceOf(UsageError);
    expect(t.changes()).toEqual([]);
  }, 60_000);

  it('--replace-data: the apps stopped and a safety backup taken before the data is replaced', async () => {
    const t = await lostHost('disaster-replace-', true);
    await expect(t.recover(true)).rejects.toThrow(STOP);
    expect(t.changes()).toEqual(['compose stop web worker front', 'redis-cli BGSAVE', ...restoreOf(t.backup.id)]);
    const safety = readDisaster(t.stateDir, 'local')?.safety_backup;
    expect(safety).toBeTruthy();
    expect(safety).not.toBe(t.backup.id);
  }, 60_000);
});
