// Argv builders for point-in-time recovery: the base backup, reading the
// WAL archive, the archive's cleanup, and the helper containers that copy
// and restore the database's data volume. Pure: nothing runs here.
import { WAL_ARCHIVE_DIR } from '../config/pitr-schema.js';

/**
 * pg_basebackup inside the db container (its version is the server's): one
 * tar of the data directory on stdout, the WAL written during the backup
 * included (-X fetch), after a fast checkpoint. It connects over the
 * container's local socket, where the image's pg_hba trusts replication.
 */
export function baseBackupArgv(container: string, user: string, label: string): string[] {
  return ['docker', 'exec', container, 'pg_basebackup', '-U', user, '-D', '-', '-F', 't', '-X', 'fetch', '-c', 'fast', '-l', label];
}

/** The archive's files as "path mtime size" lines (GNU or busybox find and stat both do this). */
// a copy in progress (NAME.tmp) is renamed away between find and stat: left out by name
export const ARCHIVE_LIST_CMD = ['find', WAL_ARCHIVE_DIR, '-maxdepth', '1', '-type', 'f', '!', '-name', '*.tmp', '-exec', 'stat', '-c', '%n %Y %s', '{}', '+'];
export const archiveListArgv = (container: string): string[] => ['docker', 'exec', container, ...ARCHIVE_LIST_CMD];

/** pg_stat_archiver and the waiting segments as one "|"-separated line (plan/pitr.ts parses it). */
export function archiverQueryCmd(user: string, database: string): string[] {
  return ['psql', '-X', '-At', '-U', user, '-d', database, '-c', ARCHIVER_SQL];
}

/**
 * A commit stamped now (a transaction that only takes an id), then the
 * current segment closed so that it and everything before it gets archived.
 * Recovery to a time stops at the first commit after it: without one in the
 * WAL it runs to the end and fails ("recovery ended before configured
 * recovery target was reached"), so the marker makes every instant up to now
 * reachable. Prints the marker's time (Unix seconds) and the closed segment.
 */
export function switchWalCmd(user: string, database: string): string[] {
  return ['psql', '-X', '-At', '-U', user, '-d', database, '-c', 'SELECT pg_current_xact_id(), extract(epoch FROM clock_timestamp())', '-c', 'SELECT pg_walfile_name(pg_switch_wal())'];
}

/** The segment the server writes now (the first a base backup started after this needs at the latest). */
export function currentWalCmd(user: string, database: string): string[] {
  return ['psql', '-X', '-At', '-U', user, '-d', database, '-c', 'SELECT pg_walfile_name(pg_current_wal_lsn())'];
}

/** Remove archived segments older than `keepFrom` (Postgres' own pg_archivecleanup, in the db container). */
export function archiveCleanupArgv(container: string, keepFrom: string): string[] {
  return ['docker', 'exec', container, 'pg_archivecleanup', WAL_ARCHIVE_DIR, keepFrom];
}

const helper = (project: string, what: string) => ['--label', `lifeops.project=${project}`, '--label', `lifeops.oneoff=${what}`];

/** A copy of the data volume's files into another volume, with the database stopped (for the undo). */
export function copyVolumeArgv(image: string, project: string, from: string, to: string): string[] {
  return ['docker', 'run', '--rm', ...helper(project, 'pitr-copy'), '--user', '0', '--entrypoint', 'sh', '-v', `${from}:/from:ro`, '-v', `${to}:/to`, image,
    '-c', 'set -e; find /to -mindepth 1 -delete; cp -a /from/. /to/'];
}

/** The shell script of restoreBaseArgv; `emptied` are the mounted folders cleared first (the data folder, /pgdata, among them). */
export function unpackForRecoveryScript(emptied: string[]): string {
  return [
    'set -e',
    `find ${emptied.join(' ')} -mindepth 1 -delete`,
    'tar -x -C /pgdata',
    'printf "%s" "$LIFEOPS_RECOVERY" >> /pgdata/postgresql.auto.conf',
    ': > /pgdata/recovery.signal',
    'chown -R postgres:postgres /pgdata',
    'chmod 700 /pgdata',
  ].join('\n');
}

/**
 * Empty the data volume, unpack the base backup arriving on stdin into it,
 * append the recovery settings (from $LIFEOPS_RECOVERY, so nothing is quoted
 * through the shell) to postgresql.auto.conf, add recovery.signal, and give
 * it all to the postgres user. postgresql.auto.conf is read from the data
 * directory whatever config_file says.
 */
export function restoreBaseArgv(image: string, project: string, volume: string): string[] {
  const script = unpackForRecoveryScript(['/pgdata']);
  return ['docker', 'run', '--rm', '-i', ...helper(project, 'pitr-restore'), '--user', '0', '--entrypoint', 'sh', '-e', 'LIFEOPS_RECOVERY', '-v', `${volume}:/pgdata`, image, '-c', script];
}

// ------------------------------------------------------------------ what they print

/** One file of the archive: its name, when it was archived (Unix seconds), its size. */
export interface ArchivedFile {
  name: string;
  mtime: number;
  size: number;
}

/** A base backup as the backup manifests record it. */
export interface BaseRef {
  id: string;
  /** first WAL segment the backup needs */
  start_wal: string;
  /** when pg_basebackup began and ended (ISO): recovery can stop only after the end */
  start_time: string;
  end_time: string;
}


export interface ArchiverFact {
  archived_count: number;
  last_archived_wal?: string;
  last_archived_time?: string;
  failed_count: number;
  last_failed_wal?: string;
  last_failed_time?: string;
  /** segments finished and waiting to be archived (.ready files) */
  waiting: number;
  /** when the oldest of them was finished (ISO) */
  oldest_waiting_since?: string;
}

/** One row of ARCHIVER_SQL ("|"-separated; times as Unix seconds). */
export function parseArchiver(line: string): ArchiverFact {
  const [count, lastWal, lastTime, failed, failedWal, failedTime, waiting, oldest] = line.trim().split('|');
  const iso = (s?: string) => (s ? new Date(Number(s) * 1000).toISOString() : undefined);
  const out: ArchiverFact = { archived_count: Number(count) || 0, failed_count: Number(failed) || 0, waiting: Number(waiting) || 0 };
  if (lastWal) out.last_archived_wal = lastWal;
  if (lastTime) out.last_archived_time = iso(lastTime);
  if (failedWal) out.last_failed_wal = failedWal;
  if (failedTime) out.last_failed_time = iso(failedTime);
  if (oldest) out.oldest_waiting_since = iso(oldest);
  return out;
}

/** pg_stat_archiver and the segments waiting in pg_wal/archive_status, as one line. */
export const ARCHIVER_SQL =
  "SELECT archived_count || '|' || coalesce(last_archived_wal, '') || '|' || coalesce(extract(epoch FROM last_archived_time)::bigint::text, '') || '|' || failed_count || '|' || coalesce(last_failed_wal, '') || '|' || coalesce(extract(epoch FROM last_failed_time)::bigint::text, '') || '|' || " +
  "(SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') || '|' || coalesce((SELECT extract(epoch FROM min(modification))::bigint::text FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'), '') FROM pg_stat_archiver";

/** `find ... -exec stat` output ("path mtime size" per line) as archive files (temporary copies left out). */
export function parseArchiveListing(text: string): ArchivedFile[] {
  const out: ArchivedFile[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+) (\d+) (\d+)$/.exec(line.trim());
    if (!m) continue;
    const name = m[1].split('/').pop()!;
    if (name.endsWith('.tmp')) continue;
    out.push({ name, mtime: Number(m[2]), size: Number(m[3]) });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
