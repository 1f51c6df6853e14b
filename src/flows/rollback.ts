// `lifeops rollback`: back to a backup (data AND release: a safety backup of
// the current state first, with the app services stopped), or to an earlier
// release only (its rendered files and images, data untouched).
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { composeEnv, composeStart, composeStartAsIs, composeUp, type ComposeCli } from '../commands/compose.js';
import { datastoresToStart, dataToStartWhy } from '../plan/deploy.js';
import { keptVolumes } from './deploy.js';
import type { BackupManifest } from '../backup/format.js';
import { backupDir, listBackups, readManifest } from '../backup/catalog.js';
import { verifyChecksums } from '../backup/integrity.js';
import { stackPostgresServing } from '../backup/containers.js';
import type { Run } from './context.js';
import { lockAndRecover } from './recover.js';
import type { Lock } from '../state/lock.js';
import { appendRelease, readReleases, type ReleaseRecord } from '../state/ledger.js';
import { composePaths, readRenderedDir, writeRendered, writeSecretFiles } from './render.js';
import type { RenderedFile } from '../render/types.js';
import { reloadFront } from './rollout.js';
import { frontFiles } from '../plan/rollout.js';
import { reloadMonitoringBack } from './monitoring-reload.js';
import { acmeDir, releaseArchiveDir, renderDir as renderDirFor } from '../state/paths.js';
import { restoreCerts } from '../backup/certs.js';
import { waitHealthy } from './wait.js';
import { appServices, restoreBackup, safetyBackupWithAppsStopped } from './restore.js';
import { holdMaintenance } from './maintenance.js';

/** Put a backup's rendered files back as the env's render dir; re-tag images to the recorded IDs when they still exist. */
async function restoreRelease(stack: Stack, run: Run, stateDir: string, dir: string, manifest: BackupManifest): Promise<{ files: string[]; changed: boolean; from: RenderedFile[]; to: RenderedFile[] }> {
  if (!manifest.release.render_dir) throw new OperationError(`backup ${manifest.id} carries no rendered files`);
  const renderDir = renderDirFor(stateDir, stack.env);
  const from = readRenderedDir(renderDir);
  const release = readRenderedDir(path.join(dir, manifest.release.render_dir));
  let changed = JSON.stringify(release) !== JSON.stringify(from);
  // file by file into the same folders: running containers bind-mount these
  // folders (the nginx front's), and a swapped folder would leave them on the deleted one
  writeRendered(release, renderDir);
  writeSecretFiles(stack, renderDir);
  // a server over SSH: the files reach it as this run's release (compose reads them there)
  await run.effects.publishRendered?.(renderDir, run.id);
  // the backup's ACME account and certificates (front.tls.acme): the front reloads onto them
  const certs = await restoreCerts(stack, run.io.env, manifest, dir, acmeDir(stateDir, stack.env));
  if (certs.files) run.info('rollback', { certificates: certs.files, changed: certs.changed });
  changed ||= certs.changed;
  const docker = run.docker;
  for (const [svc, img] of Object.entries(manifest.release.images)) {
    if (!img.id) continue;
    const current = await docker.imageId(img.image);
    if (current === img.id) continue;
    if (!(await docker.imageExists(img.id))) {
      run.say(`warning: image ${img.image} of ${svc} (${img.id.slice(0, 19)}) is gone; using the tag as it is now`);
      continue;
    }
    await run.effects.change(['docker', 'tag', img.id, img.image]);
    run.info('rollback', { retagged: img.image, id: img.id });
    changed = true;
  }
  return { files: manifest.release.compose_files.map((f) => path.join(renderDir, f)), changed, from, to: release };
}

/**
 * The safety backup and the restore read and write through the datastores'
 * running containers. Ones a dead run (a killed `down`) left stopped, or
 * removed with their volume kept, are started as they were; on a host with
 * none (a new machine) they are created empty and the restore fills them.
 * With no compose files in force the backup's own release is put in place
 * first. Returns the compose files to use.
 */
async function startDatastores(stack: Stack, run: Run, o: { stateDir: string; compose: ComposeCli; files: string[]; backupDir: string; manifest: BackupManifest }): Promise<string[]> {
  const start = datastoresToStart(stack, await run.docker.projectContainers(stack.project), await keptVolumes(stack, run.effects), true);
  if (!start.length) return o.files;
  let files = o.files;
  if (files.length < o.manifest.release.compose_files.length) {
    files = (await run.step("no compose files in force: bring back the backup's release first", () => restoreRelease(stack, run, o.stateDir, o.backupDir, o.manifest))).files;
  }
  const names = start.map((d) => d.service);
  await run.step(`start ${names.join(', ')} for the safety backup and the restore (${dataToStartWhy(start)})`, () =>
    run.effects.change(composeStartAsIs(o.compose, { project: stack.project, files }, names), { env: composeEnv(stack), timeoutMs: 15 * 60_000 }),
  );
  const only = { ...stack, services: Object.fromEntries(Object.entries(stack.services).filter(([n]) => names.includes(n))) } as Stack;
  await run.step(`wait for ${names.join(', ')} to be healthy`, () => waitHealthy(only, run.docker, run.effects));
  // a new Postgres is "healthy" while its first-start initialisation still runs: the safety backup must not start before it ends
  if (start.some((d) => d.state === 'new' && d.service === stack.postgres?.service)) {
    await run.step(`wait for ${stack.postgres!.service} to finish its first-start initialisation (answering on TCP)`, () => stackPostgresServing(run.docker, run.effects, stack));
  }
  return files;
}

export interface RollbackOptions {
  stateDir: string;
  /** backup id: restore data and release; omitted with `release`: release only */
  id?: string;
  /** ledger run id of a release to return to (release only, data untouched); 'previous' for the one before the current */
  release?: string;
  commandLine: string;
  /** --wait: how long to wait for a live run holding the lock (ms) */
  waitMs?: number;
  /** --maintenance: the front answers 503 (maintenance mode) while the rollback runs */
  maintenance?: boolean;
  confirm: (question: string) => Promise<void>;
}

/** Find the backup carrying a given release (run id), newest first. */
export function backupForRelease(stack: Stack, stateDir: string, release: string): string {
  const root = backupDir(stack, stateDir);
  let runId = release;
  if (release === 'previous') {
    const ok = readReleases(stateDir, stack.env).filter((r) => r.outcome === 'success');
    if (ok.length < 2) throw new OperationError(`environment ${stack.env} has no previous successful release in the ledger`, 'lifeops history');
    runId = ok[ok.length - 2].run_id;
  }
  const found = listBackups(root, stack.project, stack.env)
    .reverse()
    .map((b) => readManifest(root, b.id)!)
    .find((m) => m.release.run_id === runId && m.release.render_dir);
  if (!found) throw new OperationError(`no backup holds the rendered files of release ${runId}`, 'releases are kept through backups: `lifeops backups list`');
  return found.id;
}

export async function rollback(stack: Stack, run: Run, opts: RollbackOptions): Promise<{ backup: string; safety_backup?: string; data: boolean }> {
  const started = run.io.now();
  const dataToo = Boolean(opts.id);
  const id = opts.id ?? backupForRelease(stack, opts.stateDir, opts.release ?? 'previous');
  // verify before asking or locking: a bad backup is refused touching nothing
  const { dir, manifest } = await run.step(`verify checksums of backup ${id}`, () => verifyChecksums(stack, opts.stateDir, id));
  if (manifest.env !== stack.env) throw new OperationError(`backup ${id} belongs to environment ${manifest.env}, not ${stack.env}`);
  if (stack.production) await opts.confirm(dataToo ? `roll ${stack.project} back to backup ${id} (data AND release)?` : `return ${stack.project} to release ${manifest.release.run_id ?? id}?`);
  // SIGINT/SIGTERM: the next step throws, the failure path below undoes, the CLI exits 130/143
  let lock: Lock | undefined;
  const untrap = run.trapSignals(() => lock?.release());
  let safety: BackupManifest | undefined;
  const record = (outcome: ReleaseRecord['outcome'], extra: Pick<ReleaseRecord, 'images'> & Partial<ReleaseRecord>) =>
    appendRelease(opts.stateDir, {
      run_id: run.id,
      kind: 'rollback',
      env: stack.env,
      time: started.toISOString(),
      duration_ms: run.io.now().getTime() - started.getTime(),
      version: manifest.release.version ?? 'unknown',
      user: os.userInfo().username,
      config_hash: manifest.release.config_hash ?? '',
      outcome,
      backup: id,
      ...extra,
    });
  /** what the failure path must undo: apps stopped for the safety backup, live data touched, the release in force replaced */
  const changed = { appsStopped: [] as string[], data: false, release: undefined as PriorRelease | undefined, reloaded: false };
  let composeCli: ComposeCli | undefined; // known once detected: the undo needs it
  let endMaintenance: (() => Promise<void>) | undefined;
  try {
    lock = await lockAndRecover(stack, run, { stateDir: opts.stateDir, commandLine: opts.commandLine, waitMs: opts.waitMs, handleSignals: false });
    if (opts.maintenance) endMaintenance = await holdMaintenance(stack, run, opts.stateDir, 'rollback');
    const compose = (composeCli = await run.compose());
    if (dataToo) {
      const current = renderDirFor(opts.stateDir, stack.env);
      let files = manifest.release.compose_files.map((f) => path.join(current, f)).filter((f) => existsSync(f));
      files = await startDatastores(stack, run, { stateDir: opts.stateDir, compose, files, backupDir: dir, manifest });
      const apps = files.length ? appServices(stack) : [];
      safety = await safetyBackupWithAppsStopped(stack, run, { stateDir: opts.stateDir, tag: 'pre-rollback', compose, target: { project: stack.project, files }, apps });
      changed.appsStopped = apps;
      run.say(`safety backup of the current state: ${safety.id}`);
      changed.data = true; // from here on live data may differ from the safety backup
      await restoreBackup(stack, run, { stateDir: opts.stateDir, id });
    }
    changed.release = await priorRelease(stack, run, opts.stateDir, manifest);
    const { files, changed: releaseChanged, from, to } = await run.step('bring back the release\'s rendered files and images', () => restoreRelease(stack, run, opts.stateDir, dir, manifest));
    const docker = run.docker;
    const before = await docker.projectContainers(stack.project);
    const present = new Set(before.map((c) => c.service));
    const missing = Object.keys(stack.services).filter((n) => !present.has(n));
    if (releaseChanged || missing.length) {
      await run.step(`compose up (${compose.kind}, project ${stack.project})`, () => run.effects.change(composeUp(compose, { project: stack.project, files }), { env: composeEnv(stack), timeoutMs: 15 * 60_000 }));
    } else {
      // the release in force is the backup's (same files, same images): start what the restore stopped
      await run.step(`compose start (${compose.kind}, project ${stack.project}): the release is unchanged`, () => run.effects.change(composeStart(compose, { project: stack.project, files }, []), { env: composeEnv(stack), timeoutMs: 15 * 60_000 }));
    }
    // from here on a running front or monitoring service may have read the release's files: an undo reloads them back
    changed.reloaded = true;
    if (stack.front && releaseChanged) await reloadFront({ stack, run, docker, compose, target: { project: stack.project, files }, env: composeEnv(stack) }, "the release's configuration");
    // a Prometheus or Alertmanager kept running reads its files only on a reload
    await reloadMonitoringBack({ stack, run, docker }, from, to, new Set(before.map((c) => c.id)), "the release's configuration");
    await run.step('wait for every service to be healthy', () => waitHealthy(stack, docker, run.effects));
    // kept apart from the live render folder, which the next deploy overwrites: a failed deploy returns to this copy
    const archive = releaseArchiveDir(opts.stateDir, stack.env, run.id);
    writeRendered(readRenderedDir(renderDirFor(opts.stateDir, stack.env)), archive, 'private');
    record('success', {
      images: Object.fromEntries(Object.entries(manifest.release.images).map(([k, v]) => [k, v.image])),
      render_dir: archive,
    });
    return { backup: id, ...(safety ? { safety_backup: safety.id } : {}), data: dataToo };
  } catch (e) {
    const err = run.interruption(e);
    if (lock) {
      // (no lock taken: nothing was changed, nothing to record)
      const undo = composeCli ? await undoRollback(stack, run, { stateDir: opts.stateDir, compose: composeCli, safety, ...changed }) : 'nothing to undo';
      record(undo === 'undone' ? 'rolled-back' : 'failed', { images: {}, error: run.redactor.text((err as Error).message.split('\n')[0]) + (safety ? ` (safety backup: ${safety.id})` : '') });
    }
    throw err;
  } finally {
    await endMaintenance?.(); // after the undo, if there was one
    untrap();
    lock?.release();
  }
}

/** The release in force before a rollback replaces it: its rendered files and the image ids its tags pointed to. */
interface PriorRelease {
  files: RenderedFile[];
  images: Record<string, string>;
}

async function priorRelease(stack: Stack, run: Run, stateDir: string, manifest: BackupManifest): Promise<PriorRelease> {
  const dir = renderDirFor(stateDir, stack.env);
  const images: Record<string, string> = {};
  for (const { image } of Object.values(manifest.release.images)) {
    const id = await run.docker.imageId(image);
    if (id) images[image] = id;
  }
  return { files: existsSync(dir) ? readRenderedDir(dir) : [], images };
}

/**
 * A rollback that failed or was interrupted puts back what it changed, newest
 * first: the live data from the safety backup, the release in force before
 * (files and image tags), then the services started and waited for. When
 * something cannot be undone it says so, with what to run.
 */
async function undoRollback(
  stack: Stack,
  run: Run,
  o: { stateDir: string; compose: ComposeCli; safety?: BackupManifest; appsStopped: string[]; data: boolean; release?: PriorRelease; reloaded: boolean },
): Promise<'nothing to undo' | 'undone' | 'failed'> {
  if (!o.appsStopped.length && !o.data && !o.release) return 'nothing to undo';
  run.beginUndo();
  const env = composeEnv(stack);
  const renderDir = renderDirFor(o.stateDir, stack.env);
  let rollbackFiles: RenderedFile[] = [];
  try {
    if (o.data && o.safety) await restoreBackup(stack, run, { stateDir: o.stateDir, id: o.safety.id });
    if (o.release) {
      const prior = o.release;
      await run.step('undo: bring back the release in force before (its rendered files and image tags)', async () => {
        if (prior.files.length) {
          rollbackFiles = existsSync(renderDir) ? readRenderedDir(renderDir) : [];
          writeRendered(prior.files, renderDir);
        }
        writeSecretFiles(stack, renderDir);
        if (prior.files.length) await run.effects.publishRendered?.(renderDir, `${run.id}-undo`);
        for (const [image, id] of Object.entries(prior.images)) if ((await run.docker.imageId(image)) !== id) await run.effects.change(['docker', 'tag', id, image]);
      });
    }
    const target = { project: stack.project, files: composePaths(readRenderedDir(renderDir), renderDir) };
    if (o.release || o.data) {
      // a front or Prometheus that kept running may have read the rollback's files: back to the ones in force before
      const reloadBack = o.reloaded && Boolean(o.release?.files.length);
      const kept = reloadBack ? new Set((await run.docker.projectContainers(stack.project)).map((c) => c.id)) : new Set<string>();
      await run.step(`undo: compose up (${o.compose.kind}, project ${stack.project})`, () => run.effects.change(composeUp(o.compose, target), { env, timeoutMs: 15 * 60_000 }));
      if (reloadBack && o.release) {
        if (stack.front && frontFiles(stack, rollbackFiles) !== frontFiles(stack, o.release.files)) await reloadFront({ stack, run, docker: run.docker }, 'undo: the configuration in force before');
        await reloadMonitoringBack({ stack, run, docker: run.docker }, rollbackFiles, o.release.files, kept, 'undo: the configuration in force before');
      }
    } else {
      await run.step(`undo: start ${o.appsStopped.join(', ')} again`, () => run.effects.change(composeStart(o.compose, target, o.appsStopped), { env, timeoutMs: 15 * 60_000 }));
    }
    await run.step('undo: wait for every service to be healthy', () => waitHealthy(stack, run.docker, run.effects));
    run.say(o.data ? `undone: the data and release in force before this rollback are back (safety backup ${o.safety?.id})` : 'undone: the release in force before this rollback is back');
    return 'undone';
  } catch (u) {
    run.say(`warning: could not undo the rollback: ${(u as Error).message.split('\n')[0]}${o.safety ? `; the state before it is in safety backup ${o.safety.id}: lifeops rollback ${o.safety.id}` : ''}`);
    return 'failed';
  }
}
