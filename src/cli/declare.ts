// Every command, its arguments and options, declared up front (commander
// needs them to parse and for --help); each action loads its handler module
// only when that command runs, so `--version`, `--help` and cron's `status`
// never load the code of the others.
import { Command, Option } from 'commander';
import { UsageError } from '../errors.js';
import type { Cli } from './context.js';

/**
 * Runs a handler: (handler module, the Cli, the action's arguments as commander
 * parsed them) -> exit code. The handlers' own signatures carry the types.
 */
export type Act = <M>(load: () => Promise<M>, call: (m: M, cli: Cli, ...args: any[]) => number | Promise<number>) => (...args: unknown[]) => Promise<void>;

const intArg = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new UsageError(`${name} must be a whole number, got "${v}"`);
  return Number(v);
};
const envOption = () => new Option('--env <env>', "environment (default: the stack's default_environment, else $LIFEOPS_ENV)");

const render = () => import('./handlers/render.js');
const deploy = () => import('./handlers/deploy.js');
const status = () => import('./handlers/status.js');
const logs = () => import('./handlers/logs.js');
const down = () => import('./handlers/down.js');
const history = () => import('./handlers/history.js');
const backup = () => import('./handlers/backup.js');
const statusReport = () => import('./handlers/status-report.js');
const cron = () => import('./handlers/cron.js');
const importer = () => import('./handlers/import.js');
const maintenance = () => import('./handlers/maintenance.js');
const hosts = () => import('./handlers/hosts.js');
const restore = () => import('./handlers/restore.js');
const offsite = () => import('./handlers/offsite.js');
const certs = () => import('./handlers/certs.js');
const pruneCmd = () => import('./handlers/prune.js');

export function declareCommands(program: Command, act: Act): void {
  program
    .command('schema')
    .description('print the JSON Schema of the stack file')
    .action(act(render, (m, cli) => m.schemaCommand(cli)));

  program
    .command('import')
    .description('write a stack file (and its env file of secrets) from an existing compose setup; roles are guessed, each guess commented')
    .argument('<compose-file>', 'the compose file to import, or its folder (read as compose reads it: with the compose.override.yaml beside a default-named file)')
    .option('--env-file <file>', 'variables the compose file reads (default: the .env beside it, as compose reads it)')
    .option('--no-override', 'read only the file named, not the override file compose would merge over it')
    .option('--check', 'then compare, service by service, what docker compose (v2) reads from the original and from the rendered stack; exit 1 on any difference')
    .option('-o, --out <stack.yaml>', 'the stack file to write (its env file goes beside it as <name>.env)', 'lifeops.yaml')
    .option('--project <name>', "compose project name to adopt (default: compose's own: COMPOSE_PROJECT_NAME, the file's name:, else its folder's name)")
    .option('--force', 'overwrite the stack file and env file if they exist')
    .option('--json', 'print what was written, the roles and notes as JSON (never the secrets)')
    .action(act(importer, (m, cli, file, o) => m.importCommand(cli, file, o)));

  program
    .command('hosts')
    .description("the servers of environments with host: (SSH)")
    .command('trust')
    .description("show the host key fingerprints of an environment's server and pin them in known_hosts ($LIFEOPS_SSH_KNOWN_HOSTS, else ~/.ssh/known_hosts)")
    .argument('<env>', 'the environment whose host: to trust')
    .option('--yes', 'pin without asking (after checking the fingerprints printed)')
    .option('--json', 'print the keys and fingerprints as JSON')
    .action(act(hosts, (m, cli, env, o) => m.hostsTrustCommand(cli, env, o)));

  program
    .command('render')
    .description('render every config file the stack needs')
    .addOption(envOption())
    .option('--out <dir>', 'output folder (default <state-dir>/render/<env>); refused when it holds files lifeops did not write')
    .option('--force', 'with --out: write into a folder that holds other files')
    .option('--json', 'print the list of files as JSON')
    .action(act(render, (m, cli, o) => m.renderCommand(cli, o)));

  program
    .command('validate')
    .description('render into a temporary folder and run every real validator on this machine over the files')
    .addOption(envOption())
    .option('--json', 'print the results as JSON on stdout')
    .option('--no-docker', 'skip validators that start containers')
    .option('--keep', 'keep the temporary render folder')
    .action(act(render, (m, cli, o) => m.validateCommand(cli, o)));

  program
    .command('plan')
    .description('services with their resource limits against the budget, published ports, domains, and the diff against the last deployed render')
    .addOption(envOption())
    .option('--json', 'print the plan as JSON on stdout')
    .option('--no-diff', 'list changed files without their diff lines')
    .action(act(render, (m, cli, o) => m.planCommand(cli, o)));

  program
    .command('deploy')
    .description('pre-flight, plan from what runs, then render, build, migrate, roll out and health-check an environment')
    .argument('<env>', 'environment to deploy (production, staging, local, ...)')
    .option('--version <version>', "app version (default $VERSION, else the stack's deploy.version)")
    .option('--build', 'rebuild local images even when present')
    .option('--dry-run', 'print the plan (per service: action and reason; the steps and their commands), change nothing')
    .option('--yes', 'skip confirmations')
    .option('--allow-dangerous-migrations', 'deploy even when new migrations contain dangerous patterns (drop_table, drop_column, execute( ...)')
    .option('--skip-backup', 'do not take the pre-deploy backup')
    .option('--json', 'print the result (with the plan) as JSON on stdout')
    .option('--wait <duration>', 'wait up to DURATION (30s, 5m) for another run holding the lock, instead of failing')
    .option('--maintenance', 'hold maintenance mode on (the nginx front answers 503) for the deploy, off at the end, also after a failure and its undo')
    .action(act(deploy, (m, cli, env, o) => m.deployCommand(cli, env, o)));

  program
    .command('health-check')
    .description('check containers, HTTP endpoints, Postgres and Redis; retried with backoff')
    .addOption(envOption())
    .option('--retries <n>', 'attempts before giving up', intArg('--retries'), 3)
    .option('--interval <seconds>', 'first wait between attempts (doubles each time)', intArg('--interval'), 2)
    .option('--json', 'print the report as JSON')
    .action(act(status, (m, cli, o) => m.healthCheckCommand(cli, o)));

  program
    .command('status')
    .description('services, endpoints, what users see through the front, backups and restore drills, the last deploy, locks, disks, TLS; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN')
    .addOption(envOption())
    .option('--json', 'print one JSON document on stdout (same as --format json)')
    .option('--quiet', 'print nothing when everything is OK (for cron)')
    .addOption(new Option('--format <format>', 'text, json, nagios (plugin line with perfdata) or prometheus (textfile-collector format)').choices(['text', 'json', 'nagios', 'prometheus']))
    .option('--textfile <dir>', "also write <dir>/lifeops-<project>.prom for node_exporter's textfile collector")
    .action(act(statusReport, (m, cli, o) => m.statusCommand(cli, o)));

  program
    .command('logs')
    .description("show a service's logs, or replay a past run's step log")
    .argument('[service]', 'service name (default: all)')
    .addOption(envOption())
    .option('--follow', 'keep streaming')
    .option('--tail <n>', 'lines from the end', intArg('--tail'))
    .option('--run <run-id>', 'replay the step log of a past run')
    .action(act(logs, (m, cli, service, o) => m.logsCommand(cli, service, o)));

  program
    .command('down')
    .description('stop and remove the stack (--volumes also deletes its data, after a verified backup kept out of retention until a newer one verifies)')
    .addOption(envOption())
    .option('--volumes', 'also delete named volumes (data!); a backup is taken and verified first, and nothing is removed if it fails')
    .option('--yes', 'do not ask for confirmation (not enough to delete the data of a production environment)')
    .option('--yes-delete-data <env>', "confirm deleting the data by naming the environment (for scripts; what a production environment needs instead of typing its name)")
    .option('--skip-backup', 'with --volumes: delete the data without the last backup')
    .option('--json', 'print what was done (the last backup: id, folder, verified row counts) as JSON')
    .option('--wait <duration>', 'wait up to DURATION (30s, 5m) for another run holding the lock, instead of failing')
    .action(act(down, (m, cli, o) => m.downCommand(cli, o)));

  program
    .command('prune')
    .description("remove the stack's images and stopped containers that no kept release (deploy.keep_releases) or backup refers to, and older releases' rendered files; only images carrying the stack's lifeops.stack label, never build cache")
    .addOption(envOption())
    .option('--dry-run', 'print what would be removed and why, change nothing')
    .option('--json', 'print the decision and what was removed as JSON')
    .option('--wait <duration>', 'wait up to DURATION (30s, 5m) for another run holding the lock, instead of failing')
    .action(act(pruneCmd, (m, cli, o) => m.pruneCommand(cli, o)));

  program
    .command('history')
    .description('deploys and rollbacks: who, when, version, duration, outcome')
    .addOption(envOption())
    .option('--json', 'print as JSON')
    .action(act(history, (m, cli, o) => m.historyCommand(cli, o)));

  const lock = program.command('lock').description('inspect or release deploy locks');
  lock
    .command('status')
    .option('--json', 'print as JSON')
    .action(act(history, (m, cli, o) => m.lockStatusCommand(cli, o)));
  lock
    .command('release')
    .argument('<lock-id>')
    .option('--force', 'release even a live lock (only after stopping its process)')
    .action(act(history, (m, cli, id, o) => m.lockReleaseCommand(cli, id, o)));

  program
    .command('backup')
    .description('back up Postgres, Redis, marked volumes and the release in force; then apply retention')
    .addOption(envOption())
    .option('--tag <text>', 'a label stored in the manifest')
    .option('--json', 'print the manifest summary as JSON')
    .option('--wait <duration>', 'wait up to DURATION (30s, 5m) for another run holding the lock, instead of failing')
    .action(act(backup, (m, cli, o) => m.backupCommand(cli, o)));

  const backups = program.command('backups').description('list, show and verify backups');
  backups
    .command('list')
    .addOption(envOption())
    .option('--json', 'print an array of {id, env, time, tag, size, verified, local, offsite}')
    .action(act(backup, (m, cli, o) => m.backupsListCommand(cli, o)));
  backups
    .command('show')
    .argument('<id>')
    .addOption(envOption())
    .action(act(backup, (m, cli, id, o) => m.backupsShowCommand(cli, id, o)));
  backups
    .command('verify')
    .argument('[id]', 'backup id (or --latest)')
    .option('--latest', 'verify the newest backup and record the restore drill for `status` (for cron)')
    .option('--offsite', "check each backup.offsite repository, reading back the next part of its data (restic check --read-data-subset)")
    .addOption(envOption())
    .option('--json', 'print the result as JSON')
    .action(act(backup, (m, cli, id, o) => m.backupsVerifyCommand(cli, id, o)));

  program
    .command('rollback')
    .description('restore a backup (data and release), or return to an earlier release (--release)')
    .argument('[backup]', 'backup id (data + release)')
    .option('--release <run-id>', "return to this release's images and rendered files, data untouched")
    .option('--to <time>', 'point-in-time recovery (backup.pitr): the database as it was at TIME, "2026-12-07 10:31:05" (UTC unless an offset is given)')
    .addOption(envOption())
    .option('--yes', 'do not ask for confirmation (production)')
    .option('--wait <duration>', 'wait up to DURATION (30s, 5m) for another run holding the lock, instead of failing')
    .option('--json', 'print the result as JSON')
    .option('--maintenance', 'hold maintenance mode on (the nginx front answers 503) for the rollback, off at the end')
    .action(act(backup, (m, cli, id, o) => m.rollbackCommand(cli, id, o)));

  program
    .command('restore')
    .description('disaster recovery onto this host: fetch an off-site copy (restic), verify it, restore Postgres, Redis and volumes, deploy the app at the backup\'s version, check health')
    .requiredOption('--from-offsite <latest|id>', "the copy: latest, a backup id or a restic snapshot id (from backup.offsite's repositories)")
    .option('--to <time>', 'backup.pitr: the database as it was at TIME, from the newest off-site base backup before it and the off-site WAL ("2026-12-07 10:31:05", UTC unless an offset is given)')
    .option('--repo <name>', 'only this backup.offsite repository (default: each in order)')
    .option('--replace-data', "this engine holds the project's data already: replace it (a safety backup of it is taken first)")
    .option('--version <version>', "app version to deploy (default: the backup's release)")
    .addOption(envOption())
    .option('--yes', 'do not ask for confirmation (production)')
    .option('--wait <duration>', 'wait up to DURATION (30s, 5m) for another run holding the lock, instead of failing')
    .option('--json', 'print the result as JSON')
    .action(act(restore, (m, cli, o) => m.restoreCommand(cli, o)));

  const offsiteCmd = program.command('offsite').description('copies in the backup.offsite repositories');
  offsiteCmd
    .command('push')
    .description('copy the backups still without an off-site copy, then (backup.pitr) the WAL archive; what the cron line of backup.pitr.offsite.schedule runs')
    .addOption(envOption())
    .option('--wait <duration>', 'wait up to DURATION (30s, 5m) for another run holding the lock, instead of failing')
    .option('--json', 'print what was copied and pushed per repository as JSON')
    .action(act(offsite, (m, cli, o) => m.offsitePushCommand(cli, o)));

  const certsCmd = program.command('certs').description("the front's certificates obtained through ACME (front.tls.acme): list them, renew them");
  certsCmd
    .command('list')
    .description('each TLS domain: issuer, not-after, days left, serial, the last renewal attempt and its result')
    .addOption(envOption())
    .option('--json', 'print the list as JSON')
    .action(act(certs, (m, cli, o) => m.certsListCommand(cli, o)));
  certsCmd
    .command('renew')
    .description('renew the certificates that are due (renew_before) or missing, then reload the front gracefully; what the cron line runs')
    .addOption(envOption())
    .option('--force', 'renew every certificate now, due or not (and ignore the backoff after failed attempts)')
    .option('--wait <duration>', 'wait up to DURATION (30s, 5m) for another run holding the lock, instead of failing')
    .option('--json', 'print the outcomes as JSON')
    .action(act(certs, (m, cli, o) => m.certsRenewCommand(cli, o)));

  const maint = program.command('maintenance').description('maintenance mode: the nginx front answers 503 with Retry-After and a page (JSON for Accept: application/json); health paths stay up');
  maint
    .command('on')
    .description('turn maintenance mode on (or change its message); no restart or reload of the front')
    .addOption(envOption())
    .option('--message <text>', 'the message the page shows (printable text, one line)')
    .option('--retry-after <seconds>', 'the Retry-After header, in seconds (default 300)')
    .option('--dry-run', 'print the files it would write, change nothing')
    .option('--json', 'print the result as JSON')
    .action(act(maintenance, (m, cli, o) => m.maintenanceOnCommand(cli, o)));
  maint
    .command('off')
    .description('turn maintenance mode off')
    .addOption(envOption())
    .option('--dry-run', 'say what it would remove, change nothing')
    .option('--json', 'print the result as JSON')
    .action(act(maintenance, (m, cli, o) => m.maintenanceOffCommand(cli, o)));
  maint
    .command('status')
    .description('whether maintenance mode is on, since when, with which message')
    .addOption(envOption())
    .option('--json', 'print as JSON')
    .action(act(maintenance, (m, cli, o) => m.maintenanceStatusCommand(cli, o)));

  program
    .command('cron')
    .description('print, --install into /etc/cron.d or --uninstall the backup, restore drill and status jobs')
    .addOption(envOption())
    .option('--install', 'write /etc/cron.d/lifeops-<project> (idempotent)')
    .option('--uninstall', 'remove /etc/cron.d/lifeops-<project>')
    .option('--run <job>', "run one job (backup, verify, status) between its dead-man's-switch pings (what the installed lines call)")
    .addOption(new Option('--cron-dir <dir>', 'the cron.d folder').default('/etc/cron.d').hideHelp())
    .action(act(cron, (m, cli, o) => m.cronCommand(cli, o)));
}
