// lifeops down [--volumes]
import type { Cli } from '../context.js';
import { down } from '../../flows/down.js';
import { refuseUnhonoured } from './swarm.js';

export async function downCommand(cli: Cli, o: { env?: string; volumes?: boolean; yes?: boolean; wait?: string }): Promise<number> {
  const stack = cli.load(o.env, { allowMissing: true });
  refuseUnhonoured(stack, 'down', o);
  if (o.volumes) await cli.confirm(`delete ${stack.project} AND its volumes (all data)?`, o.yes);
  await down(stack, cli.newRun(stack), { stateDir: cli.stateDir(), volumes: Boolean(o.volumes), commandLine: cli.commandLine, waitMs: cli.waitMs(o.wait) });
  return 0;
}
