// Point-in-time recovery's steps that read or drive the running database:
// closing and archiving the current WAL segment, finding the data volume,
// waiting for a recovery to promote, pruning the archive, and the facts
// `status` and `backups verify` report about the archive.
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { ARCHIVE_LIST_CMD, ARCHIVER_SQL, archiveCleanupArgv, currentWalCmd, parseArchiveListing, parseArchiver, switchWalCmd, type ArchivedFile } from '../commands/pitr.js';
import { pitrOn, WAL_ARCHIVE_DIR } from '../config/pitr-schema.js';
import { archiveGap, newestArchived, RECOVERY_KEYS, type ArchiveGap } from '../plan/pitr.js';
import type { PitrFact } from '../plan/pitr-status.js';
import { parseDuration } from '../util/units.js';
import type { ContainerState } from '../clients/docker.js';
import { serviceContainer } from '../backup/containers.js';
import { baseBackups, readArchive, readArchiver } from '../backup/pitr.js';
import type { BackupManifest } from '../backup/format.js';
import type { Run } from './context.js';
import { walOffsiteFacts } from './pitr-offsite.js';
import type { Effects } from './effects.js';
import { portExec } from '../clients/port-exec.js';

/** A marker commit and pg_switch_wal, then wait (bounded) until pg_stat_archiver shows that segment archived. Returns the marker's time (ISO): every instant up to it is reachable. */
export async function archiveNow(effects: Effects, containerId: string, user: string, database: string, timeoutMs = 120_000): Promise<string> {
  const [marker, seg] = (await portExec(effects, 'change', containerId, switchWalCmd(user, database))).trim().split('\n').map((l) => l.trim().split('|').pop()!);
  const markerIso = new Date(Math.floor(Number(marker) * 1000)).toISOString();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await readArchiver(effects, containerId, user, database);
    if (a.last_archived_wal && a.last_archived_wal.slice(0, 24) >= seg) return markerIso;
    if (Date.now() > deadline) {
      throw new OperationError(
        `WAL segment ${seg} was not archived within ${timeoutMs / 1000}s (${a.failed_count} failed attempts${a.last_failed_wal ? `, last for ${a.last_failed_wal}` : ''})`,
        `the database's log shows archive_command's error (docker logs); the archive is ${WAL_ARCHIVE_DIR} in the container`,
      );
    }
    await effects.sleep(300);
  }
}

/** The timeline the running server writes (the first 8 hex digits of its current segment's name). */
export async function liveTimeline(effects: Effects, containerId: string, user: string, database: string): Promise<number> {
  const seg = (await portExec(effects, 'read', containerId, currentWalCmd(user, database))).trim();
  if (!/^[0-9A-F]{24}$/.test(seg)) throw new OperationError(`the server's current WAL segment is not a segment name: ${seg.slice(0, 80)}`);
  return parseInt(seg.slice(0, 8), 16);
}

/** The named volume mounted at the container's PGDATA (the official image's /var/lib/postgresql/data unless PGDATA says otherwise). */
export async function dataVolume(effects: Effects, containerId: string): Promise<string> {
  // only PGDATA is read from the environment: the rest holds the database password
  const r = await readChecked(effects, ['docker', 'inspect', '-f', '{{json .Mounts}}|{{range .Config.Env}}{{if eq (index (split . "=") 0) "PGDATA"}}{{.}}{{end}}{{end}}', containerId]);
  const [json, env] = r.stdout.split('|');
  const mounts = JSON.parse(json) as { Type: string; Name?: string; Destination: string }[];
  const pgdata = (env.trim() || 'PGDATA=/var/lib/postgresql/data').slice('PGDATA='.length).replace(/\/+$/, '');
  const m = mounts.find((x) => x.Destination.replace(/\/+$/, '') === pgdata);
  if (!m || m.Type !== 'volume' || !m.Name) {
    throw new OperationError(`the database's data folder ${pgdata} is not a named volume of its own (${m ? `a ${m.Type} mount` : 'not mounted'}): rollback --to replaces that volume's files`, `mount a named volume at ${pgdata}`);
  }
  return m.Name;
}

/** A read through the port that must succeed: its result, or an error naming the command. */
export async function readChecked(effects: Effects, argv: string[], timeoutMs?: number): Promise<{ stdout: string }> {
  const r = await effects.read(argv, { timeoutMs });
  if (r.exitCode !== 0) throw new OperationError(`command failed (exit ${r.exitCode}): ${argv.slice(0, 3).join(' ')} …\n${(r.stderr || r.stdout).split('\n').slice(-5).join('\n')}`);
  return r;
}

/** After a recovery has promoted: the recovery settings reset (ALTER SYSTEM RESET) and the configuration reloaded. */
export async function resetRecoverySettings(effects: Effects, containerId: string, user: string, database: string): Promise<void> {
  await portExec(effects, 'change', containerId, ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', database, ...RECOVERY_KEYS.flatMap((k) => ['-c', `ALTER SYSTEM RESET ${k}`]), '-c', 'SELECT pg_reload_conf()']);
}

/**
 * Wait until the server has replayed to the target and promoted
 * (pg_is_in_recovery() false). A server that exits or restarts meanwhile
 * (a target past the archive's end stops recovery with FATAL) fails the
 * step with the end of its log.
 */
export async function waitPromoted(run: Run, stack: Stack, timeoutMs = 30 * 60_000): Promise<void> {
  const pg = stack.postgres!;
  const first = await serviceContainer(run.docker, stack, pg.service, false);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c: ContainerState = await run.docker.inspect(first.id);
    if (c.state !== 'running' || c.restarts > first.restarts) {
      const log = (await run.docker.logs(c.id, 40).catch(() => '')).split('\n').filter((l) => /FATAL|PANIC|ERROR|LOG:  (recovery|redo|restored)/.test(l)).slice(-6).join('\n');
      throw new OperationError(`${pg.service} stopped during the recovery (${c.state}, exit ${c.exitCode ?? '?'})${log ? `:\n${log}` : ''}`);
    }
    const r = await run.docker.exec(c.id, ['psql', '-X', '-At', '-U', pg.user, '-d', pg.database, '-c', 'SELECT pg_is_in_recovery()'], 10_000).catch(() => undefined);
    if (r?.exitCode === 0 && r.output.trim() === 'f') return;
    if (Date.now() > deadline) throw new OperationError(`${pg.service} did not finish the recovery within ${timeoutMs / 60_000} min`);
    await run.effects.sleep(500);
  }
}

/**
 * After retention: archived segments older than the oldest base backup left
 * serve no recovery; Postgres' pg_archivecleanup removes them.
 */
export async function pruneArchive(stack: Stack, run: Run, stateDir: string): Promise<void> {
  const pg = stack.postgres;
  if (!pitrOn(stack) || !pg || pg.external_url) return;
  const oldest = baseBackups(stack, stateDir).sort((a, b) => a.start_wal.slice(8).localeCompare(b.start_wal.slice(8)))[0];
  if (!oldest) return;
  await run.step(`WAL archive: remove segments before ${oldest.start_wal} (the oldest base backup's, backup ${oldest.id})`, async () => {
    const c = await serviceContainer(run.docker, stack, pg.service);
    await run.effects.change(archiveCleanupArgv(c.id, oldest.start_wal));
  });
}

/** For `backups verify`: the archive from this backup's base backup on, and the first gap in it. */
export async function archiveFromBase(stack: Stack, run: Run, manifest: BackupManifest): Promise<{ from: string; newest?: string; segments: number; gap?: ArchiveGap } | undefined> {
  const bb = manifest.contents.postgres?.base_backup;
  const pg = stack.postgres;
  if (!bb || !pg || !pitrOn(stack)) return undefined;
  const c = await serviceContainer(run.docker, stack, pg.service);
  const files = await readArchive(run.effects, c.id);
  const gap = archiveGap(files, bb.start_wal);
  const newest = newestArchived(files);
  const segments = files.filter((f) => /^[0-9A-F]{24}$/.test(f.name) && f.name.slice(8) >= bb.start_wal.slice(8)).length;
  return { from: bb.start_wal, ...(newest ? { newest: newest.name } : {}), segments, ...(gap ? { gap } : {}) };
}

/** `status`: the archiver's counters, the newest archived segment, a gap after the oldest base backup. Never throws. */
export async function pitrFact(stack: Stack, docker: Run['docker'], stateDir: string, containers: ContainerState[] | undefined, timeoutMs: number): Promise<PitrFact | undefined> {
  const p = pitrOn(stack);
  const pg = stack.postgres;
  if (!p || !pg || pg.external_url) return undefined;
  const limits = { warn_s: parseDuration(p.lag.warn) / 1000, crit_s: parseDuration(p.lag.crit) / 1000 };
  const t0 = performance.now();
  const bases = baseBackups(stack, stateDir);
  const c = containers?.find((x) => x.service === pg.service && x.state === 'running');
  const offsite = (files?: ArchivedFile[]) => {
    const o = walOffsiteFacts(stack, stateDir, files);
    return o.length ? { offsite: o } : {};
  };
  if (!c) return { ...limits, base_backups: bases.length, error: `${pg.service} is not running: the archiver cannot be asked`, duration_ms: 0, ...offsite() };
  try {
    const [a, l] = await Promise.all([
      docker.exec(c.id, ['psql', '-X', '-At', '-U', pg.user, '-d', pg.database, '-c', ARCHIVER_SQL], timeoutMs),
      docker.exec(c.id, ARCHIVE_LIST_CMD, timeoutMs),
    ]);
    if (a.exitCode !== 0) throw new Error(a.output.trim().split('\n').pop() || `psql exit ${a.exitCode}`);
    if (l.exitCode !== 0) throw new Error(l.output.trim().split('\n').pop() || `find exit ${l.exitCode}`);
    const files = parseArchiveListing(l.output);
    const newest = newestArchived(files);
    const oldestBase = [...bases].sort((x, y) => x.end_time.localeCompare(y.end_time))[0];
    const gap = oldestBase ? archiveGap(files, oldestBase.start_wal) : undefined;
    return {
      ...limits,
      base_backups: bases.length,
      archiver: parseArchiver(a.output.trim().split('\n').pop() ?? ''),
      ...(newest ? { newest: { name: newest.name, time: new Date(newest.mtime * 1000).toISOString() } } : {}),
      ...(gap ? { gap } : {}),
      duration_ms: Math.round(performance.now() - t0),
      ...offsite(files),
    };
  } catch (e) {
    return { ...limits, base_backups: bases.length, error: (e as Error).message.split('\n')[0], duration_ms: Math.round(performance.now() - t0), ...offsite() };
  }
}
