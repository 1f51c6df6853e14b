// `rollback <backup>` on compose, without Docker: a scripted engine
// (test/compose-scripted.ts) answers through the recording effects port, and
// each test asserts the changing calls made, in order. The rollback stops the
// apps, takes a safety backup, restores Postgres, Redis and the marked volume
// from the backup, brings the backup's release back (image tags, rendered
// files), starts everything and reloads the front. A failure at any step
// after the safety backup puts the safety backup's data back, and the release
// in force before, then starts the stack again.
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { takeBackup } from '../../src/flows/backup.js';
import { rollback } from '../../src/flows/rollback.js';
import { DryRunMutationError, refusingChanges } from '../../src/flows/effects.js';
import { readReleases } from '../../src/state/ledger.js';
import { readLock } from '../../src/state/lock.js';
import { lockFile, renderDir as renderDirFor } from '../../src/state/paths.js';
import { composeSetup, what } from '../compose-scripted.js';

/** A backup of release v1, then a deploy of v2 (another app build, the files rendered at v2): the state a rollback starts from. */
async function deployedAfterBackup(prefix: string) {
  const t = composeSetup(prefix);
  const v1 = t.engine.images.get(t.engine.appImage)!;
  const backup = await takeBackup(t.stack, t.newRun(), { stateDir: t.stateDir, tag: 'test' });
  t.engine.newAppBuild('sha256:app-2');
  t.renderRelease('v2');
  t.rec.calls.length = 0;
  const run = t.newRun();
  const go = () => rollback(t.stack, run, { stateDir: t.stateDir, id: backup.id, commandLine: 'test', confirm: async () => undefined });
  const changes = () => t.rec.calls.filter((c) => c.kind === 'change').map(what);
  const composeFile = () => readFileSync(path.join(renderDirFor(t.stateDir, 'local'), 'docker-compose.yml'), 'utf8');
  return { ...t, v1, backup, run, go, changes, composeFile };
}

/** the data of backup `id` put back: Postgres, then Redis (stopped, its AOF cleared, its files copied in, started), then the volume */
const restoreOf = (id: string) => [`postgres restore beside from ${id}`, 'docker stop', 'clear the redis AOF', `redis files from ${id}`, 'docker start', `volume restore from ${id}`];
const SAFETY = ['compose stop web worker front', 'redis-cli BGSAVE'];

describe('compose: rollback to a backup through the recording port', () => {
  it('apps stopped, a safety backup, Postgres, Redis and the volume restored from the backup, its image tag and files back, compose up, the front reloaded', async () => {
    const t = await deployedAfterBackup('rollback-ok-');
    expect(t.composeFile()).toContain('v2');
    const r = await t.go();
    expect(r).toMatchObject({ backup: t.backup.id, data: true });
    expect(t.changes()).toEqual([...SAFETY, ...restoreOf(t.backup.id), 'docker tag', 'compose up', 'nginx reload']);
    expect(t.rec.changes().find((a) => a[1] === 'tag')).toEqual(['docker', 'tag', t.v1, t.engine.appImage]);
    // the password reaches the restore through its environment only
    const beside = t.rec.calls.find((c) => what(c).startsWith('postgres restore'))!;
    expect(beside.env).toContain('PGPASSWORD');
    expect(t.rec.calls.flatMap((c) => c.argv).join(' ')).not.toContain('pw-for-the-rollback-test');
    expect(readReleases(t.stateDir, 'local').pop()).toMatchObject({ kind: 'rollback', outcome: 'success', backup: t.backup.id });
    expect(readLock(lockFile(t.stateDir, 'local'))).toBeUndefined();
  }, 60_000);

  it('the safety backup fails: the apps are started again and nothing else is touched', async () => {
    const t = await deployedAfterBackup('rollback-safety-');
    t.engine.failOn = /BGSAVE/;
    await expect(t.go()).rejects.toThrow(/BGSAVE/);
    expect(t.changes()).toEqual([...SAFETY, 'compose start web worker front']);
    expect(readReleases(t.stateDir, 'local').pop()).toMatchObject({ kind: 'rollback', outcome: 'failed' });
  }, 60_000);

  // each step after the safety backup fails in turn; the calls made up to it, then the undo
  const steps: { step: string; failOn: RegExp; before: (id: string) => string[]; releaseTagged: boolean }[] = [
    { step: 'the Postgres restore', failOn: /--network container:/, before: (id) => restoreOf(id).slice(0, 1), releaseTagged: false },
    { step: 'the Redis files copied in', failOn: /^docker cp/, before: (id) => restoreOf(id).slice(0, 4), releaseTagged: false },
    { step: 'the volume restore', failOn: /tar -C \/v -xf/, before: (id) => restoreOf(id), releaseTagged: false },
    { step: 'the image tag', failOn: /^docker tag/, before: (id) => [...restoreOf(id), 'docker tag'], releaseTagged: false },
    { step: 'compose up', failOn: /compose .* up/, before: (id) => [...restoreOf(id), 'docker tag', 'compose up'], releaseTagged: true },
    { step: 'the front reload', failOn: /nginx .* reload/, before: (id) => [...restoreOf(id), 'docker tag', 'compose up', 'nginx reload'], releaseTagged: true },
  ];
  for (const s of steps) {
    it(`${s.step} fails: the safety backup's data is restored, the release in force before is back, the stack started`, async () => {
      const t = await deployedAfterBackup('rollback-undo-');
      const v2 = t.composeFile();
      t.engine.failOn = s.failOn;
      await expect(t.go()).rejects.toThrow(/scripted failure|failed/);
      const safety = readReleases(t.stateDir, 'local').pop()!.error!.match(/safety backup: (\S+)\)/)![1];
      expect(t.changes()).toEqual([...SAFETY, ...s.before(t.backup.id), ...restoreOf(safety), ...(s.releaseTagged ? ['docker tag'] : []), 'compose up']);
      // the v2 build's tag and files are in force again
      if (s.releaseTagged) expect(t.rec.changes().filter((a) => a[1] === 'tag').pop()).toEqual(['docker', 'tag', 'sha256:app-2', t.engine.appImage]);
      expect(t.engine.images.get(t.engine.appImage)).toBe('sha256:app-2');
      expect(t.composeFile()).toBe(v2);
      expect(readReleases(t.stateDir, 'local').pop()).toMatchObject({ kind: 'rollback', outcome: 'rolled-back', backup: t.backup.id });
      expect(readLock(lockFile(t.stateDir, 'local'))).toBeUndefined();
    }, 60_000);
  }

  it('the front reload fails where the release in force before had another front configuration: the undo reloads the front onto it', async () => {
    const t = await deployedAfterBackup('rollback-undo-front-');
    const site = path.join(renderDirFor(t.stateDir, 'local'), 'nginx/conf.d/localhost.conf');
    const v2Site = `${readFileSync(site, 'utf8')}\n# v2's front\n`;
    writeFileSync(site, v2Site);
    t.engine.failOn = /nginx .* reload/;
    await expect(t.go()).rejects.toThrow(/scripted failure|failed/);
    const safety = readReleases(t.stateDir, 'local').pop()!.error!.match(/safety backup: (\S+)\)/)![1];
    expect(t.changes()).toEqual([...SAFETY, ...restoreOf(t.backup.id), 'docker tag', 'compose up', 'nginx reload', ...restoreOf(safety), 'docker tag', 'compose up', 'nginx reload']);
    expect(readFileSync(site, 'utf8')).toBe(v2Site);
    expect(readReleases(t.stateDir, 'local').pop()).toMatchObject({ kind: 'rollback', outcome: 'rolled-back' });
  }, 60_000);

  it('on a port that refuses changes (a dry run), the first change is refused loudly and nothing is changed', async () => {
    const t = await deployedAfterBackup('rollback-dry-');
    t.run.effects = refusingChanges(t.rec);
    await expect(t.go()).rejects.toBeInstanceOf(DryRunMutationError);
    expect(t.rec.changes()).toEqual([]);
  }, 60_000);
});
