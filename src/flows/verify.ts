// `lifeops backups verify`: every checksum re-read, then each database dump
// restored where it cannot hurt (a scratch database on the stack's server, or
// a throwaway container for an external database) and its row counts
// compared with the manifest's. A backup that passes is marked verified.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { portExec } from '../clients/port-exec.js';
import { psqlQueryCmd, scratchRestoreArgv, throwawayRestoreArgv, throwawayServerArgv } from '../commands/postgres.js';
import { mapImage } from '../config/images.js';
import { plainStream, type BackupManifest } from '../backup/format.js';
import { backupDir, markVerified } from '../backup/catalog.js';
import { rowDiffs, verifyChecksums } from '../backup/integrity.js';
import { serviceContainer } from '../backup/containers.js';
import { parseRowCounts, ROW_COUNT_SQL } from '../backup/postgres.js';
import type { Run } from './context.js';
import { archiveFromBase } from './pitr.js';

type RestoredDatabase = { name: string; tables: number; rows: number };

const summary = (name: string, got: Record<string, number>): RestoredDatabase => ({ name, tables: Object.keys(got).length, rows: Object.values(got).reduce((a, b) => a + b, 0) });

/**
 * Verify dumps of an external database in a throwaway Postgres container
 * (no network, removed afterwards): the real server is never written to.
 */
async function verifyExternal(stack: Stack, run: Run, dir: string, manifest: BackupManifest): Promise<RestoredDatabase[]> {
  const pg = manifest.contents.postgres!;
  const ext = pg.external!;
  // the archive needs a pg_restore at least as new as the pg_dump that wrote it
  const image = mapImage(`postgres:${Math.max(ext.server_version, ext.pg_dump_version)}`, stack.images);
  const docker = run.docker;
  if (!(await docker.imageExists(image))) {
    throw new OperationError(`image ${image} is not on this machine: a backup of an external database is verified by restoring it into a throwaway ${image} container`, `docker pull ${image}, or map postgres to a local image under images:`);
  }
  const name = `lifeops-verify-${randomBytes(4).toString('hex')}`;
  const out: RestoredDatabase[] = [];
  try {
    await run.step(`start a throwaway ${image} container`, async () => {
      await run.effects.change(throwawayServerArgv(name, image));
      // TCP answers only once the entrypoint's socket-only init server is gone
      for (let i = 0; ; i++) {
        const r = await run.effects.read(['docker', 'exec', name, 'pg_isready', '-q', '-h', '127.0.0.1', '-U', 'postgres']).catch(() => undefined);
        if (r?.exitCode === 0) break;
        if (i >= 300) throw new OperationError(`the throwaway ${image} container did not become ready`);
        await run.effects.sleep(200);
      }
    });
    for (const db of pg.databases) {
      await run.step(`restore ${db.file} into the throwaway container and compare row counts`, async () => {
        await portExec(run.effects, 'change', name, ['createdb', '-U', 'postgres', db.name]);
        await run.effects.changeFrom(throwawayRestoreArgv(name, db.name), plainStream(stack, run.io.env, manifest, path.join(dir, db.file)), `pg_restore of ${db.file} into a throwaway database`);
        const got = parseRowCounts(await portExec(run.effects, 'read', name, psqlQueryCmd('postgres', db.name, ROW_COUNT_SQL)));
        const diffs = rowDiffs(db.rows, got);
        if (diffs.length) throw new OperationError(`backup ${manifest.id}: ${db.file} restores with different row counts:\n  ${diffs.join('\n  ')}`);
        out.push(summary(db.name, got));
      });
    }
  } finally {
    await run.effects.change(['docker', 'rm', '-f', name], { allowFailure: true }).catch(() => undefined);
  }
  return out;
}

/** Full verification: checksums, then each dump restored into a scratch database and its row counts compared. */
export async function verifyBackup(stack: Stack, run: Run, opts: { stateDir: string; id: string }): Promise<{ id: string; files: number; databases: RestoredDatabase[]; wal?: Awaited<ReturnType<typeof archiveFromBase>> }> {
  const { dir, manifest } = await run.step(`verify checksums of backup ${opts.id}`, () => verifyChecksums(stack, opts.stateDir, opts.id));
  const out: RestoredDatabase[] = [];
  const pg = manifest.contents.postgres;
  if (pg?.external) out.push(...(await verifyExternal(stack, run, dir, manifest)));
  else if (pg && stack.postgres) {
    const docker = run.docker;
    const c = await serviceContainer(docker, stack, pg.service);
    for (const db of pg.databases) {
      await run.step(`restore ${db.file} into a scratch database and compare row counts`, async () => {
        const scratch = `lifeops_verify_${randomBytes(4).toString('hex')}`;
        await portExec(run.effects, 'change', c.id, ['createdb', '-U', pg.user, scratch]);
        try {
          await run.effects.changeFrom(scratchRestoreArgv(c.id, pg.user, scratch), plainStream(stack, run.io.env, manifest, path.join(dir, db.file)), `pg_restore of ${db.file} into a scratch database`);
          const got = parseRowCounts(await portExec(run.effects, 'read', c.id, psqlQueryCmd(pg.user, scratch, ROW_COUNT_SQL)));
          const diffs = rowDiffs(db.rows, got);
          if (diffs.length) throw new OperationError(`backup ${opts.id}: ${db.file} restores with different row counts:\n  ${diffs.join('\n  ')}`);
          out.push(summary(db.name, got));
        } finally {
          await portExec(run.effects, 'change', c.id, ['dropdb', '-U', pg.user, '--if-exists', scratch]).catch(() => undefined);
        }
      });
    }
  }
  markVerified(backupDir(stack, opts.stateDir), opts.id, run.io.now());
  // backup.pitr: the WAL archive must run unbroken from this backup's base backup to its newest segment
  const wal = manifest.contents.postgres?.base_backup ? await run.step('WAL archive: every segment from the base backup on is there', () => archiveFromBase(stack, run, manifest)) : undefined;
  if (wal?.gap) {
    const g = wal.gap;
    throw new OperationError(
      `backup ${opts.id} restores, but the WAL archive has a gap: ${g.missing} segment${g.missing > 1 ? 's' : ''} missing from ${g.first_missing}${g.recoverable_until ? `; rollback --to reaches ${g.recoverable_until} at most from this base backup` : ''}`,
      'a new base backup (lifeops backup) starts an unbroken stretch again',
    );
  }
  return { id: opts.id, files: manifest.files.length, databases: out, ...(wal ? { wal } : {}) };
}
