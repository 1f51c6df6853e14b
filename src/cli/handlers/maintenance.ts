// lifeops maintenance on|off|status
import chalk from 'chalk';
import type { Cli } from '../context.js';
import { maintenanceOff, maintenanceOn, maintenanceState, refuseUnsupported, type MaintenanceResult } from '../../flows/maintenance.js';
import { refuseUnhonoured } from '../../target/index.js';

export interface MaintenanceArgs {
  env?: string;
  message?: string;
  retryAfter?: string;
  dryRun?: boolean;
  json?: boolean;
}

function loadFor(cli: Cli, o: MaintenanceArgs) {
  const stack = cli.load(o.env, { allowMissing: true });
  refuseUnhonoured(stack, 'maintenance', o);
  refuseUnsupported(stack);
  return stack;
}

const describe = (r: MaintenanceResult) =>
  r.on ? `maintenance mode is ON in ${r.env} since ${r.since ?? '?'} (by ${r.by ?? '?'}, Retry-After ${r.retry_after ?? '?'}s): ${r.message ?? ''}` : `maintenance mode is off in ${r.env}`;

export async function maintenanceOnCommand(cli: Cli, o: MaintenanceArgs): Promise<number> {
  const stack = loadFor(cli, o);
  const run = cli.newRun(stack);
  const r = await maintenanceOn(stack, run, { stateDir: cli.stateDir(), message: o.message, retryAfter: o.retryAfter, dryRun: o.dryRun, by: 'lifeops maintenance on' });
  if (o.json) cli.json(r);
  else if (o.dryRun) cli.err(chalk.green(`dry run: maintenance mode of ${stack.project} would be turned on; nothing was changed`));
  else cli.err(chalk.yellow(`${describe(r)}\n${r.front ?? ''}\nturn it off with: lifeops maintenance off --env ${stack.env}`));
  return 0;
}

export async function maintenanceOffCommand(cli: Cli, o: MaintenanceArgs): Promise<number> {
  const stack = loadFor(cli, o);
  const run = cli.newRun(stack);
  const r = await maintenanceOff(stack, run, { stateDir: cli.stateDir(), dryRun: o.dryRun });
  if (o.json) cli.json(r);
  else if (o.dryRun) cli.err(chalk.green(`dry run: nothing was changed`));
  else cli.err(chalk.green(`${r.unchanged ? 'maintenance mode was already off' : 'maintenance mode is off'} in ${stack.env}${r.front ? `; ${r.front}` : ''}`));
  return 0;
}

export function maintenanceStatusCommand(cli: Cli, o: MaintenanceArgs): number {
  const stack = loadFor(cli, o);
  const r = maintenanceState(stack, cli.stateDir());
  if (o.json) cli.json(r);
  else cli.out(describe(r));
  return 0;
}
