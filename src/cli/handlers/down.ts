// lifeops down [--volumes [--yes | --yes-delete-data ENV] [--skip-backup]]
//
// --volumes deletes the stack's data: asked first (--yes answers outside
// production); in a production environment the environment's name must be
// typed, or given with --yes-delete-data ENV in scripts (plain --yes is not
// enough there). The flow then takes, verifies and pins the last backup
// before it removes anything.
import { createInterface } from 'node:readline/promises';
import chalk from 'chalk';
import type { Cli } from '../context.js';
import type { Stack } from '../../config/schema.js';
import { UsageError } from '../../errors.js';
import { down } from '../../flows/down.js';
import { refuseUnhonoured } from '../../target/index.js';

interface DownCliOptions {
  env?: string;
  volumes?: boolean;
  yes?: boolean;
  wait?: string;
  skipBackup?: boolean;
  yesDeleteData?: string;
  json?: boolean;
}

/** The operator's go-ahead for deleting the data; throws: exit 2 on a wrong or missing environment name, exit 1 on a "no". */
async function confirmDeletion(cli: Cli, stack: Stack, o: DownCliOptions): Promise<void> {
  const env = stack.env;
  const what = `delete ${stack.project} AND its volumes (all data of ${env})${o.skipBackup ? ' WITHOUT a backup first' : ', after a verified backup'}`;
  if (o.yesDeleteData !== undefined) {
    if (o.yesDeleteData !== env) throw new UsageError(`--yes-delete-data names "${o.yesDeleteData}" but the environment is "${env}": nothing was deleted`, `--yes-delete-data ${env}`);
    return;
  }
  if (!stack.production) return cli.confirm(`${what}?`, o.yes);
  const stdin = cli.io.stdin;
  if (!stdin?.isTTY) {
    throw new UsageError(`environment ${env} is a production environment: deleting its data needs its name${o.yes ? ' (--yes is not enough)' : ''} and there is no terminal to type it`, `add --yes-delete-data ${env}`);
  }
  const rl = createInterface({ input: stdin, output: cli.io.stderr });
  const answer = await rl.question(`${what}? ${env} is a production environment: type its name to confirm: `);
  rl.close();
  if (answer.trim() !== env) throw new UsageError(`"${answer.trim()}" is not "${env}": nothing was deleted`);
}

export async function downCommand(cli: Cli, o: DownCliOptions): Promise<number> {
  const stack = cli.load(o.env, { allowMissing: true });
  refuseUnhonoured(stack, 'down', o);
  if (!o.volumes) {
    if (o.yesDeleteData !== undefined) throw new UsageError('--yes-delete-data confirms deleting the data: it goes with --volumes');
    if (o.skipBackup) throw new UsageError('--skip-backup goes with --volumes (without it no data is deleted, so no backup is taken)');
  }
  if (o.volumes) await confirmDeletion(cli, stack, o);
  const run = cli.newRun(stack);
  // a remote environment: the server's lock, shared with every mutating command from any operator
  const releaseServerLock = await cli.remote?.lock('down', (l) => cli.err(l));
  let last;
  try {
    ({ last } = await down(stack, run, { stateDir: cli.stateDir(), volumes: Boolean(o.volumes), commandLine: cli.commandLine, waitMs: cli.waitMs(o.wait), skipBackup: o.skipBackup }));
  } finally {
    releaseServerLock?.();
  }
  if (o.json) {
    cli.json({ project: stack.project, env: stack.env, volumes_deleted: Boolean(o.volumes), ...(last ? { last_backup: last } : {}) });
    return 0;
  }
  if (last?.kind === 'taken') {
    const rows = last.databases.map((d) => `${d.name}: ${d.rows} rows`).join(', ');
    cli.err(
      chalk.green(`last backup before deletion: ${last.id} (verified${rows ? `; ${rows}` : ''}), kept by retention until a newer backup verifies`) +
        `\n  in ${last.dir}\n  bring the data back: lifeops rollback ${last.id} --env ${stack.env}`,
    );
  }
  cli.err(`${stack.project} is down${o.volumes ? '; its volumes are deleted' : ''}`);
  return 0;
}
