// Restoring data from a backup into the running stack. Nothing live is
// touched before every checksum of the backup has been re-read and matched.
import os from 'node:os';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { OperationError, UsageError } from '../errors.js';
import { CommandFailedError } from '../clients/command-error.js';
import { composeEnv, composeStart, composeStop, type ComposeCli, type ComposeTarget } from '../commands/compose.js';
import { restoreDatabaseArgv, restoreBesideArgv, restoreExternalArgv, BESIDE_UNREACHABLE } from '../commands/postgres.js';
import { encryptionKey, plainInput, plainStream, readPlain, type BackupManifest } from '../backup/format.js';
import { verifyChecksums } from '../backup/integrity.js';
import { serviceContainer } from '../backup/containers.js';
import { externalClient, externalEnv, externalTarget, hostToolMajor } from '../backup/external.js';
import { restoreRedisFiles } from '../backup/redis.js';
import { restoreVolume } from '../backup/volumes.js';
import type { Run } from './context.js';
import { helperImage, takeBackup } from './backup.js';

export type RestorePart = 'postgres' | 'redis' | 'volumes';

/**
 * Restore an external database's dumps with the host's pg_restore, one
 * transaction per database. The password goes through PGPASSWORD only.
 */
async function restoreExternal(stack: Stack, run: Run, dir: string, manifest: BackupManifest): Promise<void> {
  const pg = manifest.contents.postgres!;
  const url = stack.postgres?.external_url;
  if (!url) throw new OperationError(`backup ${manifest.id} holds an external database (${pg.external!.server}), but this stack sets no postgres.external_url to restore it into`);
  const tool = await run.step('postgres (external): version of the host pg_restore', () => hostToolMajor(run.effects, 'pg_restore'));
  if (tool < pg.external!.pg_dump_version) {
    throw new OperationError(`the host's pg_restore is version ${tool}, older than the pg_dump ${pg.external!.pg_dump_version} that wrote backup ${manifest.id}`, `install postgresql-client-${pg.external!.pg_dump_version} (or newer) on this machine`);
  }
  for (const db of pg.databases) {
    const t = externalTarget(url, db.name);
    await run.step(`postgres (external ${t.display}): restore in one transaction (user schemas dropped first)`, async () => {
      // fail before touching anything when the server cannot be reached
      await (await externalClient(t)).end();
      const { argv, env } = restoreExternalArgv(t.user ?? run.env.PGUSER ?? os.userInfo().username, t.url);
      await run.effects.changeFrom(argv, plainStream(stack, run.io.env, manifest, path.join(dir, db.file)), `restore of ${t.display}`, { env: { ...externalEnv(t), ...env } });
    });
  }
}

/**
 * Restore data from a backup into the running stack. Checks every checksum
 * first and touches nothing when one is wrong. The caller stops the app
 * services (and holds the lock); Redis is stopped and started here.
 */
export async function restoreBackup(stack: Stack, run: Run, opts: { stateDir: string; id: string; parts?: ('postgres' | 'redis' | 'volumes')[] }): Promise<void> {
  const parts = new Set<RestorePart>(opts.parts ?? ['postgres', 'redis', 'volumes']);
  const { dir, manifest } = await run.step(`verify checksums of backup ${opts.id}`, () => verifyChecksums(stack, opts.stateDir, opts.id));
  if (manifest.env !== stack.env) throw new OperationError(`backup ${opts.id} belongs to environment ${manifest.env}, not ${stack.env}`);
  if (manifest.encrypted && !encryptionKey(stack, run.io.env)) throw new UsageError(`backup ${opts.id} is encrypted and ${stack.backup.encryption_key_env ?? 'the key variable'} is not set`);
  const docker = run.docker;
  const input = (file: string) => plainInput(stack, run.io.env, manifest, path.join(dir, file));

  // an external database goes back through the host's pg_restore; the part below is the in-stack one
  if (parts.has('postgres') && manifest.contents.postgres?.external) {
    await restoreExternal(stack, run, dir, manifest);
    parts.delete('postgres');
  }

  const pg = manifest.contents.postgres;
  if (parts.has('postgres') && pg) {
    const c = await serviceContainer(docker, stack, pg.service);
    for (const db of pg.databases) {
      const what = `restore of ${db.name}`;
      const password = stack.postgres?.password;
      await run.step(`postgres: restore ${db.name} in one transaction (user schemas dropped first: it ends equal to the backup)`, async () => {
        if (password) {
          const beside = restoreBesideArgv(c.id, c.imageId, pg.user, db.name, password, stack.project);
          try {
            const out = await run.effects.changeFrom(beside.argv, input(db.file), what, { env: beside.env });
            run.info(`postgres: restore ${db.name}`, { restore_client: `beside ${pg.service}` });
            return out;
          } catch (e) {
            if (!(e instanceof CommandFailedError) || e.commandExit !== BESIDE_UNREACHABLE) {
              run.info(`postgres: restore ${db.name}`, { restore_client: `beside ${pg.service}` });
              throw e;
            }
          }
          const note = `a client beside ${pg.service} could not log in over 127.0.0.1 (nothing was changed): restoring with docker exec in the container`;
          run.say(note);
          run.info(`postgres: restore ${db.name}`, { restore_client: `inside ${pg.service}`, note });
        }
        const inside = restoreDatabaseArgv(c.id, pg.user, db.name);
        return run.effects.changeFrom(inside.argv, input(db.file), what, { env: inside.env });
      });
    }
  }

  const rd = manifest.contents.redis;
  if (parts.has('redis') && rd) {
    await run.step('redis: stop, replace the data files, start', async () => {
      const c = await serviceContainer(docker, stack, rd.service, false);
      // read by the recovery after a crash: a run killed while Redis is stopped leaves it to be started
      run.info('apps', { stopping: [rd.service] });
      await restoreRedisFiles(docker, run.effects, stack, c, rd, input, () => helperImage(stack, docker));
      run.info('apps', { started: [rd.service] });
    });
  }

  if (parts.has('volumes')) {
    for (const v of manifest.contents.volumes) {
      await run.step(`volume ${v.name}: replace its files and check each one`, async () => {
        const image = await helperImage(stack, docker);
        const expected = await readPlain(stack, run.io.env, manifest, path.join(dir, v.list));
        const files = await restoreVolume(run.effects, v.volume, image, plainStream(stack, run.io.env, manifest, path.join(dir, v.file)), expected, manifest.id);
        run.info('restore', { volume: v.volume, files });
      });
    }
  }
}

const APP_ROLES = new Set(['web', 'worker', 'front']);

export function appServices(stack: Stack): string[] {
  return Object.entries(stack.services)
    .filter(([, s]) => APP_ROLES.has(s.role))
    .map(([n]) => n);
}

/**
 * Before data is replaced: stop the services that write (so nothing written
 * after the safety backup is lost), then back up the current state. When the
 * safety backup fails, the services are started again and nothing was
 * touched.
 */
export async function safetyBackupWithAppsStopped(
  stack: Stack,
  run: Run,
  o: { stateDir: string; tag: string; compose: ComposeCli; target: ComposeTarget; apps: string[] },
): Promise<BackupManifest> {
  const env = composeEnv(stack);
  if (o.apps.length) {
    // read by the recovery after a crash: these were stopped on purpose and must be started again
    run.info('apps', { stopping: o.apps });
    await run.step(`stop app services (${o.apps.join(', ')}): no write may land after the safety backup`, () => run.effects.change(composeStop(o.compose, o.target, o.apps), { env, timeoutMs: 5 * 60_000 }));
  }
  try {
    return await takeBackup(stack, run, { stateDir: o.stateDir, tag: o.tag, safety: true });
  } catch (e) {
    if (o.apps.length) {
      run.beginUndo();
      await run
        .step(`undo: start ${o.apps.join(', ')} again (the safety backup failed; no data was touched)`, async () => {
          await run.effects.change(composeStart(o.compose, o.target, o.apps), { env, timeoutMs: 5 * 60_000 });
          run.info('apps', { started: o.apps });
        })
        .catch((u: Error) => run.say(`warning: could not start ${o.apps.join(', ')} again: ${u.message.split('\n')[0]}`));
    }
    throw e;
  }
}

