// `lifeops rollback --to TIME`: the stack's Postgres back to an instant, from
// the newest base backup before it plus the WAL archive. In order: the lock;
// the current segment closed and archived (so the range reaches "now"); the
// range checked (exit 2 outside it, nothing touched); the base backup's
// checksums; the app services stopped and the usual safety backup; the
// database stopped and its data folder copied aside (the undo); the base
// backup unpacked with the recovery settings; the server started and waited
// for until it has replayed to TIME and promoted; the recovery settings
// removed; the apps started and every service healthy. A failure or a signal
// after the data was touched puts the copied folder back and starts
// everything again.
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { composeEnv, composeStart, composeStop, type ComposeCli, type ComposeTarget } from '../commands/compose.js';
import { copyVolumeArgv, restoreBaseArgv } from '../commands/pitr.js';
import { pitrOn } from '../config/pitr-schema.js';
import { RESTORE_COMMAND } from '../render/pitr.js';
import { parseTargetTime, pickBase, recoverySettings, type Range } from '../plan/pitr.js';
import { plainInput, type BackupManifest } from '../backup/format.js';
import { verifyChecksums } from '../backup/integrity.js';
import { serviceContainer } from '../backup/containers.js';
import { baseBackups, readArchive } from '../backup/pitr.js';
import { composePaths, readRenderedDir } from './render.js';
import { renderDir as renderDirFor } from '../state/paths.js';
import type { Run } from './context.js';
import { lockAndRecover } from './recover.js';
import type { Lock } from '../state/lock.js';
import { appServices, safetyBackupWithAppsStopped } from './restore.js';
import { waitHealthy } from './wait.js';
import { archiveNow, dataVolume, liveTimeline, resetRecoverySettings, waitPromoted } from './pitr.js';
import { UNDO_RUN_LABEL } from './recover-pitr.js';

export interface RollbackToOptions {
  stateDir: string;
  to: string;
  commandLine: string;
  waitMs?: number;
  confirm: (question: string) => Promise<void>;
}

export interface RollbackToResult {
  target: string;
  base_backup: string;
  range: Range;
  safety_backup: string;
}

/** What the failure path must undo. */
interface Changed {
  apps: string[];
  appsStopped: boolean;
  dbStopped: boolean;
  /** the volume made for the data folder's copy (removed at the end, whatever happened) */
  undoVolume?: string;
  /** the data folder may differ from that copy: the undo copies it back */
  dataTouched: boolean;
}

export async function rollbackToTime(stack: Stack, run: Run, opts: RollbackToOptions): Promise<RollbackToResult> {
  const pg = stack.postgres;
  if (!pitrOn(stack) || !pg || pg.external_url) {
    throw new UsageError(`rollback --to needs point-in-time recovery, which environment ${stack.env} does not have on`, 'set backup.pitr.enabled: true, deploy, take a backup; then WAL is archived from that moment');
  }
  const target = parseTargetTime(opts.to);
  let lock: Lock | undefined;
  const untrap = run.trapSignals(() => lock?.release());
  const changed: Changed = { apps: [], appsStopped: false, dbStopped: false, dataTouched: false };
  let compose: ComposeCli | undefined;
  let composeTarget: ComposeTarget | undefined;
  let safety: BackupManifest | undefined;
  try {
    lock = await lockAndRecover(stack, run, { stateDir: opts.stateDir, commandLine: opts.commandLine, waitMs: opts.waitMs, handleSignals: false });
    const db = await serviceContainer(run.docker, stack, pg.service);
    const now = await run.step('postgres: a marker commit, the current WAL segment closed and awaited in the archive (the range then reaches now)', () => archiveNow(run.effects, db.id, pg.user, pg.database));
    const files = await run.step('read the WAL archive', () => readArchive(run.effects, db.id));
    const timeline = await liveTimeline(run.effects, db.id, pg.user, pg.database);
    const { base, range } = pickBase(baseBackups(stack, opts.stateDir), files, target, now);
    run.say(`recoverable range ${range.from} .. ${range.to}; replaying base backup ${base.id} (ended ${base.end_time}) to ${target.toISOString()}`);
    const { dir, manifest } = await run.step(`verify checksums of backup ${base.id} (its base backup)`, () => verifyChecksums(stack, opts.stateDir, base.id));
    const baseFile = manifest.contents.postgres!.base_backup!.file;
    if (stack.production) await opts.confirm(`roll the database of ${stack.project} back to ${target.toISOString()}? Everything written after it is replaced (a safety backup is taken first)`);

    compose = await run.compose();
    const renderDir = renderDirFor(opts.stateDir, stack.env);
    composeTarget = { project: stack.project, files: composePaths(readRenderedDir(renderDir), renderDir) };
    const env = composeEnv(stack);
    changed.apps = appServices(stack);
    safety = await safetyBackupWithAppsStopped(stack, run, { stateDir: opts.stateDir, tag: 'pre-rollback-to', compose, target: composeTarget, apps: changed.apps });
    changed.appsStopped = changed.apps.length > 0;
    run.say(`safety backup of the current state: ${safety.id}`);

    const volume = await run.step(`postgres: find the data volume of ${pg.service}`, () => dataVolume(run.effects, db.id));
    run.info('apps', { stopping: [pg.service] });
    await run.step(`stop ${pg.service}`, () => run.effects.change(composeStop(compose!, composeTarget!, [pg.service]), { env, timeoutMs: 5 * 60_000 }));
    changed.dbStopped = true;
    const undoVolume = `${stack.project}_lifeops-pitr-undo-${run.id}`.toLowerCase().replace(/[^a-z0-9_.-]/g, '-');
    await run.step(`copy the data folder aside into volume ${undoVolume} (the undo)`, async () => {
      await run.effects.change(['docker', 'volume', 'create', '--label', `lifeops.project=${stack.project}`, '--label', 'lifeops.oneoff=pitr-undo', '--label', `${UNDO_RUN_LABEL}=${run.id}`, undoVolume]);
      changed.undoVolume = undoVolume;
      await run.effects.change(copyVolumeArgv(db.imageId, stack.project, volume, undoVolume), { timeoutMs: 60 * 60_000 });
    });
    changed.dataTouched = true;
    await run.step(`unpack base backup ${base.id} into ${volume}, with recovery to ${target.toISOString()}`, () =>
      run.effects.changeFrom(restoreBaseArgv(db.imageId, stack.project, volume), plainInput(stack, run.io.env, manifest, path.join(dir, baseFile)), `restore of base backup ${base.id}`, {
        env: { LIFEOPS_RECOVERY: recoverySettings(target, RESTORE_COMMAND, timeline) },
      }),
    );
    await run.step(`start ${pg.service}: it replays the archive to ${target.toISOString()} and promotes`, () => run.effects.change(composeStart(compose!, composeTarget!, [pg.service]), { env, timeoutMs: 5 * 60_000 }));
    await run.step(`wait for ${pg.service} to finish the recovery and promote`, () => waitPromoted(run, stack));
    changed.dbStopped = false;
    run.info('apps', { started: [pg.service] });
    await run.step('postgres: remove the recovery settings (ALTER SYSTEM RESET), reload', async () => {
      const c = await serviceContainer(run.docker, stack, pg.service);
      await resetRecoverySettings(run.effects, c.id, pg.user, pg.database);
    });
    if (changed.apps.length) {
      await run.step(`start ${changed.apps.join(', ')} again`, () => run.effects.change(composeStart(compose!, composeTarget!, changed.apps), { env, timeoutMs: 5 * 60_000 }));
      run.info('apps', { started: changed.apps });
    }
    changed.appsStopped = false;
    await run.step('wait for every service to be healthy', () => waitHealthy(stack, run.docker, run.effects));
    await run.effects.change(['docker', 'volume', 'rm', undoVolume], { allowFailure: true }).catch(() => undefined);
    return { target: target.toISOString(), base_backup: base.id, range, safety_backup: safety.id };
  } catch (e) {
    const err = run.interruption(e);
    if (compose && composeTarget) await undoRollbackTo(stack, run, compose, composeTarget, changed, safety);
    throw err;
  } finally {
    untrap();
    lock?.release();
  }
}

/** Put back what a failed `rollback --to` changed: the data folder from its copy, then the services. */
async function undoRollbackTo(stack: Stack, run: Run, compose: ComposeCli, target: ComposeTarget, changed: Changed, safety?: BackupManifest): Promise<void> {
  run.beginUndo();
  const pg = stack.postgres!;
  const env = composeEnv(stack);
  if (!changed.appsStopped && !changed.dbStopped && !changed.dataTouched) return;
  try {
    if (changed.dataTouched && changed.undoVolume) {
      const undo = changed.undoVolume;
      await run.step(`undo: stop ${pg.service}, put the data folder back from ${undo}`, async () => {
        await run.effects.change(composeStop(compose, target, [pg.service]), { env, timeoutMs: 5 * 60_000 });
        const c = await serviceContainer(run.docker, stack, pg.service, false);
        await run.effects.change(copyVolumeArgv(c.imageId, stack.project, undo, await dataVolume(run.effects, c.id)), { timeoutMs: 60 * 60_000 });
      });
    }
    await run.step(`undo: start ${[pg.service, ...changed.apps].join(', ')} again`, () => run.effects.change(composeStart(compose, target, [pg.service, ...changed.apps]), { env, timeoutMs: 5 * 60_000 }));
    run.info('apps', { started: [pg.service, ...changed.apps] });
    await run.step('undo: wait for every service to be healthy', () => waitHealthy(stack, run.docker, run.effects));
    if (changed.undoVolume) await run.effects.change(['docker', 'volume', 'rm', changed.undoVolume], { allowFailure: true }).catch(() => undefined);
    run.say(`undone: the database is as it was before this rollback${safety ? ` (also in safety backup ${safety.id})` : ''}`);
  } catch (u) {
    // the rollback's own error is the one reported; this says where the data is
    run.say(`warning: the undo failed (${(u as Error).message.split('\n')[0]}); the data folder as it was is ${changed.dataTouched ? `in volume ${changed.undoVolume}` : 'in place (not touched yet)'}${safety ? `, and in safety backup ${safety.id} (lifeops rollback ${safety.id})` : ''}`);
  }
}
