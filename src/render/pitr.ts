// Point-in-time recovery in the rendered files: the archiving settings of
// postgresql.conf, the archive volume on the database service, and the start
// wrapper that gives that volume to the postgres user. Pure.
import type { Stack } from '../config/schema.js';
import { archiveTimeoutSeconds, pitrOn, WAL_ARCHIVE_DIR, WAL_ARCHIVE_VOLUME } from '../config/pitr-schema.js';
import { escapeDollar } from './values.js';

/**
 * Run by the server (as the postgres user, in the data directory) for each
 * finished segment: %p is its path, %f its name. It copies to a temporary
 * name, flushes it to disk and renames it into place, so the archive never
 * holds half a segment; a name already archived is never overwritten: the
 * command succeeds only when the copy there is identical (a retry after a
 * crash), and fails otherwise, which keeps the segment in pg_wal and shows in
 * pg_stat_archiver.failed_count.
 */
export const ARCHIVE_COMMAND = `f=${WAL_ARCHIVE_DIR}/%f; if [ -f "$f" ]; then cmp -s %p "$f"; else cp %p "$f.tmp" && sync "$f.tmp" && mv "$f.tmp" "$f"; fi`;

/** What recovery reads the archive with (written into postgresql.auto.conf by `rollback --to`). */
export const RESTORE_COMMAND = `cp ${WAL_ARCHIVE_DIR}/%f %p`;

/** postgresql.conf settings backup.pitr adds; empty when it is off. */
export function pitrSettings(stack: Stack): Record<string, string | number> {
  const p = pitrOn(stack);
  if (!p) return {};
  return { wal_level: 'replica', archive_mode: 'on', archive_command: ARCHIVE_COMMAND, archive_timeout: archiveTimeoutSeconds(p) };
}

/**
 * A new named volume is owned by root; the server, running as postgres,
 * could not write to it. The official image starts as root and drops to
 * postgres in its entrypoint, so the service's command becomes this wrapper:
 * as root it makes the archive folder the postgres user's (0700), then hands
 * the original command to the image's entrypoint. A container started as
 * another user skips that (the folder must then be writable already).
 */
const START_SCRIPT = [
  'set -eu',
  `d=${WAL_ARCHIVE_DIR}`,
  'if [ "$(id -u)" = 0 ]; then mkdir -p "$d"; chown postgres:postgres "$d" 2>/dev/null || true; chmod 700 "$d"; fi',
  'if command -v docker-entrypoint.sh >/dev/null 2>&1; then exec docker-entrypoint.sh "$@"; fi',
  'exec "$@"',
].join('\n');

/** The db service's command with the wrapper in front, `$` escaped for compose. */
export function postgresCommandWithArchive(argv: string[]): string[] {
  return ['sh', '-c', escapeDollar(START_SCRIPT), 'postgres-start', ...argv];
}

/** The archive volume's mount on the db service. */
export const archiveMount = (): string => `${WAL_ARCHIVE_VOLUME}:${WAL_ARCHIVE_DIR}`;
