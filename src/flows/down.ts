// `lifeops down`: stop and remove the stack under the environment's lock
// (with --volumes, its data too; the CLI asks first). Before --volumes
// deletes anything, the data is backed up and the backup verified (the same
// backup and verification `lifeops backup` and `backups verify` run); it is
// pinned so retention keeps it until a newer backup has verified. A backup
// that fails stops the run there: nothing is removed.
import type { Stack } from '../config/schema.js';
import path from 'node:path';
import { LifeopsError, OperationError } from '../errors.js';
import { composeDown, composeEnv, composeStartAsIs, type ComposeCli } from '../commands/compose.js';
import { datastores, datastoresToStart, dataToStartWhy } from '../plan/deploy.js';
import { namedVolumes } from '../render/compose.js';
import type { RenderedFile } from '../render/types.js';
import { volumeName } from '../backup/volumes.js';
import { backupDir, pinBackup } from '../backup/catalog.js';
import { stackPostgresServing } from '../backup/containers.js';
import { recover, takeLock } from './recover.js';
import { renderDir } from '../state/paths.js';
import { composePaths, readRenderedDir, renderStack, writeRendered } from './render.js';
import { takeBackup } from './backup.js';
import { verifyBackup } from './verify.js';
import { waitHealthy } from './wait.js';
import type { Run } from './context.js';
import type { Effects } from './effects.js';

export interface DownOptions {
  stateDir: string;
  volumes: boolean;
  commandLine: string;
  waitMs?: number;
  /** --skip-backup: delete the volumes without the last backup (the CLI has asked) */
  skipBackup?: boolean;
}

/** What `down --volumes` did about the data before deleting it. */
export type LastBackup =
  | { kind: 'taken'; id: string; dir: string; databases: { name: string; rows: number }[] }
  | { kind: 'nothing'; why: string }
  | { kind: 'skipped' };

export const LAST_BACKUP_TAG = 'last before down --volumes';

/**
 * The data `down --volumes` would delete: datastores with a named volume in
 * the engine, the backup's marked volumes that exist, and the other named
 * volumes that exist, which no backup holds (`backup.volumes` does not list them).
 */
async function dataToDelete(stack: Stack, effects: Effects): Promise<{ stores: string[]; marked: string[]; unkept: string[] }> {
  const ls = await effects.read(['docker', 'volume', 'ls', '-q'], { timeoutMs: 60_000 });
  if (ls.exitCode !== 0) throw new OperationError(`docker volume ls failed (exit ${ls.exitCode}): ${ls.stderr.trim().split('\n').pop() ?? ''}`);
  const have = new Set(ls.stdout.split('\n').map((l) => l.trim()));
  const storeVolumes = (n: string) => namedVolumes({ ...stack, services: { [n]: stack.services[n] } });
  const stores = datastores(stack).filter((n) => storeVolumes(n).some((v) => have.has(volumeName(stack, v))));
  const marked = stack.backup.volumes.filter((v) => have.has(volumeName(stack, v)));
  const covered = new Set([...datastores(stack).flatMap(storeVolumes), ...stack.backup.volumes]);
  const unkept = namedVolumes(stack).filter((v) => !covered.has(v) && !stack.volumes?.[v]?.external && have.has(volumeName(stack, v)));
  return { stores, marked, unkept };
}

/**
 * The last backup before deletion: the datastores started if a dead run (or
 * an earlier `down`) left them stopped, the backup taken, verified (every
 * checksum re-read, each dump restored into a scratch database and its row
 * counts compared) and pinned.
 */
async function lastBackup(stack: Stack, run: Run, o: { stateDir: string; compose: ComposeCli; dir: string; files: RenderedFile[] }): Promise<LastBackup> {
  const data = await run.step('down --volumes: which volumes hold data', () => dataToDelete(stack, run.effects));
  if (data.unkept.length) run.say(`warning: no backup holds volume${data.unkept.length > 1 ? 's' : ''} ${data.unkept.join(', ')} (not in backup.volumes): deleted with the rest`);
  if (!data.stores.length && !data.marked.length) {
    const why = `no volume of ${[...datastores(stack), ...stack.backup.volumes].join(', ') || 'a datastore'} exists in the engine`;
    run.say(`nothing to back up before deleting the volumes: ${why}`);
    return { kind: 'nothing', why };
  }
  const start = datastoresToStart(stack, await run.docker.projectContainers(stack.project), data.stores, true);
  if (start.length) {
    // the files in force when there are any (a down killed half-way leaves them), else this stack's
    let files = composePaths(readRenderedDir(o.dir), o.dir);
    if (!files.length) {
      writeRendered(o.files, o.dir);
      // a server over SSH reads them there
      await run.effects.publishRendered?.(o.dir, run.id);
      files = composePaths(o.files, o.dir);
    }
    const names = start.map((d) => d.service);
    await run.step(`start ${names.join(', ')} for the last backup (${dataToStartWhy(start)})`, () =>
      run.effects.change(composeStartAsIs(o.compose, { project: stack.project, files }, names), { env: composeEnv(stack), timeoutMs: 15 * 60_000 }),
    );
    const only = { ...stack, services: Object.fromEntries(Object.entries(stack.services).filter(([n]) => names.includes(n))) } as Stack;
    await run.step(`wait for ${names.join(', ')} to be healthy`, () => waitHealthy(only, run.docker, run.effects));
    if (start.some((d) => d.state === 'new' && d.service === stack.postgres?.service)) {
      await run.step(`wait for ${stack.postgres!.service} to finish its first-start initialisation (answering on TCP)`, () => stackPostgresServing(run.docker, run.effects, stack));
    }
  }
  const manifest = await takeBackup(stack, run, { stateDir: o.stateDir, tag: LAST_BACKUP_TAG }).catch((e: unknown) => {
    // a usage error (an unset encryption key) keeps its exit code 2; any other failure is this run's (exit 1)
    if (e instanceof LifeopsError && e.exitCode !== 1) throw e;
    throw new OperationError(`the last backup before deleting the volumes failed, so nothing was removed: ${run.redactor.text((e as Error).message)}`, e instanceof LifeopsError ? e.hint : undefined);
  });
  let verified;
  try {
    verified = await verifyBackup(stack, run, { stateDir: o.stateDir, id: manifest.id });
  } catch (e) {
    const msg = run.redactor.text((e as Error).message);
    throw new OperationError(`backup ${manifest.id} was taken but did not verify: ${msg}`, 'nothing was removed; find out why, then run down --volumes again');
  }
  const dir = backupDir(stack, o.stateDir);
  pinBackup(dir, manifest.id, `${LAST_BACKUP_TAG} (run ${run.id})`);
  run.info('down', { last_backup: manifest.id, verified: true, pinned: true });
  return { kind: 'taken', id: manifest.id, dir: path.join(dir, manifest.id), databases: verified.databases.map((d) => ({ name: d.name, rows: d.rows })) };
}

export async function down(stack: Stack, run: Run, opts: DownOptions): Promise<{ last?: LastBackup }> {
  // a dead run's lock is taken over (a live one is waited for with --wait, or
  // named), and what it left is finished or undone first, as every mutating
  // command does: its clients ended, its one-off containers and incomplete
  // backup folders removed, the run marked crashed. A down killed half-way is
  // recovered the same way by whatever command runs next.
  // A recovery that cannot finish does not keep the stack from going down:
  // compose down removes whatever the dead run left anyway.
  const lock = await takeLock(stack, run, { stateDir: opts.stateDir, commandLine: opts.commandLine, waitMs: opts.waitMs });
  try {
    await recover(stack, run, { stateDir: opts.stateDir, replaced: lock.replaced }).catch((e: Error) =>
      run.say(`warning: the recovery of what a dead run left did not finish (${run.redactor.text(e.message.split('\n')[0])}); compose down removes the stack anyway`),
    );
    const compose = await run.compose();
    const dir = renderDir(opts.stateDir, stack.env);
    const files = renderStack(stack, dir);
    let last: LastBackup | undefined;
    if (opts.volumes) {
      if (opts.skipBackup) {
        run.say('no backup before deleting the volumes (--skip-backup)');
        run.info('down', { last_backup: 'skipped (--skip-backup)' });
        last = { kind: 'skipped' };
      } else {
        // before anything is removed: a failure here ends the run with the stack and its data as they were
        last = await lastBackup(stack, run, { stateDir: opts.stateDir, compose, dir, files });
      }
    }
    writeRendered(files, dir);
    await run.step(`compose down${opts.volumes ? ' --volumes' : ''}`, async () => {
      const r = await run.effects.change(composeDown(compose, { project: stack.project, files: composePaths(files, dir) }, opts.volumes), { env: composeEnv(stack), allowFailure: true });
      if (r.exitCode !== 0) throw new OperationError(`compose down failed: ${r.stderr.split('\n').slice(-5).join('\n')}`);
    });
    return { ...(last ? { last } : {}) };
  } finally {
    lock.release();
  }
}
