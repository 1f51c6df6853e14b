// lifeops deploy <env>
import chalk from 'chalk';
import type { Cli } from '../context.js';
import { LifeopsError } from '../../errors.js';
import { refuseUnhonoured } from '../../target/index.js';
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
  const target = await cli.target(stack);
  const run = cli.newRun(stack);
  // a remote environment: operators on other machines serialize on the server's lock too
  const releaseServerLock = o.dryRun ? undefined : await cli.remote?.lock('deploy', (l) => cli.err(l));
  try {
    const outcome = await target.deploy(run, {
      build: o.build,
      dryRun: o.dryRun,
      allowDangerousMigrations: o.allowDangerousMigrations,
      skipBackup: o.skipBackup,
      maintenance: o.maintenance,
      waitMs: cli.waitMs(o.wait),
      confirm: (q) => cli.confirm(q, o.yes),
    });
    cli.show(outcome, o.json, run.redactor);
    return 0;
  } catch (e) {
    if (e instanceof LifeopsError) cli.err(chalk.dim(`step log: ${run.logFile}`));
    throw e;
  } finally {
    releaseServerLock?.();
  }
}
