// lifeops prune [--dry-run] [--json]: the stack's images and stopped
// containers no kept release or backup refers to (flows/prune.ts).
import chalk from 'chalk';
import type { Cli } from '../context.js';
import { describePrune, prune } from '../../flows/prune.js';
import { lockAndRecover } from '../../flows/recover.js';
import { mb } from '../../plan/prune.js';
import { refuseUnhonoured } from '../../target/index.js';

interface PruneArgs {
  env?: string;
  dryRun?: boolean;
  json?: boolean;
  wait?: string;
}

export async function pruneCommand(cli: Cli, o: PruneArgs): Promise<number> {
  const stack = cli.load(o.env, { allowMissing: true });
  refuseUnhonoured(stack, 'prune', o);
  const run = cli.newRun(stack);
  // a dry run only reads: no lock, like deploy --dry-run
  const lock = o.dryRun ? undefined : await lockAndRecover(stack, run, { stateDir: cli.stateDir(), commandLine: cli.commandLine, waitMs: cli.waitMs(o.wait), title: 'take the lock' });
  try {
    const r = await prune(stack, run, { stateDir: cli.stateDir(), dryRun: o.dryRun });
    if (o.json) cli.json(r);
    else {
      for (const l of describePrune(r, Boolean(o.dryRun))) cli.err(l);
      const freed = r.free_before !== undefined && r.free_after !== undefined ? `; free space on the data root ${mb(r.free_before)} -> ${mb(r.free_after)}` : '';
      if (o.dryRun) cli.err(chalk.green(`dry run: ${r.images.length} image(s) (${mb(r.bytes)}) and ${r.containers.length} container(s) would be removed; nothing was changed`));
      else cli.err(chalk.green(`removed ${r.removed_images.length} image(s) (${mb(r.bytes)}), ${r.removed_containers.length} container(s)${freed}`));
    }
    return r.failed.length ? 1 : 0;
  } finally {
    lock?.release();
  }
}
