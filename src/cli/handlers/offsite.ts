// lifeops offsite push: the pending backup copies and the WAL archive to backup.offsite
import chalk from 'chalk';
import type { Cli } from '../context.js';
import { offsitePush } from '../../flows/offsite-push.js';
import { refuseUnhonoured } from '../../target/index.js';

export async function offsitePushCommand(cli: Cli, o: { env?: string; json?: boolean; wait?: string }): Promise<number> {
  const stack = cli.load(o.env);
  refuseUnhonoured(stack, 'offsite push', o);
  const run = cli.newRun(stack);
  const r = await offsitePush(stack, run, { stateDir: cli.stateDir(), commandLine: cli.commandLine, waitMs: cli.waitMs(o.wait) });
  if (o.json) cli.json(r, run.redactor);
  else {
    for (const c of r.copies) {
      if (c.failed) cli.err(chalk.yellow(`off-site ${c.repo}: backups NOT copied (${c.failed}); retried on the next push`));
      else if (c.copied.length || c.adopted.length) cli.err(chalk.green(`off-site ${c.repo}: copied ${[...c.adopted, ...c.copied].join(', ')}`));
    }
    for (const w of r.wal) {
      if (w.failed) cli.err(chalk.yellow(`WAL archive to ${w.repo}: NOT pushed (${w.failed}); retried on the next push`));
      else cli.err(chalk.green(`WAL archive to ${w.repo}: ${w.snapshot === 'unchanged' ? 'already there' : `pushed (snapshot ${w.snapshot})`}, up to ${w.newest_segment ?? 'no segment yet'}${w.reachable_until ? `, last commit ${w.reachable_until}` : ''}`));
    }
    if (!r.wal.length && !r.copies.some((c) => c.copied.length || c.failed)) cli.err('nothing to push');
  }
  return 0;
}
