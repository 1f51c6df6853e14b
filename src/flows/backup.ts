// `lifeops backup`: Postgres (pg_dump -Fc inside the db container, streamed to
// disk; or the host's pg_dump for postgres.external_url), globals, per-table
// row counts from the same snapshot, Redis (BGSAVE, then dump.rdb through the
// Docker archive API), named volumes (tar with a per-file sha256 list read
// from the archive itself) and the release in force (image IDs, rendered files).
// Everything goes into <dir>/.tmp-<id>.<project>/; manifest.json is written
// LAST, then the folder is renamed into place. A folder without a manifest is
// not a backup. The archive's parts are in src/backup/; this is the order.
//
// takeBackup does not take the environment lock: its callers (the backup
// command, deploy, rollback) hold it. That is what makes it safe to delete a
// leftover .tmp-*.<project> folder: no other live run of this project writes one.
import { rmSync, renameSync, existsSync, cpSync } from 'node:fs';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { OperationError, UsageError } from '../errors.js';
import type { ContainerState, DockerClient } from '../clients/docker.js';
import { dumpCompression } from '../commands/postgres.js';
import { mapImage } from '../config/images.js';
import { composeFiles } from '../render/index.js';
import { writeFileSynced } from '../util/durable.js';
import { encryptionKey, fsyncPath, sha256File, walkDirs, walkFiles, writeError, type BackupManifest, type PostgresContents, type Written } from '../backup/format.js';
import { takeBaseBackup } from '../backup/pitr.js';
import { pitrOn } from '../config/pitr-schema.js';
import { backupDir, cleanTmp, prepareBackupDir, tmpFolder } from '../backup/catalog.js';
import { mkdirPrivate, tightenTree } from '../util/private-files.js';
import { firstLocalImage, helperImageCandidates, serviceContainer } from '../backup/containers.js';
import { containerPostgres, type PostgresSource } from '../backup/postgres.js';
import { externalPostgres } from '../backup/external.js';
import { copyRedisOut, openRedis, redisSave } from '../backup/redis.js';
import { archiveVolume, volumeName } from '../backup/volumes.js';
import type { Run } from './context.js';
import { newRunId } from '../state/runlog.js';
import { readRenderedDir, SECRET_FILES_DIR } from './render.js';
import { MAINTENANCE_SUBDIR, acmeDir, renderDir as renderDirFor } from '../state/paths.js';
import { archiveCerts } from '../backup/certs.js';
import { readReleases } from '../state/ledger.js';
import { lockAndRecover } from './recover.js';
import type { Lock } from '../state/lock.js';
import { applyRetention } from './retention.js';
import { copyPending, type CopyOutcome } from './offsite.js';
import { pruneArchive } from './pitr.js';
import { pushWal, type WalPushOutcome } from './pitr-offsite.js';

export function backupId(now: Date): string {
  return newRunId(now);
}

/** An image that exists locally and has sh, tar and sha256sum: the db service's, else any service's. */
export async function helperImage(stack: Stack, docker: DockerClient): Promise<string> {
  return firstLocalImage(docker, helperImageCandidates(stack).map((img) => mapImage(img, stack.images)));
}

/** How long a backup waits for a database the engine is restarting (after a crash) before it gives up. */
const DB_RETURN_MS = 90_000;

/**
 * A database that crashed (killed, out of memory) is restarted by the engine
 * (restart policy): a backup that starts meanwhile waits for it, bounded,
 * rather than fail. A container stopped on purpose (not restarting), or
 * running but unhealthy, is not waited for: serviceContainer names it.
 */
async function databaseBack(run: Run, stack: Stack, service: string): Promise<void> {
  const ready = (c: ContainerState) => c.state === 'running' && (c.health === 'healthy' || c.health === 'none');
  const coming = (c: ContainerState) => c.state === 'restarting' || (c.state === 'running' && c.health === 'starting');
  const mine = async () => (await run.docker.projectContainers(stack.project)).filter((c) => c.service === service);
  const now = await mine();
  if (now.some(ready) || !now.some(coming)) return;
  await run.step(`postgres: wait up to ${DB_RETURN_MS / 1000}s for ${service}, which the engine is restarting (${now.map((c) => `${c.state}${c.health !== 'none' ? `, ${c.health}` : ''}`).join('; ')})`, async () => {
    const deadline = Date.now() + DB_RETURN_MS;
    for (;;) {
      const cs = await mine();
      if (cs.some(ready)) return;
      if (!cs.some(coming)) throw new OperationError(`service ${service} stopped while the backup waited for it to come back (${cs.map((c) => c.state).join(', ') || 'no container'})`, `lifeops deploy ${stack.env}`);
      if (Date.now() > deadline) throw new OperationError(`service ${service} did not come back within ${DB_RETURN_MS / 1000}s (${cs.map((c) => `${c.state}, ${c.health}`).join('; ')})`, `docker logs of ${service}; then lifeops backup again`);
      await run.effects.sleep(1000);
    }
  });
}

export async function takeBackup(stack: Stack, run: Run, opts: { stateDir: string; tag?: string; safety?: boolean }): Promise<BackupManifest> {
  const docker = run.docker;
  const dir = backupDir(stack, opts.stateDir);
  const now = run.io.now();
  const id = backupId(now);
  const tmp = tmpFolder(dir, id, stack.project);
  const passphrase = encryptionKey(stack, run.io.env);
  if (stack.backup.encryption_key_env && !passphrase) {
    throw new UsageError(`backup.encryption_key_env names ${stack.backup.encryption_key_env}, which is not set`, `export ${stack.backup.encryption_key_env}=...`);
  }
  const ext = passphrase ? '.enc' : '';
  const compression = dumpCompression(stack, opts.safety === true);
  const pgDump = ['pg_dump -Fc', ...compression].join(' ');
  const hashed = new Map<string, Written>();
  const manifest: BackupManifest = {
    format: 1,
    id,
    env: stack.env,
    project: stack.project,
    stack: stack.file,
    time: now.toISOString(),
    ...(opts.tag ? { tag: opts.tag } : {}),
    encrypted: Boolean(passphrase),
    contents: { volumes: [] },
    release: { images: {}, compose_files: [] },
    files: [],
    size: 0,
  };

  await run.step('prepare the backup folder', async () => {
    // every folder and file of a backup is private (0700/0600) whatever the umask
    prepareBackupDir(dir);
    const removed = cleanTmp(dir, stack.project);
    if (removed.length) run.info('backup', { removed_incomplete: removed });
    mkdirPrivate(tmp);
  });

  try {
    if (stack.postgres) {
      const pgc = stack.postgres;
      // the same steps either way: each database with its row counts, then the globals
      if (!pgc.external_url) await databaseBack(run, stack, pgc.service);
      const source: PostgresSource = pgc.external_url
        ? await run.step('postgres (external): version of the host pg_dump', () => externalPostgres(run.effects, pgc))
        : containerPostgres(run.effects, await serviceContainer(docker, stack, pgc.service), pgc);
      mkdirPrivate(path.join(tmp, 'postgres'));
      const databases: NonNullable<BackupManifest['contents']['postgres']>['databases'] = [];
      let globals: string | undefined;
      for (const db of [pgc.database, ...pgc.databases.filter((d) => d !== pgc.database)]) {
        await run.step(source.dumpTitle(db, pgDump), async () => {
          const rel = `postgres/${db}.dump${ext}`;
          const r = await source.dump(db, path.join(tmp, rel), compression, passphrase, (fields) => run.info('backup', fields));
          hashed.set(rel, { sha256: r.sha256, size: r.size });
          databases.push({ name: db, file: rel, rows: r.rows });
          run.info('backup', { database: db, bytes: r.size, tables: Object.keys(r.rows).length });
        });
      }
      await run.step(source.globalsTitle, async () => {
        const rel = `postgres/globals.sql${ext}`;
        const r = await source.dumpGlobals(path.join(tmp, rel), passphrase, (warning) => run.say(warning));
        if (r) {
          hashed.set(rel, r);
          globals = rel;
        }
      });
      // backup.pitr: a physical copy too, the start of `rollback --to` (a safety backup, on the downtime path, takes none)
      let base: PostgresContents['base_backup'];
      if (pitrOn(stack) && !pgc.external_url && !opts.safety) {
        await run.step('postgres: base backup for point-in-time recovery (pg_basebackup -Ft -X fetch, in the container)', async () => {
          const rel = `postgres/base.tar${ext}`;
          const c = await serviceContainer(docker, stack, pgc.service);
          const r = await takeBaseBackup(run.effects, c.id, pgc.user, pgc.database, path.join(tmp, rel), passphrase, `lifeops ${id}`, () => run.io.now());
          hashed.set(rel, r.written);
          base = { file: rel, start_wal: r.start_wal, start_time: r.start_time, end_time: r.end_time };
          run.info('backup', { base_backup: rel, bytes: r.written.size, start_wal: r.start_wal });
        });
      }
      const { external, ...who } = source.contents();
      manifest.contents.postgres = { ...who, databases, ...(globals ? { globals } : {}), ...(base ? { base_backup: base } : {}), ...(external ? { external } : {}) };
    }

    if (stack.redis) {
      const rs = stack.redis;
      const c = await serviceContainer(docker, stack, rs.service);
      const session = await openRedis(run.effects, c, rs.password, (note) => run.info('backup', { redis: note }));
      try {
        await run.step(`redis: BGSAVE and wait for it (${session.via})`, () => redisSave(session, (ms) => run.effects.sleep(ms)));
        await run.step('redis: copy the data files out', async () => {
          mkdirPrivate(path.join(tmp, 'redis'));
          const r = await copyRedisOut(run.effects, session, docker, c.id, { folder: tmp, ext, passphrase, appendonly: Boolean(rs.appendonly) });
          for (const [rel, w] of r.written) hashed.set(rel, w);
          manifest.contents.redis = { service: rs.service, dir: r.dir, files: r.files };
        });
      } finally {
        session.close();
      }
    }

    for (const vol of stack.backup.volumes) {
      await run.step(`volume ${vol}: tar with per-file sha256 list`, async () => {
        const image = await helperImage(stack, docker);
        const full = volumeName(stack, vol);
        mkdirPrivate(path.join(tmp, 'volumes'));
        const rel = `volumes/${vol}.tar${ext}`;
        const listRel = `volumes/${vol}.sha256${ext}`;
        const written = await archiveVolume(docker, run.effects, {
          full,
          configured: vol,
          image,
          folder: tmp,
          rel,
          listRel,
          passphrase,
          retrying: (attempt, tries) => run.say(`volume ${vol}: a file changed while it was read; archiving it again (try ${attempt} of ${tries})`),
        });
        for (const [r, w] of written) hashed.set(r, w);
        manifest.contents.volumes.push({ name: vol, volume: full, file: rel, list: listRel });
      });
    }

    await run.step('release in force: images and rendered files', async () => {
      const containers = await docker.projectContainers(stack.project);
      await Promise.all(
        Object.entries(stack.services).map(async ([name, svc]) => {
          const image = mapImage(svc.image, stack.images);
          const running = containers.find((c) => c.service === name);
          const imageId = running?.imageId ?? (await docker.imageId(image));
          manifest.release.images[name] = { image: running?.image ?? image, ...(imageId ? { id: imageId } : {}) };
        }),
      );
      manifest.release.images = Object.fromEntries(Object.keys(stack.services).map((n) => [n, manifest.release.images[n]]));
      const last = readReleases(opts.stateDir, stack.env).filter((r) => r.outcome === 'success').pop();
      if (last) Object.assign(manifest.release, { run_id: last.run_id, version: last.version, config_hash: last.config_hash });
      const renderDir = renderDirFor(opts.stateDir, stack.env);
      if (existsSync(renderDir)) {
        // secret files stay out: a rollback writes them from the environment it runs in
        const secrets = path.join(renderDir, SECRET_FILES_DIR);
        // maintenance mode is the moment's, not the release's: a restored release never turns it on
        const maintenance = path.join(renderDir, MAINTENANCE_SUBDIR);
        cpSync(renderDir, path.join(tmp, 'release'), { recursive: true, filter: (src) => src !== secrets && src !== maintenance });
        manifest.release.render_dir = 'release';
        manifest.release.compose_files = composeFiles(readRenderedDir(renderDir));
      }
    });

    // the ACME account and certificates hold private keys: through the backup's encryption (backup/certs.ts)
    if (existsSync(acmeDir(opts.stateDir, stack.env))) {
      await run.step('ACME account and certificates', async () => {
        for (const [rel, w] of await archiveCerts(acmeDir(opts.stateDir, stack.env), tmp, ext, passphrase)) hashed.set(rel, w);
      });
    }

    await run.step('checksums, manifest, rename into place', async () => {
      // the rendered files copied above keep the modes containers need in the render folder: not here
      tightenTree(tmp);
      for (const rel of walkFiles(tmp)) {
        const known = hashed.get(rel);
        const e = known ?? (await sha256File(path.join(tmp, rel)));
        if (!known) fsyncPath(path.join(tmp, rel));
        manifest.files.push({ path: rel, size: e.size, sha256: e.sha256 });
      }
      manifest.size = manifest.files.reduce((a, f) => a + f.size, 0);
      const mf = path.join(tmp, 'manifest.json');
      try {
        writeFileSynced(mf, JSON.stringify(manifest, null, 2) + '\n', 'w', 0o600);
      } catch (e) {
        throw writeError(e, mf);
      }
      for (const d of walkDirs(tmp)) fsyncPath(d);
      renameSync(tmp, path.join(dir, id));
      fsyncPath(dir);
    });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    // a full disk anywhere (rendered files, a helper's output) gets the same one-line error
    const code = (e as NodeJS.ErrnoException).code;
    throw code === 'ENOSPC' || code === 'EDQUOT' ? writeError(e, tmp) : e;
  }
  run.info('backup', { id, dir: path.join(dir, id), size: manifest.size });
  return manifest;
}

/**
 * `lifeops backup`: the lock (a dead run's taken over, a live one waited for
 * with --wait), the recovery of what a dead run left, the backup, then
 * the off-site copies (backup.offsite: this backup and any earlier one still
 * without a copy; a failure there is a warning, never the backup's), then
 * retention (only after it succeeded). Returns the manifest, what was copied
 * off-site and what retention deleted.
 */
export async function backupFlow(
  stack: Stack,
  run: Run,
  opts: { stateDir: string; tag?: string; commandLine: string; waitMs?: number },
): Promise<{ manifest: BackupManifest; deleted: string[]; offsite: CopyOutcome[]; wal?: WalPushOutcome[] }> {
  // SIGINT/SIGTERM: the next step throws, the incomplete folder is removed, the CLI exits 130/143
  let lock: Lock | undefined;
  const untrap = run.trapSignals(() => lock?.release());
  try {
    lock = await lockAndRecover(stack, run, { stateDir: opts.stateDir, commandLine: opts.commandLine, waitMs: opts.waitMs, handleSignals: false });
    const manifest = await takeBackup(stack, run, { stateDir: opts.stateDir, tag: opts.tag });
    const offsite = await copyPending(stack, run, opts.stateDir);
    const deleted = await applyRetention(run, stack, opts.stateDir);
    await pruneArchive(stack, run, opts.stateDir);
    // the archive after its cleanup, with this backup's base backup in the index: a new host can replay from it
    const wal = await pushWal(stack, run, opts.stateDir);
    return { manifest, deleted, offsite, ...(wal.length ? { wal } : {}) };
  } catch (e) {
    throw run.interruption(e);
  } finally {
    lock?.release();
    untrap();
  }
}
