// The swarm flows' ways back, without Docker: a scripted two-node swarm
// (test/swarm-scripted.ts) answers through the recording effects port, and
// each test asserts the changing calls made, in order. A failed deploy whose
// migrations changed the database restores it from the pre-deploy backup and
// deploys the previous release; SIGTERM while the stack deploys (delivered by
// the recording port as that step starts) undoes the same way and ends in an
// InterruptedError; a rollback to a backup replaces data and release, and a
// failure in the middle stops before the release changes.
import { describe, it, expect } from 'vitest';
import { swarmBackupFlow, swarmDeploy, swarmRollback } from '../../src/flows/swarm.js';
import { InterruptedError } from '../../src/errors.js';
import { readReleases } from '../../src/state/ledger.js';
import { readLock } from '../../src/state/lock.js';
import { lockFile } from '../../src/state/paths.js';
import { fingerprint, swarmSetup } from '../swarm-scripted.js';

const options = (stateDir: string) => ({ stateDir, commandLine: 'test' });
/** a changing call, shortened to what it does: "stack deploy", "service scale", "exec ... SAVE" */
const what = (argv: string[]) => {
  const a = argv.slice(3);
  if (a[0] === 'exec') return `exec ${a.slice(a[1] === '-i' ? 3 : 2).join(' ').replace(/-c DROP.*/, 'DROP/CREATE').slice(0, 40)}`;
  return a.slice(0, 2).join(' ') + (a[1] === 'scale' ? ` ${a.slice(3).join(' ')}` : '');
};

async function deployedSw1() {
  const t = swarmSetup('swarm-undo-');
  await swarmDeploy(t.stack, t.run, options(t.stateDir));
  t.rec.calls.length = 0;
  return t;
}

describe('swarm: undo, signals and rollback through the recording port', () => {
  it('migrations changed the schema, then the smoke test failed: safety backup, apps stopped, database restored from the pre-deploy backup, sw1 deployed again, apps started', async () => {
    const t = await deployedSw1();
    t.swarm.fingerprints = [fingerprint('a'), fingerprint('b')];
    const answer = t.swarm.answer.bind(t.swarm);
    t.swarm.answer = (argv, kind) => (argv[0] === 'GET' ? { exitCode: 1 } : answer(argv, kind));
    const run = t.newRun();
    await expect(swarmDeploy(t.stackAt('sw2'), run, options(t.stateDir))).rejects.toThrow(/smoke test failed[\s\S]*the database was restored from the pre-deploy backup/);
    expect(t.rec.calls.filter((c) => c.argv.includes('psql') && c.argv.includes('-At'))).toHaveLength(2); // the fingerprints, before and after
    const steps = t.rec.changes().map(what);
    expect(steps).toEqual([
      'exec redis-cli SAVE', // pre-deploy backup
      'service create',
      'service rm', // the migration job
      'stack deploy', // sw2
      'exec redis-cli SAVE', // safety backup before the undo
      expect.stringMatching(/^service scale .*web=0.*worker=0/),
      expect.stringMatching(/^exec psql .* -d po/),
      expect.stringMatching(/^exec pg_restore/),
      'stack deploy', // sw1 again
      expect.stringMatching(/^service scale .*web=2/),
    ]);
    expect(t.swarm.services.get(`${t.stack.project}_web`)!.image).toMatch(/:sw1$/);
    expect(readReleases(t.stateDir, 'swarm').pop()!.outcome).toBe('rolled-back');
    expect(readLock(lockFile(t.stateDir, 'swarm'))).toBeUndefined();
  }, 60_000);

  it('the same deploy with a schema left as it was: no restore, only the previous release back', async () => {
    const t = await deployedSw1();
    t.swarm.fingerprints = [fingerprint('a'), fingerprint('a')];
    const answer = t.swarm.answer.bind(t.swarm);
    t.swarm.answer = (argv, kind) => (argv[0] === 'GET' ? { exitCode: 1 } : answer(argv, kind));
    await expect(swarmDeploy(t.stackAt('sw2'), t.newRun(), options(t.stateDir))).rejects.toThrow(/undone: the stack is back on release/);
    expect(t.rec.changes().map(what)).toEqual(['exec redis-cli SAVE', 'service create', 'service rm', 'stack deploy', 'stack deploy']);
  }, 60_000);

  it('an undo that fails too: both errors, the pre-deploy backup named with the command that restores it, the ledger says failed', async () => {
    const t = await deployedSw1();
    t.swarm.fingerprints = [fingerprint('a'), fingerprint('b')];
    t.swarm.failOn = /service scale/;
    const answer = t.swarm.answer.bind(t.swarm);
    t.swarm.answer = (argv, kind) => (argv[0] === 'GET' ? { exitCode: 1 } : answer(argv, kind));
    const err = (await swarmDeploy(t.stackAt('sw2'), t.newRun(), options(t.stateDir)).catch((e: unknown) => e)) as Error;
    const backup = /in backup (\S+): lifeops rollback \1 --env swarm/.exec(err.message)?.[1];
    expect(err.message).toMatch(/smoke test failed[\s\S]*AND the undo failed: docker service scale failed: scripted failure/);
    expect(backup).toBeTruthy();
    expect(readReleases(t.stateDir, 'swarm').pop()).toMatchObject({ outcome: 'failed', backup });
    expect(readLock(lockFile(t.stateDir, 'swarm'))).toBeUndefined();
  }, 60_000);

  it('SIGTERM as the stack deploy starts: that step finishes, the next one does not start, the undo deploys sw1 again; InterruptedError (exit 143)', async () => {
    const t = await deployedSw1();
    t.rec.signalAt = { title: /^docker stack deploy/, signal: 'SIGTERM' };
    const err = await swarmDeploy(t.stackAt('sw2'), t.newRun(), { ...options(t.stateDir), skipBackup: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect((err as InterruptedError).signal).toBe('SIGTERM');
    expect(t.rec.changes().map(what)).toEqual(['service create', 'service rm', 'stack deploy', 'stack deploy']);
    expect(t.swarm.services.get(`${t.stack.project}_web`)!.image).toMatch(/:sw1$/);
    expect(process.listenerCount('SIGTERM')).toBe(0);
    expect(readLock(lockFile(t.stateDir, 'swarm'))).toBeUndefined();
  }, 60_000);

  it('rollback to a backup: safety backup, apps stopped, Postgres and Redis restored in their tasks, the backup\'s release deployed, apps started', async () => {
    const t = await deployedSw1();
    const backup = await swarmBackupFlow(t.stack, t.newRun(), options(t.stateDir));
    await swarmDeploy(t.stackAt('sw2'), t.newRun(), { ...options(t.stateDir), skipBackup: true });
    t.rec.calls.length = 0;
    const r = await swarmRollback(t.stack, t.newRun(), { ...options(t.stateDir), backup: backup.id });
    expect(r.version).toBe('sw1');
    expect(t.rec.changes().map(what)).toEqual([
      'exec redis-cli SAVE',
      expect.stringMatching(/^service scale .*web=0/),
      expect.stringMatching(/^exec psql .* -d po/),
      expect.stringMatching(/^exec pg_restore/),
      'exec redis-cli CONFIG SET save ',
      expect.stringMatching(/^exec sh -c cat > \/data\/dump\.rdb\.restore/),
      'exec redis-cli SHUTDOWN NOSAVE',
      'stack deploy',
      expect.stringMatching(/^service scale .*web=2/),
    ]);
    expect(t.swarm.services.get(`${t.stack.project}_web`)!.image).toMatch(/:sw1$/);
    expect(readReleases(t.stateDir, 'swarm').pop()).toMatchObject({ kind: 'rollback', outcome: 'success', backup: backup.id });
  }, 60_000);

  it('rollback whose pg_restore fails: stops there (no release deployed, nothing recorded), the lock let go', async () => {
    const t = await deployedSw1();
    const backup = await swarmBackupFlow(t.stack, t.newRun(), options(t.stateDir));
    t.rec.calls.length = 0;
    t.swarm.failOn = /pg_restore/;
    await expect(swarmRollback(t.stack, t.newRun(), { ...options(t.stateDir), backup: backup.id })).rejects.toThrow(/pg_restore failed/);
    expect(t.rec.changes().map(what).at(-1)).toMatch(/^exec pg_restore/);
    expect(t.rec.changes().some((c) => c.includes('deploy'))).toBe(false);
    expect(readReleases(t.stateDir, 'swarm').filter((x) => x.kind === 'rollback')).toEqual([]);
    expect(readLock(lockFile(t.stateDir, 'swarm'))).toBeUndefined();
  }, 60_000);
});
