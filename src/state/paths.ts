// Every file lifeops keeps under the state folder, named in one place:
//   render/<env>/             the rendered files in force
//   render/<env>/nginx/maintenance/  maintenance mode of the nginx front (state/maintenance.ts; never part of a release)
//   releases/<env>/<run>/     each successful release's rendered files (rollback target)
//   releases.jsonl            the release ledger
//   logs/<run>.jsonl          one JSON line per step of a run
//   locks/<env>.lock          one mutating run per environment
//   migrations/<env>.json     which migration files the last release applied
//   backups/                  the default backup folder (backup.dir overrides it)
//   drills/<env>.json         the last restore drill (`backups verify`): when, which backup, outcome
//   status/<env>.json         what the last `status` run saw (restart counts per container)
//   offsite/<env>.json        the off-site copies made (repository -> backup -> snapshot), attempts, the check rotation
//   cache/restic/             restic's cache for the off-site repositories
//   cache/stack-<h>.json      the last parse of a stack file, found by its bytes' hash (status reads it)
//   acme/<env>/               front.tls.acme: the ACME account, live/<domain>/ key and certificate, the HTTP-01 webroot, renewal attempts (state/certs.ts)
import path from 'node:path';

/** The names lifeops writes at the top of a state folder (this list, and swarm-paths.ts): what tightening a loose one touches, never anything else in it. */
export const STATE_ENTRIES = ['render', 'releases', 'releases.jsonl', 'logs', 'locks', 'migrations', 'backups', 'drills', 'status', 'cache', 'swarm-backups', 'acme'] as const;

export const renderDir = (stateDir: string, env: string) => path.join(stateDir, 'render', env);
/** Maintenance mode's folder: inside the rendered nginx folder, which the front bind-mounts whole. */
export const MAINTENANCE_SUBDIR = 'nginx/maintenance';
export const maintenanceDir = (stateDir: string, env: string) => path.join(renderDir(stateDir, env), ...MAINTENANCE_SUBDIR.split('/'));
export const releaseArchiveDir = (stateDir: string, env: string, runId: string) => path.join(stateDir, 'releases', env, runId);
export const ledgerFile = (stateDir: string) => path.join(stateDir, 'releases.jsonl');
export const logsDir = (stateDir: string) => path.join(stateDir, 'logs');
export const runLogFile = (stateDir: string, runId: string) => path.join(logsDir(stateDir), `${runId}.jsonl`);
export const locksDir = (stateDir: string) => path.join(stateDir, 'locks');
export const lockFile = (stateDir: string, env: string) => path.join(locksDir(stateDir), `${env}.lock`);
export const migrationRecordFile = (stateDir: string, env: string) => path.join(stateDir, 'migrations', `${env}.json`);
export const defaultBackupDir = (stateDir: string) => path.join(stateDir, 'backups');
export const drillFile = (stateDir: string, env: string) => path.join(stateDir, 'drills', `${env}.json`);
export const statusMemoryFile = (stateDir: string, env: string) => path.join(stateDir, 'status', `${env}.json`);
/** cache/stack-<hash of the stack file's path>.json: the last parse of that stack file (config/parse-cache.ts) */
export const stackParseCacheFile = (stateDir: string, stackFileKey: string) => path.join(stateDir, 'cache', `stack-${stackFileKey}.json`);
export const offsiteFile = (stateDir: string, env: string) => path.join(stateDir, 'offsite', `${env}.json`);
/** The host's mirror of the WAL archive that `offsite push` copies off-site (offsite/<env>-wal/wal/...). */
export const walMirrorDir = (stateDir: string, env: string) => path.join(stateDir, 'offsite', `${env}-wal`);
export const disasterFile = (stateDir: string, env: string) => path.join(stateDir, 'disaster', `${env}.json`);
export const resticCacheDir = (stateDir: string) => path.join(stateDir, 'cache', 'restic');
/** acme/<env>/: what lifeops' ACME client keeps for one environment (state/certs.ts names what is inside). */
export const acmeDir = (stateDir: string, env: string) => path.join(stateDir, 'acme', env);
