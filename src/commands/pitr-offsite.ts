// Argv builders for the WAL archive's off-site copy and its use on a new
// host: one archived file read out of the database container, the last
// commit in a segment (pg_waldump, from the image itself), and the one-off
// containers that prepare a recovery from an off-site base backup and WAL.
// Pure: nothing runs here.
import { WAL_ARCHIVE_DIR } from '../config/pitr-schema.js';
import { unpackForRecoveryScript } from './pitr.js';

/** What may be asked for by name: a segment, a timeline history or a backup label (never a path). */
const ARCHIVE_NAME = /^[0-9A-F]{8,24}(\.[0-9A-F]{8}\.backup|\.history|\.partial)?$/;
export const isArchiveName = (name: string): boolean => ARCHIVE_NAME.test(name);

function checked(name: string): string {
  if (!isArchiveName(name)) throw new Error(`not a WAL archive file name: ${JSON.stringify(name)}`);
  return name;
}

/** One archived file on stdout (the host copy is written by lifeops, then fsynced and renamed). */
export function archiveFileArgv(container: string, name: string): string[] {
  return ['docker', 'exec', container, 'cat', `${WAL_ARCHIVE_DIR}/${checked(name)}`];
}

/**
 * The transaction records of one archived segment, their times in UTC
 * (pg_waldump prints them in its own time zone). It ends with an error at
 * the segment's unwritten tail: the output is read whatever the exit code.
 */
export function walDumpArgv(container: string, segment: string): string[] {
  return ['docker', 'exec', '-e', 'TZ=UTC', container, 'pg_waldump', '--rmgr=Transaction', `${WAL_ARCHIVE_DIR}/${checked(segment)}`];
}

const helper = (project: string, what: string) => ['--label', `lifeops.project=${project}`, '--label', `lifeops.oneoff=${what}`];

/**
 * The database stopped, its data volume and archive volume emptied, the base
 * backup (on stdin) unpacked into the data volume with the recovery settings
 * (from $LIFEOPS_RECOVERY: nothing quoted through the shell) and
 * recovery.signal. The off-site WAL is copied into the archive afterwards.
 */
export function prepareRecoveryArgv(image: string, project: string, dataVolume: string, archiveVolume: string): string[] {
  const script = unpackForRecoveryScript(['/pgdata', '/archive']);
  return ['docker', 'run', '--rm', '-i', ...helper(project, 'pitr-offsite-restore'), '--user', '0', '--entrypoint', 'sh', '-e', 'LIFEOPS_RECOVERY', '-v', `${dataVolume}:/pgdata`, '-v', `${archiveVolume}:/archive`, image, '-c', script];
}

/** The host's copy of the off-site WAL into the (stopped) database container's archive folder. */
export function copyWalInArgv(hostDir: string, container: string): string[] {
  return ['docker', 'cp', `${hostDir.replace(/\/+$/, '')}/.`, `${container}:${WAL_ARCHIVE_DIR}/`];
}

/** docker cp leaves root's files: the archive goes to the postgres user (0700/0600), lifeops' own index out of it. */
export function ownArchiveArgv(image: string, project: string, archiveVolume: string, indexName: string): string[] {
  const script = ['set -e', `rm -f "/archive/${indexName}"`, 'chown -R postgres:postgres /archive', 'chmod 700 /archive', 'find /archive -type f -exec chmod 600 {} +'].join('\n');
  return ['docker', 'run', '--rm', ...helper(project, 'pitr-offsite-own'), '--user', '0', '--entrypoint', 'sh', '-v', `${archiveVolume}:/archive`, image, '-c', script];
}
