// `rollback --to TIME` on compose, without Docker: a scripted engine
// (test/compose-scripted.ts) answers through the recording effects port, with
// a WAL archive, a server that promotes, and a base backup taken by
// `lifeops backup` with backup.pitr on. Asserted: the order of the changes
// (the current segment archived, the apps stopped and a safety backup, the
// database stopped and its data folder copied aside into the undo volume
// before the base backup is unpacked over it), and the undo when a step fails
// after the data was touched (the copy put back, everything started again).
import { describe, it, expect } from 'vitest';
import { takeBackup } from '../../src/flows/backup.js';
import { rollbackToTime } from '../../src/flows/pitr-rollback.js';
import { DryRunMutationError, refusingChanges, type RecordedCall } from '../../src/flows/effects.js';
import { pitrSchema, WAL_ARCHIVE_DIR } from '../../src/config/pitr-schema.js';
import { ARCHIVER_SQL } from '../../src/commands/pitr.js';
import { readLock } from '../../src/state/lock.js';
import { lockFile } from '../../src/state/paths.js';
import { composeSetup, what } from '../compose-scripted.js';

const segment = (n: number) => `00000001000000000000000${n}`;

/** A changing call, shortened; the point-in-time steps by what they do, the data volume as "data", the undo volume as "undo". */
function step(c: RecordedCall): string {
  const a = c.argv;
  const line = a.join(' ');
  const vol = (spec: string) => (spec.includes('pitr-undo') ? 'undo' : spec.endsWith('_pgdata') ? 'data' : spec);
  const mount = (to: string) => vol(a.find((x) => x.endsWith(`:${to}`) || x.endsWith(`:${to}:ro`))!.split(':')[0]);
  if (line.includes('pg_switch_wal')) return 'close and archive the current segment';
  if (line.includes('ALTER SYSTEM RESET')) return 'reset the recovery settings';
  if (a[1] === 'volume') return `volume ${a[2]} ${vol(a.at(-1)!)}`;
  if (line.includes('lifeops.oneoff=pitr-copy')) return `copy ${mount('/from')} to ${mount('/to')}`;
  if (line.includes('lifeops.oneoff=pitr-restore')) return `unpack the base backup into ${mount('/pgdata')}`;
  return what(c);
}

/** A stack with backup.pitr on, a WAL archive of segments 3..5, and a backup holding a base backup; `to` lies between it and the archive's end. */
async function archivedStack(prefix: string) {
  const t = composeSetup(prefix);
  t.stack.backup.pitr = pitrSchema.parse({ enabled: true });
  const pg = t.stack.postgres!;
  const archivedAt = Math.floor(Date.now() / 1000) + 120;
  t.engine.script = (argv) => {
    const line = argv.join(' ');
    if (line.includes('pg_current_wal_lsn')) return { stdout: segment(3) };
    if (line.includes('pg_switch_wal')) return { stdout: `777|${archivedAt}.25\n${segment(5)}` };
    if (argv.includes(ARCHIVER_SQL)) return { stdout: `5|${segment(5)}|${archivedAt}|0|||0|` };
    if (argv.includes('find') && argv.includes(WAL_ARCHIVE_DIR)) return { stdout: [3, 4, 5].map((n) => `${WAL_ARCHIVE_DIR}/${segment(n)} ${archivedAt} 16777216`).join('\n') };
    if (argv[1] === 'inspect' && line.includes('.Mounts')) return { stdout: `[{"Type":"volume","Name":"${t.stack.project}_pgdata","Destination":"/var/lib/postgresql/data"}]|` };
    return undefined;
  };
  // the server after its recovery: promoted
  t.engine.execAnswer = (_id, cmd) => (cmd.includes('SELECT pg_is_in_recovery()') ? { exitCode: 0, output: 'f\n' } : undefined);
  const base = await takeBackup(t.stack, t.newRun(), { stateDir: t.stateDir, tag: 'with a base backup' });
  expect(base.contents.postgres?.base_backup).toMatchObject({ start_wal: segment(3) });
  t.rec.calls.length = 0;
  const run = t.newRun();
  const to = new Date(Date.now() + 60_000).toISOString();
  const go = () => rollbackToTime(t.stack, run, { stateDir: t.stateDir, to, commandLine: 'test', confirm: async () => undefined });
  const changes = () => t.rec.calls.filter((c) => c.kind === 'change').map(step);
  return { ...t, pg, base, run, to, go, changes };
}

const APPS = 'web worker front';

describe('compose: rollback --to TIME through the recording port', () => {
  it('archive closed, apps stopped, safety backup, database stopped, data copied aside, base backup unpacked, replayed, settings reset, apps started', async () => {
    const t = await archivedStack('pitr-ok-');
    const r = await t.go();
    expect(r).toMatchObject({ base_backup: t.base.id, target: t.to });
    expect(t.changes()).toEqual([
      'close and archive the current segment',
      `compose stop ${APPS}`,
      'redis-cli BGSAVE',
      `compose stop ${t.pg.service}`,
      'volume create undo',
      'copy data to undo',
      'unpack the base backup into data',
      `compose start ${t.pg.service}`,
      'reset the recovery settings',
      `compose start ${APPS}`,
      'volume rm undo',
    ]);
    // the base backup's file is fed to the unpack; the recovery settings reach it through its environment, never its argv
    const unpack = t.rec.calls.find((c) => step(c).startsWith('unpack'))!;
    expect(unpack.input).toContain(t.base.id);
    expect(unpack.env).toEqual(['LIFEOPS_RECOVERY']);
    expect(unpack.argv.join(' ')).not.toContain('recovery_target_time');
    expect(readLock(lockFile(t.stateDir, 'local'))).toBeUndefined();
  }, 60_000);

  it('the unpack fails: the data folder is copied back from the undo volume, everything started again, the undo volume removed', async () => {
    const t = await archivedStack('pitr-unpack-fails-');
    t.engine.failOn = /lifeops\.oneoff=pitr-restore/;
    await expect(t.go()).rejects.toThrow(/restore of base backup .* failed/);
    expect(t.changes()).toEqual([
      'close and archive the current segment',
      `compose stop ${APPS}`,
      'redis-cli BGSAVE',
      `compose stop ${t.pg.service}`,
      'volume create undo',
      'copy data to undo',
      'unpack the base backup into data',
      // the undo
      `compose stop ${t.pg.service}`,
      'copy undo to data',
      `compose start ${t.pg.service} ${APPS}`,
      'volume rm undo',
    ]);
    expect(readLock(lockFile(t.stateDir, 'local'))).toBeUndefined();
  }, 60_000);

  it('the copy aside fails: the data was not touched, so nothing is copied back; the services start again, the undo volume goes', async () => {
    const t = await archivedStack('pitr-copy-fails-');
    t.engine.failOn = /lifeops\.oneoff=pitr-copy/;
    await expect(t.go()).rejects.toThrow(/scripted failure/);
    expect(t.changes()).toEqual([
      'close and archive the current segment',
      `compose stop ${APPS}`,
      'redis-cli BGSAVE',
      `compose stop ${t.pg.service}`,
      'volume create undo',
      'copy data to undo',
      `compose start ${t.pg.service} ${APPS}`,
      'volume rm undo',
    ]);
  }, 60_000);

  it('the safety backup fails: the apps start again, the database is never stopped', async () => {
    const t = await archivedStack('pitr-safety-fails-');
    t.engine.failOn = /BGSAVE/;
    await expect(t.go()).rejects.toThrow(/BGSAVE/);
    expect(t.changes()).toEqual(['close and archive the current segment', `compose stop ${APPS}`, 'redis-cli BGSAVE', `compose start ${APPS}`]);
  }, 60_000);

  it('a time outside the recoverable range: exit 2 before anything but the archive switch changed', async () => {
    const t = await archivedStack('pitr-range-');
    const early = rollbackToTime(t.stack, t.run, { stateDir: t.stateDir, to: '2020-01-01T00:00:00Z', commandLine: 'test', confirm: async () => undefined });
    await expect(early).rejects.toMatchObject({ exitCode: 2 });
    expect(t.changes()).toEqual(['close and archive the current segment']);
  }, 60_000);

  it('on a port that refuses changes (a dry run), the first change is refused loudly and nothing is changed', async () => {
    const t = await archivedStack('pitr-dry-');
    t.run.effects = refusingChanges(t.rec);
    await expect(t.go()).rejects.toBeInstanceOf(DryRunMutationError);
    expect(t.rec.changes()).toEqual([]);
  }, 60_000);
});
