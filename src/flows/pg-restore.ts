// Restoring one database from a pg_dump -Fc file so that it ends EQUAL to the
// backup. `pg_restore --clean` only drops what the dump contains: a table a
// failed migration created after the backup would survive, and re-running
// that migration would then fail. So the user schemas are dropped first, in
// the same transaction as the restore: either the whole database is the
// backup's, or (on any error) it is untouched.

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
export function restoreBesideArgv(container: string, image: string, user: string, database: string, password: string): { argv: string[]; env: Record<string, string> } {
  return {
    argv: ['docker', 'run', '--rm', '-i', '--network', `container:${container}`, '--entrypoint', 'sh',
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
