// Off-site copies (backup.offsite): each complete backup whose checksums re-read
// clean is copied with restic into every configured repository (encrypted,
// deduplicated), tagged with its project, environment and backup id. A
// repository that cannot be reached, refuses the key or the password, or is
// full never fails the local backup: the failure is a warning, recorded in
// offsite/<env>.json, and the next backup run copies whatever has no copy yet.
// `backups verify --offsite` reads a different part of each repository's data
// back on every run (restic check --read-data-subset=N/M).
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import type { OffsiteRepo } from '../config/offsite-schema.js';
import { InterruptedError, OperationError, UsageError } from '../errors.js';
import { copyTags, resticBackup, resticForget, resticCatConfig, resticCheck, resticInit, resticSnapshots, resticTarget, type ResticSecret, type ResticTarget } from '../commands/restic.js';
import { ensureRepository, parseSnapshots, resticChecked, snapshotIdOf } from '../clients/restic.js';
import { backupDir, listBackups, readPinned, readVerified } from '../backup/catalog.js';
import { offsiteDeletions } from '../plan/offsite-retention.js';
import { retentionPolicy } from './retention.js';
import { verifyChecksums } from '../backup/integrity.js';
import { readOffsite, updateOffsite, type OffsiteCheck } from '../state/offsite.js';
import { resticCacheDir } from '../state/paths.js';
import type { Run } from './context.js';

/** Where the repository password comes from: a secret file, or a variable of the env file / environment. Never its value in a message. */
export function resticSecret(stack: Stack, repo: OffsiteRepo, env: Record<string, string | undefined>): ResticSecret {
  if (repo.password_file) {
    const file = path.resolve(stack.baseDir, repo.password_file);
    if (!existsSync(file)) throw new UsageError(`backup.offsite ${repo.name}: password_file ${file} does not exist`, 'create it (mode 0600) holding the repository password');
    return { file };
  }
  const name = repo.password_env!;
  const value = env[name] ?? stack.vars[name];
  if (!value) throw new UsageError(`backup.offsite ${repo.name}: password_env names ${name}, which is not set`, `set ${name} in the environment's env file`);
  return { value };
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

export interface CopyOutcome {
  repo: string;
  /** backups copied by this run */
  copied: string[];
  /** copies found already in the repository (a run killed after restic finished) and recorded now */
  adopted: string[];
  /** copies retention removed from the repository (backup ids) */
  forgotten: string[];
  /** the warning when the repository could not be used (the copies wait for the next run) */
  failed?: string;
}

/**
 * Copy every complete local backup that has no copy yet into each off-site
 * repository, oldest first. Never throws for an off-site failure (only for an
 * interruption): the outcome says what happened per repository.
 */
export async function copyPending(stack: Stack, run: Run, stateDir: string): Promise<CopyOutcome[]> {
  const out: CopyOutcome[] = [];
  const dir = backupDir(stack, stateDir);
  const cache = resticCacheDir(stateDir);
  for (const repo of stack.backup.offsite) {
    const o: CopyOutcome = { repo: repo.name, copied: [], adopted: [], forgotten: [] };
    out.push(o);
    const known = readOffsite(stateDir, stack.env)[repo.name]?.copies ?? {};
    let pending = listBackups(dir, stack.project, stack.env).filter((b) => !known[b.id]);
    if (!pending.length) continue;
    try {
      const t = resticTarget(repo, stack.baseDir);
      const secret = resticSecret(stack, repo, run.io.env);
      await run.step(`off-site ${repo.name}: open ${t.url} (restic init on first use)`, async () => {
        const how = await ensureRepository(resticCatConfig(t, secret, cache), resticInit(t, secret, cache), repo.name, run.effects);
        run.info('offsite', { repo: repo.name, repository: how });
      });
      // copies a killed run made but did not record
      await run.step(`off-site ${repo.name}: list the copies already there`, async () => {
        const snaps = parseSnapshots((await resticChecked(resticSnapshots(t, secret, cache, { project: stack.project, env: stack.env }), `restic snapshots in ${repo.name}`, { timeoutMs: 300_000, port: run.effects })).stdout);
        for (const b of pending) {
          const tags = copyTags(stack.project, stack.env, b.id);
          const s = snaps.filter((x) => tags.every((tag) => x.tags?.includes(tag))).pop();
          if (!s) continue;
          updateOffsite(stateDir, stack.env, repo.name, (r) => (r.copies[b.id] = { snapshot: s.short_id, time: s.time }));
          o.adopted.push(b.id);
        }
      });
      pending = pending.filter((b) => !o.adopted.includes(b.id));
      for (const b of pending) {
        // a backup whose files no longer match its manifest is not copied (and says so); the others still are
        const clean = await run
          .step(`off-site ${repo.name}: re-read the checksums of backup ${b.id}`, () => verifyChecksums(stack, stateDir, b.id))
          .then(() => true, (e: unknown) => {
            if (e instanceof InterruptedError) throw e;
            run.say(`WARNING: backup ${b.id} is not copied off-site: ${firstLine(e)}`);
            return false;
          });
        if (!clean) continue;
        await run.step(`off-site ${repo.name}: restic backup of ${b.id}`, async () => {
          const r = await resticChecked(resticBackup(t, secret, cache, { project: stack.project, env: stack.env, backupId: b.id }), `restic backup of ${b.id} to ${repo.name}`, { cwd: dir, port: run.effects, changes: true });
          const snapshot = snapshotIdOf(r.stdout);
          updateOffsite(stateDir, stack.env, repo.name, (rec) => (rec.copies[b.id] = { snapshot, time: run.io.now().toISOString() }));
          run.info('offsite', { repo: repo.name, backup: b.id, snapshot });
          o.copied.push(b.id);
        });
      }
      updateOffsite(stateDir, stack.env, repo.name, (r) => (r.last_attempt = { time: run.io.now().toISOString(), ok: true }));
      // a retention that fails is its own warning: the copies themselves are made and recorded
      o.forgotten = await offsiteRetention(stack, run, stateDir, t, secret).catch((e: unknown) => {
        if (e instanceof InterruptedError) throw e;
        run.say(`WARNING: off-site ${repo.name}: retention did not run: ${run.redactor.text(firstLine(e))}; tried again after the next copy`);
        return [];
      });
    } catch (e) {
      if (e instanceof InterruptedError) throw e;
      const msg = run.redactor.text(firstLine(e));
      o.failed = msg;
      run.say(`WARNING: off-site copy to ${repo.name} failed: ${msg}. The backup is kept locally; the copy is retried on the next backup run`);
      run.info('offsite', { repo: repo.name, warning: msg });
      updateOffsite(stateDir, stack.env, repo.name, (r) => (r.last_attempt = { time: run.io.now().toISOString(), ok: false, error: msg }));
    }
  }
  return out;
}

/**
 * The stack's retention applied to one repository's copies of this project
 * and environment: the same decision as for the local folder (keep_last,
 * max_age_days, daily/weekly/monthly generations), with the local verified
 * marks and pins, so the newest copy and the newest verified one are never
 * removed. Only after this run's copies succeeded (the caller's order).
 */
async function offsiteRetention(stack: Stack, run: Run, stateDir: string, t: ResticTarget, secret: ResticSecret): Promise<string[]> {
  const cache = resticCacheDir(stateDir);
  const snaps = parseSnapshots((await resticChecked(resticSnapshots(t, secret, cache, { project: stack.project, env: stack.env }), `restic snapshots in ${t.name}`, { timeoutMs: 300_000, port: run.effects })).stdout);
  const dir = backupDir(stack, stateDir);
  const doomed = offsiteDeletions(snaps, { project: stack.project, env: stack.env, policy: retentionPolicy(stack), verified: readVerified(dir), pinned: readPinned(dir), now: run.io.now() });
  if (!doomed.length) return [];
  await run.step(`off-site ${t.name}: retention: restic forget --prune ${doomed.length} old cop${doomed.length > 1 ? 'ies' : 'y'} (${doomed.map((d) => d.backup).join(', ')})`, async () => {
    await resticChecked(resticForget(t, secret, cache, doomed.map((d) => d.snapshot)), `restic forget in ${t.name}`, { timeoutMs: 60 * 60_000, port: run.effects, changes: true });
    updateOffsite(stateDir, stack.env, t.name, (r) => {
      for (const d of doomed) if (r.copies[d.backup]?.snapshot === d.snapshot) delete r.copies[d.backup];
    });
    run.info('offsite', { repo: t.name, forgotten: doomed.map((d) => d.backup) });
  });
  return [...new Set(doomed.map((d) => d.backup))];
}

/** Where each backup's copies live: local (a complete folder here) and the off-site repositories holding it. */
export interface BackupPlaces {
  id: string;
  local: boolean;
  offsite: { repo: string; snapshot: string; time: string }[];
}

export function backupPlaces(stack: Stack, stateDir: string, localIds: string[]): BackupPlaces[] {
  const rec = readOffsite(stateDir, stack.env);
  const ids = new Set(localIds);
  for (const repo of stack.backup.offsite) for (const id of Object.keys(rec[repo.name]?.copies ?? {})) ids.add(id);
  return [...ids].sort().map((id) => ({
    id,
    local: localIds.includes(id),
    offsite: stack.backup.offsite.flatMap((repo) => {
      const c = rec[repo.name]?.copies?.[id];
      return c ? [{ repo: repo.name, snapshot: c.snapshot, time: c.time }] : [];
    }),
  }));
}

/**
 * `backups verify --offsite`: restic check of each repository, reading back
 * subset N of its check_subsets (N moves on by one per run, so M runs read
 * everything). Throws (exit 1) when any repository failed, after all ran.
 */
export async function verifyOffsite(stack: Stack, run: Run, stateDir: string): Promise<(OffsiteCheck & { repo: string })[]> {
  if (!stack.backup.offsite.length) throw new UsageError(`environment ${stack.env} has no backup.offsite repositories to verify`, 'add backup.offsite to the stack file');
  const cache = resticCacheDir(stateDir);
  const out: (OffsiteCheck & { repo: string })[] = [];
  for (const repo of stack.backup.offsite) {
    const m = repo.check_subsets;
    const prev = readOffsite(stateDir, stack.env)[repo.name]?.next_subset ?? 1;
    const n = prev >= 1 && prev <= m ? prev : 1;
    const subset = `${n}/${m}`;
    let rec: OffsiteCheck;
    try {
      const t = resticTarget(repo, stack.baseDir);
      const secret = resticSecret(stack, repo, run.io.env);
      await run.step(`off-site ${repo.name}: restic check --read-data-subset=${subset}`, () => resticChecked(resticCheck(t, secret, cache, n, m), `restic check of ${repo.name}`, { port: run.effects }));
      rec = { time: run.io.now().toISOString(), ok: true, subset };
    } catch (e) {
      if (e instanceof InterruptedError) throw e;
      rec = { time: run.io.now().toISOString(), ok: false, subset, error: run.redactor.text(firstLine(e)) };
    }
    updateOffsite(stateDir, stack.env, repo.name, (r) => {
      r.last_check = rec;
      r.next_subset = (n % m) + 1;
    });
    out.push({ repo: repo.name, ...rec });
  }
  const bad = out.filter((c) => !c.ok);
  if (bad.length) throw new OperationError(`off-site check failed: ${bad.map((c) => `${c.repo} (subset ${c.subset}): ${c.error}`).join('; ')}`, 'see the run log; a repository that cannot be reached is checked again on the next run');
  return out;
}
