// lifeops deploy <env>
import chalk from 'chalk';
import type { Cli } from '../context.js';
import { LifeopsError, UsageError } from '../../errors.js';
import { deploy } from '../../flows/deploy.js';
import { formatDuration } from '../../util/units.js';
import { isSwarm, refuseUnhonoured, swarmDeployCommand } from './swarm.js';
import { refuseUnsupported } from '../../flows/maintenance.js';

export interface DeployArgs {
  version?: string;
  build?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
  allowDangerousMigrations?: boolean;
  skipBackup?: boolean;
  wait?: string;
  maintenance?: boolean;
}

export async function deployCommand(cli: Cli, env: string, o: DeployArgs): Promise<number> {
  const overrides: Record<string, string> = {};
  if (o.version) overrides.VERSION = o.version;
  const stack = cli.load(env, { overrides });
  if (!overrides.VERSION && !stack.vars.VERSION) stack.vars.VERSION = stack.deploy.version;
  refuseUnhonoured(stack, 'deploy', o);
  if (o.maintenance) refuseUnsupported(stack);
  if (isSwarm(stack) && stack.front?.tls.acme) {
    // the certificates live in this host's state dir and are bind-mounted into the front: a swarm front runs on a node of its own
    throw new UsageError(`${stack.file}: front.tls.acme is not honoured by environment ${stack.env} (target swarm): lifeops obtains certificates for the compose target's nginx front only; nothing was changed`, 'remove front.tls.acme from the swarm environment, or deploy it with target compose');
  }
  if (isSwarm(stack)) return swarmDeployCommand(cli, stack, o);
  const run = cli.newRun(stack);
  try {
    const result = await deploy(stack, run, {
      stateDir: cli.stateDir(),
      build: o.build,
      dryRun: o.dryRun,
      commandLine: cli.commandLine,
      allowDangerousMigrations: o.allowDangerousMigrations,
      skipBackup: o.skipBackup,
      maintenance: o.maintenance,
      waitMs: cli.waitMs(o.wait),
      confirm: (q) => cli.confirm(q, o.yes),
    });
    if (o.json) cli.json(result, run.redactor);
    else if (o.dryRun) cli.err(chalk.green(`dry run of ${stack.project} version ${result.version}: nothing was changed (run ${run.id})`));
    else cli.err(chalk.green(`deployed ${stack.project} version ${result.version} in ${formatDuration(result.duration_ms)} (run ${run.id})`));
    return 0;
  } catch (e) {
    if (e instanceof LifeopsError) cli.err(chalk.dim(`step log: ${run.logFile}`));
    throw e;
  }
}
