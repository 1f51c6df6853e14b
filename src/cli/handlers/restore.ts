// lifeops restore --from-offsite latest|<id>: disaster recovery onto this host
import chalk from 'chalk';
import type { Cli } from '../context.js';
import { LifeopsError, UsageError } from '../../errors.js';
import { restoreFromOffsite } from '../../flows/disaster.js';
import { checkRecoveryInput } from '../../plan/disaster.js';
import { parseTargetTime } from '../../plan/pitr.js';
import { pitrOn } from '../../config/pitr-schema.js';
import { formatDuration } from '../../util/units.js';
import { refuseUnhonoured } from '../../target/index.js';

export interface RestoreArgs {
  fromOffsite?: string;
  to?: string;
  repo?: string;
  replaceData?: boolean;
  version?: string;
  env?: string;
  yes?: boolean;
  json?: boolean;
  wait?: string;
}

export async function restoreCommand(cli: Cli, o: RestoreArgs): Promise<number> {
  if (!o.fromOffsite) throw new UsageError('restore needs --from-offsite latest|<backup id>', 'a local backup is restored with `lifeops rollback <id>`');
  const stack = cli.load(o.env);
  refuseUnhonoured(stack, 'restore', o);
  // bad input exits 2 before a run (and its log) exists
  checkRecoveryInput(stack.env, stack.backup.offsite.map((r) => r.name), o.repo);
  if (o.to !== undefined) {
    parseTargetTime(o.to);
    if (!pitrOn(stack)) throw new UsageError(`restore --to needs backup.pitr, which environment ${stack.env} does not have on in ${stack.file}`, 'restore --from-offsite latest without --to restores the newest backup as it was taken');
  }
  const run = cli.newRun(stack);
  const started = Date.now();
  try {
    const r = await restoreFromOffsite(stack, run, {
      stateDir: cli.stateDir(),
      wanted: o.fromOffsite,
      ...(o.to !== undefined ? { to: o.to } : {}),
      repo: o.repo,
      replaceData: o.replaceData,
      version: o.version,
      commandLine: cli.commandLine,
      waitMs: cli.waitMs(o.wait),
      confirm: (q) => cli.confirm(q, o.yes),
      stackFor: (version) => {
        const again = cli.load(o.env, version ? { overrides: { VERSION: version } } : {});
        if (!again.vars.VERSION) again.vars.VERSION = again.deploy.version;
        return again;
      },
    });
    if (o.json) cli.json(r, run.redactor);
    else {
      const rows = r.databases.map((d) => `${d.name}: ${d.rows} rows in ${d.tables} tables${r.pitr ? '' : ', as the manifest says'}`).join('; ');
      if (r.pitr) cli.err(chalk.green(`the database replayed to ${r.pitr.to} from base backup ${r.backup} and the off-site WAL (snapshot ${r.pitr.wal_snapshot}; the off-site copies reach ${r.pitr.range.from} .. ${r.pitr.range.to})`));
      cli.err(chalk.green(`restored ${stack.project} (${stack.env}) from the off-site copy of backup ${r.backup} (${r.repo}, snapshot ${r.snapshot})${r.resumed ? ', finishing an interrupted recovery' : ''}; ${rows || 'no database'}; version ${r.deploy.version} deployed and healthy; ${formatDuration(Date.now() - started)} in all${r.safety_backup ? `; the data this engine held is in backup ${r.safety_backup}` : ''}`));
    }
    return 0;
  } catch (e) {
    if (e instanceof LifeopsError) cli.err(chalk.dim(`step log: ${run.logFile}`));
    throw e;
  }
}
