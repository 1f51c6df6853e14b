// `restore --from-offsite --to TIME`, its point-in-time part: the newest WAL
// snapshot of each repository is found and its index read (restic dump, a few
// KB) before anything is fetched or created, so a TIME outside what the
// off-site copies reach exits 2 having changed nothing; then the WAL comes
// into the state dir (where it is the mirror the next push continues from),
// and after the base backup's copy is back, the database is stopped, its data
// folder replaced by the base backup with the recovery settings, the WAL
// copied into its archive volume, and the server replays to TIME and promotes.
import { renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { parseSnapshots, restic, resticChecked } from '../clients/restic.js';
import { composeEnv, composeStart, composeStop, type ComposeCli, type ComposeTarget } from '../commands/compose.js';
import { resticCatConfig, resticDump, resticRestore, resticTarget, resticWalSnapshots } from '../commands/restic.js';
import { copyWalInArgv, ownArchiveArgv, prepareRecoveryArgv } from '../commands/pitr-offsite.js';
import { WAL_ARCHIVE_DIR } from '../config/pitr-schema.js';
import { RESTORE_COMMAND } from '../render/pitr.js';
import { offsiteRecoverySettings, WAL_INDEX_FILE, type WalIndex } from '../plan/pitr-offsite.js';
import { plainInput, type BackupManifest } from '../backup/format.js';
import { serviceContainer } from '../backup/containers.js';
import { resticCacheDir, walMirrorDir } from '../state/paths.js';
import { tightenTree } from '../util/private-files.js';
import { dataVolume, readChecked, resetRecoverySettings, waitPromoted } from './pitr.js';
import type { Effects } from './effects.js';
import { resticSecret } from './offsite.js';
import type { Run } from './context.js';

export interface OffsiteWal {
  repo: string;
  snapshot: string;
  index: WalIndex;
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

/** The newest WAL snapshot of each repository (`only`: one repository), its index read; the one reaching furthest. */
export async function findOffsiteWal(stack: Stack, run: Run, stateDir: string, only?: string): Promise<OffsiteWal> {
  const cache = resticCacheDir(stateDir);
  const found: OffsiteWal[] = [];
  const failed: string[] = [];
  for (const repo of stack.backup.offsite.filter((r) => !only || r.name === only)) {
    const t = resticTarget(repo, stack.baseDir);
    const secret = resticSecret(stack, repo, run.io.env);
    try {
      await run.step(`off-site ${repo.name}: the newest WAL archive snapshot and its index`, async () => {
        const open = await restic(resticCatConfig(t, secret, cache), { timeoutMs: 120_000, port: run.effects });
        if (open.exitCode !== 0) throw new OperationError(`off-site repository ${repo.name} cannot be opened (restic exit ${open.exitCode}): ${(open.stderr || open.stdout).trim().split('\n').slice(-2).join('; ')}`);
        const snaps = parseSnapshots((await resticChecked(resticWalSnapshots(t, secret, cache, { project: stack.project, env: stack.env }), `restic snapshots in ${repo.name}`, { timeoutMs: 300_000, port: run.effects })).stdout);
        const newest = snaps.filter((s) => s.tags?.includes('wal')).sort((a, b) => a.time.localeCompare(b.time)).at(-1);
        if (!newest) return;
        const dump = await resticChecked(resticDump(t, secret, cache, newest.short_id, `wal/${WAL_INDEX_FILE}`), `restic dump of the WAL index in ${repo.name}`, { timeoutMs: 300_000, port: run.effects });
        const index = JSON.parse(dump.stdout) as WalIndex;
        if (index.project !== stack.project || index.env !== stack.env) throw new OperationError(`the WAL snapshot ${newest.short_id} in ${repo.name} is of ${index.project} ${index.env}`);
        found.push({ repo: repo.name, snapshot: newest.short_id, index });
        run.info('disaster', { repo: repo.name, wal_snapshot: newest.short_id, reachable_until: index.reachable_until, newest_segment: index.newest_segment?.name });
      });
    } catch (e) {
      const msg = run.redactor.text(firstLine(e));
      failed.push(`${repo.name}: ${msg}`);
      run.say(`WARNING: off-site ${repo.name}: its WAL archive cannot be read: ${msg}`);
    }
  }
  const best = found.sort((a, b) => (a.index.reachable_until ?? '').localeCompare(b.index.reachable_until ?? '')).at(-1);
  if (!best) {
    throw new OperationError(
      failed.length ? `no off-site WAL archive could be read: ${failed.join('; ')}` : `no off-site repository holds a WAL archive of ${stack.project} ${stack.env}`,
      'restore --from-offsite latest without --to restores the newest backup as it was taken; WAL goes off-site with backup.pitr and `lifeops offsite push`',
    );
  }
  return best;
}

/** The WAL snapshot restored into the state dir (a .tmp folder renamed into place): the mirror the next push of this host continues from. */
export async function fetchOffsiteWal(stack: Stack, run: Run, stateDir: string, w: { repo: string; snapshot: string }): Promise<string> {
  const root = walMirrorDir(stateDir, stack.env);
  const repo = stack.backup.offsite.find((r) => r.name === w.repo)!;
  const tmp = `${root}.tmp-restore`;
  await run.step(`off-site ${w.repo}: restic restore of the WAL archive (snapshot ${w.snapshot}) into the state dir`, async () => {
    rmSync(tmp, { recursive: true, force: true });
    await resticChecked(resticRestore(resticTarget(repo, stack.baseDir), resticSecret(stack, repo, run.io.env), resticCacheDir(stateDir), w.snapshot, tmp), `restic restore of the WAL archive from ${w.repo}`, { timeoutMs: 6 * 60 * 60_000, port: run.effects, changes: true });
    tightenTree(tmp);
    rmSync(root, { recursive: true, force: true });
    renameSync(tmp, root);
  });
  return path.join(root, 'wal');
}

/** The named volume mounted at the archive folder of the database container. */
async function archiveVolume(effects: Effects, containerId: string): Promise<string> {
  const r = await readChecked(effects, ['docker', 'inspect', '-f', '{{json .Mounts}}', containerId]);
  const m = (JSON.parse(r.stdout) as { Type: string; Name?: string; Destination: string }[]).find((x) => x.Destination.replace(/\/+$/, '') === WAL_ARCHIVE_DIR);
  if (!m?.Name) throw new OperationError(`the database container has no volume at ${WAL_ARCHIVE_DIR} (backup.pitr renders one): is backup.pitr on in this stack file?`);
  return m.Name;
}

/**
 * The database (running, fresh or as an interrupted run left it) replaced by
 * the base backup replayed to `target` with the off-site WAL: stopped, data
 * and archive volumes emptied, the base backup unpacked with the recovery
 * settings, the WAL copied in, started, waited for until it has promoted, the
 * recovery settings reset. Running it again redoes it from the start.
 */
export async function replayOffsite(stack: Stack, run: Run, o: { compose: ComposeCli; target: ComposeTarget; manifest: BackupManifest; backupFolder: string; walDir: string; to: Date; rangeEnd: string; timeline?: number }): Promise<void> {
  const pg = stack.postgres!;
  const env = composeEnv(stack);
  const base = o.manifest.contents.postgres?.base_backup;
  if (!base) throw new OperationError(`backup ${o.manifest.id} holds no base backup (taken with backup.pitr on): it cannot be replayed to a time`);
  const db = await serviceContainer(run.docker, stack, pg.service, false);
  const [data, archive] = await run.step(`postgres: find the data and archive volumes of ${pg.service}`, async () => [await dataVolume(run.effects, db.id), await archiveVolume(run.effects, db.id)]);
  await run.step(`stop ${pg.service}`, () => run.effects.change(composeStop(o.compose, o.target, [pg.service]), { env, timeoutMs: 5 * 60_000 }));
  await run.step(`unpack base backup ${o.manifest.id} into ${data}, with recovery to ${o.to.toISOString()}; empty ${archive}`, () =>
    run.effects.changeFrom(prepareRecoveryArgv(db.imageId, stack.project, data, archive), plainInput(stack, run.io.env, o.manifest, path.join(o.backupFolder, base.file)), `restore of base backup ${o.manifest.id}`, {
      env: { LIFEOPS_RECOVERY: offsiteRecoverySettings(o.to, o.rangeEnd, RESTORE_COMMAND, o.timeline) },
    }),
  );
  await run.step(`copy the off-site WAL into ${archive}`, async () => {
    await run.effects.change(copyWalInArgv(o.walDir, db.id), { timeoutMs: 6 * 60 * 60_000 });
    await run.effects.change(ownArchiveArgv(db.imageId, stack.project, archive, WAL_INDEX_FILE), { timeoutMs: 60 * 60_000 });
  });
  await run.step(`start ${pg.service}: it replays the off-site WAL ${o.to.toISOString() < o.rangeEnd ? `to ${o.to.toISOString()}` : 'to its end (its last commit)'} and promotes`, () => run.effects.change(composeStart(o.compose, o.target, [pg.service]), { env, timeoutMs: 5 * 60_000 }));
  await run.step(`wait for ${pg.service} to finish the recovery and promote`, () => waitPromoted(run, stack));
  await run.step('postgres: remove the recovery settings (ALTER SYSTEM RESET), reload', async () => {
    const c = await serviceContainer(run.docker, stack, pg.service);
    await resetRecoverySettings(run.effects, c.id, pg.user, pg.database);
  });
}
