// The WAL archive off-site (backup.pitr with backup.offsite): the archived
// segments are mirrored into the state dir (only the new ones are read out of
// the database container; the ones pg_archivecleanup removed go there too),
// an index names the base backups and the last commit the WAL holds, and the
// mirror goes to every repository as one restic snapshot (tags lifeops,
// project, env, wal). restic stores only chunks it has not seen, so each push
// costs the new segments. Run after every backup and by `lifeops offsite
// push` (its own cron line, backup.pitr.offsite.schedule). Like the backup
// copies, a repository that fails is a warning, recorded for `status`, and
// the next push sends what is missing.
import { closeSync, createWriteStream, fsyncSync, openSync, readdirSync, renameSync, rmSync, utimesSync } from 'node:fs';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { InterruptedError, OperationError } from '../errors.js';
import { pitrOn } from '../config/pitr-schema.js';
import { resticBackupWal, resticCatConfig, resticForgetOnly, resticInit, resticTarget, resticWalSnapshots } from '../commands/restic.js';
import { archiveFileArgv, walDumpArgv } from '../commands/pitr-offsite.js';
import type { ArchivedFile } from '../commands/pitr.js';
import { ensureRepository, parseSnapshots, resticChecked, snapshotIdOf, type Snapshot } from '../clients/restic.js';
import { indexKey, lastCommitTime, mirrorPlan, segmentsNewestFirst, walIndex, WAL_INDEX_FILE, type WalIndex } from '../plan/pitr-offsite.js';
import { isSegmentName } from '../plan/pitr.js';
import type { WalOffsiteFact } from '../plan/pitr-offsite-status.js';
import { serviceContainer } from '../backup/containers.js';
import { baseBackups, readArchive } from '../backup/pitr.js';
import { readOffsite, updateOffsite } from '../state/offsite.js';
import { resticCacheDir, walMirrorDir } from '../state/paths.js';
import { mkdirPrivate, replacePrivate } from '../util/private-files.js';
import { parseDuration } from '../util/units.js';
import { resticSecret } from './offsite.js';
import type { Run } from './context.js';
import type { Effects } from './effects.js';

export interface WalPushOutcome {
  repo: string;
  /** the snapshot made, or 'unchanged' when the repository already had this archive */
  snapshot?: string;
  newest_segment?: string;
  reachable_until?: string;
  failed?: string;
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];
/** segments searched back from the newest for a commit (an idle server's newest segments may hold none) */
const COMMIT_SEARCH = 8;
/** WAL snapshots kept per repository: each holds the whole archive, so the newest is enough; two more in case one is damaged */
const KEEP_WAL_SNAPSHOTS = 3;

/** Is there anything to push: pitr on, a database in the stack, off-site repositories. */
export const walPushApplies = (stack: Stack): boolean => Boolean(pitrOn(stack) && stack.postgres && !stack.postgres.external_url && stack.backup.offsite.length);

/** The mirror made equal to the archive: new files read out of the container (fsynced, renamed, their archive time kept), pruned ones dropped. */
async function syncMirror(effects: Effects, containerId: string, files: ArchivedFile[], dir: string): Promise<{ fetched: number; dropped: number }> {
  mkdirPrivate(dir);
  // a copy a killed push left half-written
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.tmp'))) rmSync(path.join(dir, name), { force: true });
  const { fetch, drop } = mirrorPlan(files, readdirSync(dir));
  for (const f of fetch) {
    const dest = path.join(dir, f.name);
    const tmp = `${dest}.tmp`;
    const out = await effects.readStream(archiveFileArgv(containerId, f.name), [createWriteStream(tmp, { mode: 0o600 })]);
    if (out.exitCode !== 0 || out.pipeErr) throw new OperationError(`reading archived ${f.name} from the database container failed (exit ${out.exitCode}): ${out.stderrTail || (out.pipeErr as Error)?.message}`);
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    utimesSync(tmp, f.mtime, f.mtime);
    renameSync(tmp, dest);
  }
  for (const name of drop) rmSync(path.join(dir, name), { force: true });
  return { fetched: fetch.length, dropped: drop.length };
}

/** The last commit in the newest segments (pg_waldump in the database container). */
async function reachableUntil(effects: Effects, containerId: string, names: string[]): Promise<string | undefined> {
  for (const seg of segmentsNewestFirst(names).slice(0, COMMIT_SEARCH)) {
    const r = await effects.read(walDumpArgv(containerId, seg), { timeoutMs: 120_000 });
    const t = lastCommitTime(r.stdout);
    if (t) return t;
  }
  return undefined;
}

/**
 * Push the environment's WAL archive to every off-site repository. Never
 * throws for an off-site failure (only for an interruption): the outcome says
 * what happened per repository.
 */
export async function pushWal(stack: Stack, run: Run, stateDir: string): Promise<WalPushOutcome[]> {
  if (!walPushApplies(stack)) return [];
  const pg = stack.postgres!;
  const root = walMirrorDir(stateDir, stack.env);
  const dir = path.join(root, 'wal');
  let index: WalIndex;
  try {
    index = await run.step('WAL archive: mirror the new segments into the state dir for the off-site copy', async () => {
      const c = await serviceContainer(run.docker, stack, pg.service);
      const files = await readArchive(run.effects, c.id);
      const moved = await syncMirror(run.effects, c.id, files, dir);
      const previous = Object.values(readOffsite(stateDir, stack.env)).map((r) => r.wal).find((w) => w?.newest_segment && w.newest_segment.name === segmentsNewestFirst(files.map((f) => f.name))[0]);
      const reachable = previous?.reachable_until ?? (await reachableUntil(run.effects, c.id, files.map((f) => f.name)));
      const i = walIndex({ project: stack.project, env: stack.env, now: run.io.now(), files, reachable, bases: baseBackups(stack, stateDir) });
      replacePrivate(path.join(dir, WAL_INDEX_FILE), JSON.stringify(i, null, 2) + '\n');
      run.info('wal-offsite', { ...moved, segments: i.segments, newest: i.newest_segment?.name, reachable_until: i.reachable_until });
      return i;
    });
  } catch (e) {
    if (e instanceof InterruptedError) throw e;
    const msg = run.redactor.text(firstLine(e));
    run.say(`WARNING: the WAL archive was not pushed off-site: ${msg}. Retried on the next push`);
    for (const repo of stack.backup.offsite) updateOffsite(stateDir, stack.env, repo.name, (r) => (r.wal_attempt = { time: run.io.now().toISOString(), ok: false, error: msg }));
    return stack.backup.offsite.map((r) => ({ repo: r.name, failed: msg }));
  }
  const key = indexKey(index);
  const cache = resticCacheDir(stateDir);
  const out: WalPushOutcome[] = [];
  for (const repo of stack.backup.offsite) {
    const o: WalPushOutcome = { repo: repo.name, ...(index.newest_segment ? { newest_segment: index.newest_segment.name } : {}), ...(index.reachable_until ? { reachable_until: index.reachable_until } : {}) };
    out.push(o);
    const known = readOffsite(stateDir, stack.env)[repo.name];
    if (known?.wal?.key === key && known.wal_attempt?.ok) {
      o.snapshot = 'unchanged';
      continue;
    }
    try {
      const t = resticTarget(repo, stack.baseDir);
      const secret = resticSecret(stack, repo, run.io.env);
      await run.step(`off-site ${repo.name}: restic backup of the WAL archive (${index.segments} segments, newest ${index.newest_segment?.name ?? 'none'})`, async () => {
        await ensureRepository(resticCatConfig(t, secret, cache), resticInit(t, secret, cache), repo.name, run.effects);
        const r = await resticChecked(resticBackupWal(t, secret, cache, { project: stack.project, env: stack.env }), `restic backup of the WAL archive to ${repo.name}`, { cwd: root, timeoutMs: 60 * 60_000, port: run.effects, changes: true });
        o.snapshot = snapshotIdOf(r.stdout);
      });
      const now = run.io.now().toISOString();
      updateOffsite(stateDir, stack.env, repo.name, (r) => {
        r.wal = { snapshot: o.snapshot!, time: now, ...(index.newest_segment ? { newest_segment: index.newest_segment } : {}), ...(index.reachable_until ? { reachable_until: index.reachable_until } : {}), key };
        r.wal_attempt = { time: now, ok: true };
      });
      run.info('wal-offsite', { repo: repo.name, snapshot: o.snapshot });
      // superseded WAL snapshots: a failure here is its own warning, the push is made
      await run
        .step(`off-site ${repo.name}: forget WAL snapshots older than the newest ${KEEP_WAL_SNAPSHOTS}`, async () => {
          const snaps = parseSnapshots((await resticChecked(resticWalSnapshots(t, secret, cache, { project: stack.project, env: stack.env }), `restic snapshots in ${repo.name}`, { timeoutMs: 300_000, port: run.effects })).stdout);
          const old = supersededWal(snaps);
          if (old.length) await resticChecked(resticForgetOnly(t, secret, cache, old), `restic forget in ${repo.name}`, { timeoutMs: 300_000, port: run.effects, changes: true });
        })
        .catch((e: unknown) => {
          if (e instanceof InterruptedError) throw e;
          run.say(`WARNING: off-site ${repo.name}: older WAL snapshots not forgotten: ${run.redactor.text(firstLine(e))}`);
        });
    } catch (e) {
      if (e instanceof InterruptedError) throw e;
      const msg = run.redactor.text(firstLine(e));
      o.failed = msg;
      run.say(`WARNING: the WAL archive push to ${repo.name} failed: ${msg}. The archive stays on this host; the next push sends it`);
      updateOffsite(stateDir, stack.env, repo.name, (r) => (r.wal_attempt = { time: run.io.now().toISOString(), ok: false, error: msg }));
    }
  }
  return out;
}

/** WAL snapshots beyond the newest few (by time). */
export function supersededWal(snaps: Snapshot[]): string[] {
  return snaps
    .filter((s) => s.tags?.includes('wal'))
    .sort((a, b) => b.time.localeCompare(a.time))
    .slice(KEEP_WAL_SNAPSHOTS)
    .map((s) => s.short_id);
}

/**
 * `status`: per repository, what the last push recorded (files only: status
 * never calls restic), against the archive as the database container lists it
 * (`files`, when it could be read): the segments archived here but not yet off-site.
 */
export function walOffsiteFacts(stack: Stack, stateDir: string, files: ArchivedFile[] | undefined): WalOffsiteFact[] {
  const p = pitrOn(stack);
  if (!p || !walPushApplies(stack)) return [];
  const rec = readOffsite(stateDir, stack.env);
  const limits = { warn_s: parseDuration(p.offsite.lag.warn) / 1000, crit_s: parseDuration(p.offsite.lag.crit) / 1000 };
  return stack.backup.offsite.map((repo) => {
    const r = rec[repo.name];
    const pushed = r?.wal?.newest_segment?.name;
    const local = files?.filter((f) => isSegmentName(f.name) && (!pushed || f.name.slice(8) > pushed.slice(8)));
    const oldestWaiting = local?.sort((a, b) => a.mtime - b.mtime)[0];
    return {
      repo: repo.name,
      ...(r?.wal ? { pushed_at: r.wal.time, ...(r.wal.newest_segment ? { newest: r.wal.newest_segment } : {}), ...(r.wal.reachable_until ? { reachable_until: r.wal.reachable_until } : {}) } : {}),
      ...(r?.wal_attempt ? { last_attempt: r.wal_attempt } : {}),
      ...(local ? { waiting: local.length } : {}),
      ...(oldestWaiting ? { oldest_waiting_since: new Date(oldestWaiting.mtime * 1000).toISOString() } : {}),
      ...limits,
    };
  });
}

