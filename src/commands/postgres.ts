// Pure argv builders for the PostgreSQL client tools (pg_dump, pg_restore,
// psql), in the db container, beside it, or on the host. Nothing runs here.
//
// Restoring one database from a pg_dump -Fc file so that it ends EQUAL to the
// backup. `pg_restore --clean` only drops what the dump contains: a table a
// failed migration created after the backup would survive, and re-running
// that migration would then fail. So the user schemas are dropped first, in
// the same transaction as the restore: either the whole database is the
// backup's, or (on any error) it is untouched.
import type { Stack } from '../config/schema.js';

/** Run first inside the transaction: every user schema goes, public comes back as initdb makes it. */
export const DROP_USER_SCHEMAS_SQL = [
  'BEGIN;',
  'SET LOCAL client_min_messages = warning;',
  "DO $lifeops$ DECLARE s name; BEGIN",
  "  FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%' LOOP",
  "    EXECUTE format('DROP SCHEMA %I CASCADE', s);",
  '  END LOOP;',
  '  CREATE SCHEMA public;',
  '  GRANT USAGE ON SCHEMA public TO PUBLIC;',
  "  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_database_owner') THEN ALTER SCHEMA public OWNER TO pg_database_owner; END IF;",
  'END $lifeops$;',
].join('\n');

/** Emitted when pg_restore fails half-way: an error, so psql (ON_ERROR_STOP) exits non-zero and nothing is committed. */
const FAIL_SQL = "DO $lifeops$ BEGIN RAISE EXCEPTION 'pg_restore could not read the dump: nothing was changed'; END $lifeops$;";

/**
 * A POSIX sh script: the dump arrives on stdin, pg_restore turns it into SQL,
 * psql applies it after DROP_USER_SCHEMAS_SQL and commits only when pg_restore
 * finished. Arguments: $0 the user, $1 the database (a name or a URL without
 * password). The SQL travels in environment variables, not through quoting.
 */
const RESTORE_SCRIPT = [
  // psql's exit status is the pipeline's; a failed pg_restore is reported through a marker file
  'failed=$(mktemp)',
  '{ printf "%s\\n" "$LIFEOPS_PRE"',
  '  if pg_restore --no-owner -f - ; then printf "COMMIT;\\n"; else echo 1 > "$failed"; printf "\\n\\\\.\\n%s\\n" "$LIFEOPS_FAIL"; fi',
  '} | psql -X -q -v ON_ERROR_STOP=1 -U "$0" -d "$1"',
  'rc=$?',
  'if [ -s "$failed" ]; then rm -f "$failed"; echo "pg_restore failed: nothing was committed" >&2; exit 1; fi',
  'rm -f "$failed"; exit $rc',
].join('\n');

const SCRIPT_ENV = { LIFEOPS_PRE: DROP_USER_SCHEMAS_SQL, LIFEOPS_FAIL: FAIL_SQL };

/** Exit status of the script beside the container when it cannot log in over 127.0.0.1: nothing was read or changed. */
export const BESIDE_UNREACHABLE = 98;
const LOGIN_CHECK = `psql -X -q -At -c 'SELECT 1' -U "$0" -d "$1" >/dev/null 2>&1 || exit ${BESIDE_UNREACHABLE}`;

/**
 * Beside the database container: a one-off container of the same image (so
 * client and server versions match) in its network namespace, logging in over
 * 127.0.0.1 with the password from the environment. pg_restore and psql then
 * do their decompressing and parsing outside the database's CPU limit, which
 * they would otherwise share with the server (measured on a 1-CPU database:
 * 16.7 s against 22.3 s inside it and 20.0 s for a raw pg_restore there).
 * Exits BESIDE_UNREACHABLE, having read nothing, when it cannot log in.
 */
export function restoreBesideArgv(container: string, image: string, user: string, database: string, password: string, project?: string): { argv: string[]; env: Record<string, string> } {
  // labelled so that the next run finds it when the run that started it died (src/flows/recover.ts)
  const labels = project ? ['--label', `lifeops.project=${project}`, '--label', 'lifeops.oneoff=restore'] : [];
  return {
    argv: ['docker', 'run', '--rm', '-i', ...labels, '--network', `container:${container}`, '--entrypoint', 'sh',
      '-e', 'LIFEOPS_PRE', '-e', 'LIFEOPS_FAIL', '-e', 'PGPASSWORD', '-e', 'PGHOST=127.0.0.1', image,
      '-c', `${LOGIN_CHECK}\n${RESTORE_SCRIPT}`, user, database],
    // the password travels in the docker client's environment, never on a command line
    env: { ...SCRIPT_ENV, PGPASSWORD: password },
  };
}

/** Inside the database container (its client tools match the server): `docker exec -i`. */
export function restoreDatabaseArgv(container: string, user: string, database: string): { argv: string[]; env: Record<string, string> } {
  return { argv: ['docker', 'exec', '-i', '-e', 'LIFEOPS_PRE', '-e', 'LIFEOPS_FAIL', container, 'sh', '-c', RESTORE_SCRIPT, user, database], env: { ...SCRIPT_ENV } };
}

/** With the host's client tools, for an external database: `url` carries no password (PGPASSWORD does). */
export function restoreExternalArgv(user: string, url: string): { argv: string[]; env: Record<string, string> } {
  return { argv: ['sh', '-c', RESTORE_SCRIPT, user, url], env: { ...SCRIPT_ENV } };
}

// ------------------------------------------------------------------ dumping

/** pg_dump's -Z for this backup: the stack's level; a safety backup (on the downtime path) at most 1, which dumps about a third faster for a few % more bytes. */
export function dumpCompression(stack: Stack, safety: boolean): string[] {
  const level = safety ? Math.min(1, stack.backup.compression ?? 1) : stack.backup.compression;
  return level === undefined ? [] : [`-Z${level}`];
}

/**
 * pg_dump run inside the db container. Started together with the snapshot
 * session (the two docker exec start-ups overlap), sh waits for the exported
 * snapshot's name on stdin, then becomes pg_dump (exec: no child process is
 * left to the postmaster, which is the container's init).
 */
const PG_DUMP_ON_SNAPSHOT = 'IFS= read -r snap || exit 97; exec pg_dump -Fc --snapshot="$snap" "$@"';

/** pg_dump -Fc in the container, reading the snapshot's name from its stdin. */
export function containerDumpArgv(container: string, user: string, database: string, compression: string[]): string[] {
  return ['docker', 'exec', '-i', container, 'sh', '-c', PG_DUMP_ON_SNAPSHOT, 'sh', '-U', user, '-d', database, ...compression];
}

/** The host's pg_dump -Fc of an external database in an exported snapshot; `url` carries no password. */
export function externalDumpArgv(url: string, snapshot: string, compression: string[]): string[] {
  return ['pg_dump', '-Fc', ...compression, `--snapshot=${snapshot}`, '-d', url];
}

/** Roles and tablespaces, from inside the db container. */
export function containerGlobalsArgv(container: string, user: string): string[] {
  return ['docker', 'exec', container, 'pg_dumpall', '--globals-only', '-U', user];
}

/** Roles and tablespaces of an external server (no passwords: a non-superuser cannot read them). */
export function externalGlobalsArgv(url: string): string[] {
  return ['pg_dumpall', '--globals-only', '--no-role-passwords', '-d', url];
}

/** A psql session in the db container reading SQL on its stdin, one value per line out. */
export function containerPsqlSessionArgv(container: string, user: string, database: string): string[] {
  return ['docker', 'exec', '-i', container, 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', database];
}

// ------------------------------------------------------------------ verifying

/** pg_restore of a dump on stdin into a scratch database of the same server (owners kept as roles exist). */
export function scratchRestoreArgv(container: string, user: string, database: string): string[] {
  return ['docker', 'exec', '-i', container, 'pg_restore', '--no-owner', '--exit-on-error', '-U', user, '-d', database];
}

/** pg_restore into a throwaway server: the real server's roles do not exist there, so no owners and no grants. */
export function throwawayRestoreArgv(container: string, database: string): string[] {
  return ['docker', 'exec', '-i', container, 'pg_restore', '--no-owner', '--no-privileges', '--exit-on-error', '-U', 'postgres', '-d', database];
}

/** The throwaway verification server: no network, trust auth, removed when stopped. --init: postgres as PID 1 would take a reaped docker-exec orphan for a crashed backend. */
export function throwawayServerArgv(name: string, image: string): string[] {
  return ['docker', 'run', '-d', '--rm', '--init', '--name', name, '--network', 'none', '--label', 'lifeops.scratch=verify', '-e', 'POSTGRES_HOST_AUTH_METHOD=trust', image];
}

/** psql -c one statement, unaligned tuples only (for docker exec). */
export const psqlQueryCmd = (user: string, database: string, sql: string): string[] => ['psql', '-X', '-At', '-U', user, '-d', database, '-c', sql];
