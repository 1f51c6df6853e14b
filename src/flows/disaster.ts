// `lifeops restore --from-offsite latest|<id>`: disaster recovery onto a host
// that has only the stack file, its env file and the off-site credentials.
// The copy comes back from restic into the local backup folder, its
// checksums are re-read, the stack's data services start (new and empty on
// a new host), Postgres, Redis and the marked volumes are restored, the
// restored databases' row counts are compared with the manifest's (the check
// `backups verify` makes in a scratch database), then the app is deployed at
// the backup's version and checked. A marker in the state dir
// (state/disaster.ts) says how far it got: a run killed half-way is finished
// by the next one, after the usual recovery of what a dead run left.
import { existsSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { OperationError, UsageError } from '../errors.js';
import { portExec } from '../clients/port-exec.js';
import { composeEnv, composeStartAsIs, type ComposeCli } from '../commands/compose.js';
import { resticCatConfig, resticRestore, resticSnapshots, resticTarget } from '../commands/restic.js';
import { parseSnapshots, restic, resticChecked } from '../clients/restic.js';
import { backupDir, listBackups, markVerified, prepareBackupDir, tmpFolder } from '../backup/catalog.js';
import { verifyChecksums, rowDiffs } from '../backup/integrity.js';
import { serviceContainer, stackPostgresServing } from '../backup/containers.js';
import { parseRowCounts, ROW_COUNT_SQL } from '../backup/postgres.js';
import { psqlQueryCmd } from '../commands/postgres.js';
import type { BackupManifest } from '../backup/format.js';
import { fsyncPath } from '../backup/format.js';
import { tightenTree } from '../util/private-files.js';
import { checkRecoveryInput, chooseCopy, copiesOf, targetDecision, type OffsiteCopyFound } from '../plan/disaster.js';
import { datastoresToStart, dataToStartWhy } from '../plan/deploy.js';
import { clearDisaster, readDisaster, writeDisaster, type DisasterMarker } from '../state/disaster.js';
import { updateOffsite } from '../state/offsite.js';
import { acmeDir, resticCacheDir, renderDir as renderDirFor } from '../state/paths.js';
import { certFiles, restoreCerts } from '../backup/certs.js';
import type { Lock } from '../state/lock.js';
import type { Run } from './context.js';
import { lockAndRecover } from './recover.js';
import { deploy, keptVolumes, type DeployResult } from './deploy.js';
import { composePaths, renderStack, writeRendered, writeSecretFiles } from './render.js';
import { waitHealthy } from './wait.js';
import { appServices, restoreBackup, safetyBackupWithAppsStopped } from './restore.js';
import { resticSecret } from './offsite.js';
import { fetchOffsiteWal, findOffsiteWal, replayOffsite, type OffsiteWal } from './disaster-pitr.js';
import { offsiteRecoveryPlan, segmentTimeline } from '../plan/pitr-offsite.js';
import { parseTargetTime, type Range } from '../plan/pitr.js';
import { pitrOn } from '../config/pitr-schema.js';

export interface DisasterOptions {
  stateDir: string;
  /** "latest", a backup id or a restic snapshot id */
  wanted: string;
  /** only this backup.offsite repository (default: each in order until one holds the copy) */
  repo?: string;
  /** the target holds the project's data already: replace it (after a safety backup) */
  replaceData?: boolean;
  /** the app version to deploy (default: the backup's release) */
  version?: string;
  commandLine: string;
  waitMs?: number;
  confirm: (question: string) => Promise<void>;
  /** the stack loaded again with VERSION set (the version is known once the manifest is back) */
  stackFor: (version: string | undefined) => Stack;
  /** backup.pitr: the database as it was at this time, replayed from the off-site WAL */
  to?: string;
}

export interface DisasterResult {
  backup: string;
  repo: string;
  snapshot: string;
  resumed: boolean;
  safety_backup?: string;
  databases: { name: string; tables: number; rows: number }[];
  /** --to: the instant recovered, the range the off-site copies reach, the WAL snapshot replayed */
  pitr?: { to: string; range: Range; wal_snapshot: string };
  deploy: Pick<DeployResult, 'run_id' | 'version' | 'outcome' | 'duration_ms'>;
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

/** The copies in each repository (ones that cannot be opened are skipped with a warning; `only`: that repository). */
async function listCopies(stack: Stack, run: Run, o: DisasterOptions, only = o.repo): Promise<OffsiteCopyFound[]> {
  const repos = only ? stack.backup.offsite.filter((r) => r.name === only) : stack.backup.offsite;
  const cache = resticCacheDir(o.stateDir);
  const all: OffsiteCopyFound[] = [];
  const failed: string[] = [];
  for (const repo of repos) {
    const t = resticTarget(repo, stack.baseDir);
    const secret = resticSecret(stack, repo, run.io.env);
    try {
      await run.step(`off-site ${repo.name}: list the copies of ${stack.project} ${stack.env} (${t.url})`, async () => {
        const open = await restic(resticCatConfig(t, secret, cache), { timeoutMs: 120_000, port: run.effects });
        if (open.exitCode !== 0) throw new OperationError(`off-site repository ${repo.name} cannot be opened (restic exit ${open.exitCode}): ${(open.stderr || open.stdout).trim().split('\n').slice(-2).join('; ')}`);
        const r = await resticChecked(resticSnapshots(t, secret, cache, { project: stack.project, env: stack.env }), `restic snapshots in ${repo.name}`, { timeoutMs: 300_000, port: run.effects });
        const found = copiesOf(repo.name, parseSnapshots(r.stdout), stack.project, stack.env);
        run.info('disaster', { repo: repo.name, copies: found.length, newest: found.at(-1)?.backup });
        all.push(...found);
      });
    } catch (e) {
      const msg = run.redactor.text(firstLine(e));
      failed.push(`${repo.name}: ${msg}`);
      run.say(`WARNING: off-site ${repo.name} cannot be read: ${msg}`);
    }
  }
  if (!all.length && failed.length) throw new OperationError(`no off-site repository could be read: ${failed.join('; ')}`, 'check the network, the credentials in the env file and the known_hosts/identity files');
  return all;
}

/** The copy to restore: the one wanted, or with --to the base backup the off-site WAL replays from (exit 2 outside its range). */
async function chooseFor(stack: Stack, run: Run, o: DisasterOptions, target: Date | undefined): Promise<{ copy: OffsiteCopyFound; pitr?: { wal: OffsiteWal; range: Range } }> {
  if (!target) return { copy: chooseCopy(await listCopies(stack, run, o), o.wanted, o.repo ?? stack.backup.offsite.map((r) => r.name).join(', ')) };
  const wal = await findOffsiteWal(stack, run, o.stateDir, o.repo);
  const copies = await listCopies(stack, run, o, wal.repo);
  const { base, range } = offsiteRecoveryPlan(wal.index, copies.map((c) => c.backup), target, wal.repo);
  let id = base.id;
  if (o.wanted !== 'latest' && o.wanted !== base.id) {
    const named = wal.index.bases.find((b) => b.id === o.wanted && b.end_time <= target.toISOString() && copies.some((c) => c.backup === b.id));
    if (!named) throw new UsageError(`backup ${o.wanted} is not a base backup in ${wal.repo} that ended before ${target.toISOString()}`, `lifeops restore --from-offsite latest --to ... picks it (here: ${base.id})`);
    id = named.id;
  }
  run.say(`recoverable from the off-site copies in ${wal.repo}: ${range.from} .. ${range.to}; base backup ${id} replayed to ${target.toISOString()}`);
  return { copy: copies.filter((c) => c.backup === id).at(-1)!, pitr: { wal, range } };
}

/** restic restore into a .tmp folder (removed by the recovery should this run die), then renamed into place. */
async function fetchCopy(stack: Stack, run: Run, o: DisasterOptions, copy: OffsiteCopyFound): Promise<void> {
  const dir = backupDir(stack, o.stateDir);
  if (listBackups(dir, stack.project, stack.env).some((b) => b.id === copy.backup)) {
    run.info('disaster', { fetched: 'already here', backup: copy.backup });
    return;
  }
  const repo = stack.backup.offsite.find((r) => r.name === copy.repo)!;
  const t = resticTarget(repo, stack.baseDir);
  await run.step(`off-site ${repo.name}: restic restore of snapshot ${copy.snapshot} (backup ${copy.backup}) into the backup folder`, async () => {
    prepareBackupDir(dir);
    const tmp = tmpFolder(dir, copy.backup, stack.project);
    rmSync(tmp, { recursive: true, force: true });
    await resticChecked(resticRestore(t, resticSecret(stack, repo, run.io.env), resticCacheDir(o.stateDir), copy.snapshot, tmp), `restic restore of ${copy.backup} from ${repo.name}`, { port: run.effects, changes: true });
    const got = path.join(tmp, copy.backup);
    if (!existsSync(path.join(got, 'manifest.json'))) throw new OperationError(`the copy ${copy.snapshot} in ${repo.name} holds no ${copy.backup}/manifest.json`);
    tightenTree(got);
    renameSync(got, path.join(dir, copy.backup));
    fsyncPath(dir);
    rmSync(tmp, { recursive: true, force: true });
  });
}

/** Start the data services (created empty where there are none) and wait until they serve. */
async function startData(stack: Stack, run: Run, compose: ComposeCli, files: string[]): Promise<void> {
  const start = datastoresToStart(stack, await run.docker.projectContainers(stack.project), await keptVolumes(stack, run.effects), true);
  if (!start.length) return;
  const names = start.map((d) => d.service);
  await run.step(`start ${names.join(', ')} (${dataToStartWhy(start)})`, () => run.effects.change(composeStartAsIs(compose, { project: stack.project, files }, names), { env: composeEnv(stack), timeoutMs: 15 * 60_000 }));
  const only = { ...stack, services: Object.fromEntries(Object.entries(stack.services).filter(([n]) => names.includes(n))) } as Stack;
  await run.step(`wait for ${names.join(', ')} to be healthy`, () => waitHealthy(only, run.docker, run.effects));
  if (stack.postgres && !stack.postgres.external_url && names.includes(stack.postgres.service)) {
    // a new Postgres is "healthy" while its first-start initialisation still runs
    await run.step(`wait for ${stack.postgres.service} to answer on TCP (first-start initialisation done)`, () => stackPostgresServing(run.docker, run.effects, stack));
  }
}

/** The restored databases counted table by table against the manifest: the restore drill, made on the real thing (replayed to a later time: counted only). */
async function compareRows(stack: Stack, run: Run, manifest: BackupManifest, compare = true): Promise<DisasterResult['databases']> {
  const pg = manifest.contents.postgres;
  if (!pg || pg.external) return [];
  const c = await serviceContainer(run.docker, stack, pg.service);
  const out: DisasterResult['databases'] = [];
  for (const db of pg.databases) {
    await run.step(`postgres: count the rows of ${db.name}${compare ? ' and compare them with the manifest' : ''}`, async () => {
      const got = parseRowCounts(await portExec(run.effects, 'read', c.id, psqlQueryCmd(pg.user, db.name, ROW_COUNT_SQL)));
      const diffs = compare ? rowDiffs(db.rows, got) : [];
      if (diffs.length) throw new OperationError(`backup ${manifest.id}: ${db.name} restored with different row counts:\n  ${diffs.join('\n  ')}`);
      out.push({ name: db.name, tables: Object.keys(got).length, rows: Object.values(got).reduce((a, b) => a + b, 0) });
    });
  }
  return out;
}

export async function restoreFromOffsite(loaded: Stack, run: Run, o: DisasterOptions): Promise<DisasterResult> {
  checkRecoveryInput(loaded.env, loaded.backup.offsite.map((r) => r.name), o.repo);
  let lock: Lock | undefined;
  const untrap = run.trapSignals(() => lock?.release());
  let marker: DisasterMarker;
  let stack = loaded;
  let databases: DisasterResult['databases'] = [];
  let resumed = false;
  const target = o.to ? parseTargetTime(o.to) : undefined;
  if (target && !pitrOn(loaded)) throw new UsageError(`restore --to needs backup.pitr, which environment ${loaded.env} does not have on in ${loaded.file}`, 'restore --from-offsite latest without --to restores the newest backup as it was taken');
  let range: Range | undefined;
  try {
    lock = await lockAndRecover(loaded, run, { stateDir: o.stateDir, commandLine: o.commandLine, waitMs: o.waitMs, handleSignals: false });
    const earlier = readDisaster(o.stateDir, loaded.env);
    const facts = await run.step('look at what this engine holds of the project', async () => ({
      dataVolumes: await keptVolumes(loaded, run.effects),
      containers: (await run.docker.projectContainers(loaded.project)).map((c) => c.service),
    }));
    const decision = targetDecision({ project: loaded.project, ...facts, unfinished: Boolean(earlier), replaceData: Boolean(o.replaceData) });
    if (earlier && o.wanted !== 'latest' && o.wanted !== earlier.backup && o.wanted !== earlier.snapshot) {
      throw new UsageError(`an unfinished recovery of backup ${earlier.backup} (run ${earlier.run}) is recorded in this state dir`, `finish it: lifeops restore --from-offsite ${earlier.backup}`);
    }
    if (earlier && (earlier.to ?? '') !== (target?.toISOString() ?? '')) {
      throw new UsageError(`an unfinished recovery of backup ${earlier.backup}${earlier.to ? ` to ${earlier.to}` : ''} (run ${earlier.run}) is recorded in this state dir`, `finish it: lifeops restore --from-offsite ${earlier.backup}${earlier.to ? ` --to ${earlier.to}` : ''}`);
    }
    if (earlier) {
      resumed = true;
      marker = earlier;
      run.say(`continuing the recovery of backup ${earlier.backup} that run ${earlier.run} started (${earlier.phase === 'deploy' ? 'its data is back; deploying the app' : 'restoring its data'})`);
    } else {
      const chosen = await chooseFor(loaded, run, o, target);
      const copy = chosen.copy;
      range = chosen.pitr?.range;
      run.say(`off-site copy chosen: backup ${copy.backup} (snapshot ${copy.snapshot} in ${copy.repo}, copied ${copy.time})`);
      if (loaded.production) await o.confirm(`restore ${loaded.project} (${loaded.env}) from the off-site copy of backup ${copy.backup}${decision === 'safety' ? ', replacing the data this engine holds' : ''}?`);
      marker = { run: run.id, started: run.io.now().toISOString(), backup: copy.backup, repo: copy.repo, snapshot: copy.snapshot, phase: 'data', ...(chosen.pitr ? { to: target!.toISOString(), wal: { repo: chosen.pitr.wal.repo, snapshot: chosen.pitr.wal.snapshot, range: chosen.pitr.range, timeline: segmentTimeline(chosen.pitr.wal.index.newest_segment?.name) } } : {}) };
      writeDisaster(o.stateDir, loaded.env, marker);
    }
    const copy: OffsiteCopyFound = { repo: marker.repo, backup: marker.backup, snapshot: marker.snapshot, time: marker.started };
    await fetchCopy(loaded, run, o, copy);
    const { manifest, dir: backupFolder } = await run.step(`verify checksums of backup ${copy.backup}`, () => verifyChecksums(loaded, o.stateDir, copy.backup));
    if (manifest.project !== loaded.project || manifest.env !== loaded.env) throw new OperationError(`backup ${copy.backup} is of ${manifest.project} ${manifest.env}, not ${loaded.project} ${loaded.env}`);
    // the copy is now also here: the next backup run need not copy it again
    updateOffsite(o.stateDir, loaded.env, copy.repo, (r) => (r.copies[copy.backup] ??= { snapshot: copy.snapshot, time: run.io.now().toISOString() }));

    stack = o.stackFor(o.version ?? manifest.release.version);
    if (marker.phase === 'data') {
      const compose = await run.compose();
      const renderDir = renderDirFor(o.stateDir, stack.env);
      const files = await run.step('render the stack (the data services start from it)', async () => {
        const rendered = renderStack(stack, renderDir);
        writeRendered(rendered, renderDir);
        writeSecretFiles(stack, renderDir);
        return composePaths(rendered, renderDir);
      });
      await startData(stack, run, compose, files);
      if (decision === 'safety' && !marker.safety_backup) {
        const running = new Set((await run.docker.projectContainers(stack.project)).filter((c) => c.state === 'running').map((c) => c.service));
        const safety = await safetyBackupWithAppsStopped(stack, run, { stateDir: o.stateDir, tag: 'pre-disaster-restore', compose, target: { project: stack.project, files }, apps: appServices(stack).filter((s) => running.has(s)) });
        run.say(`safety backup of the data this engine held: ${safety.id}`);
        marker = { ...marker, safety_backup: safety.id };
        writeDisaster(o.stateDir, stack.env, marker);
      }
      if (target && marker.wal) {
        // Redis and the volumes as the backup holds them; Postgres replayed to the target
        const walDir = await fetchOffsiteWal(stack, run, o.stateDir, marker.wal);
        await restoreBackup(stack, run, { stateDir: o.stateDir, id: copy.backup, parts: ['redis', 'volumes'] });
        await replayOffsite(stack, run, { compose, target: { project: stack.project, files }, manifest, backupFolder, walDir, to: target, rangeEnd: marker.wal.range.to, timeline: marker.wal.timeline });
      } else await restoreBackup(stack, run, { stateDir: o.stateDir, id: copy.backup });
      // its ACME account and certificates: the deploy then asks the CA for nothing the backup held (rate limits)
      if (certFiles(manifest).length) await run.step('ACME account and certificates from the backup', () => restoreCerts(stack, run.io.env, manifest, backupFolder, acmeDir(o.stateDir, stack.env)));
      databases = await compareRows(stack, run, manifest, !target);
      if (!target) markVerified(backupDir(stack, o.stateDir), copy.backup, run.io.now());
      marker = { ...marker, phase: 'deploy' };
      writeDisaster(o.stateDir, stack.env, marker);
    }
  } catch (e) {
    throw run.interruption(e);
  } finally {
    lock?.release();
    untrap();
  }
  // the deploy takes the lock itself (and recovers, as every run does); its pre-deploy backup would be the backup just restored
  const d = await deploy(stack, run, { stateDir: o.stateDir, commandLine: o.commandLine, skipBackup: true, waitMs: o.waitMs, confirm: o.confirm });
  if (d.outcome !== 'success') throw new OperationError(`the deploy after the data restore ended ${d.outcome}`, `the data is back; run the same restore again to deploy (log: ${d.log})`);
  clearDisaster(o.stateDir, stack.env);
  return {
    backup: marker.backup,
    repo: marker.repo,
    snapshot: marker.snapshot,
    resumed,
    ...(marker.safety_backup ? { safety_backup: marker.safety_backup } : {}),
    databases,
    ...(marker.to && marker.wal ? { pitr: { to: marker.to, range: range ?? marker.wal.range, wal_snapshot: marker.wal.snapshot } } : {}),
    deploy: { run_id: d.run_id, version: d.version, outcome: d.outcome, duration_ms: d.duration_ms },
  };
}
