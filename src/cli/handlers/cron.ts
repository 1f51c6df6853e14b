// `lifeops cron`: print, --install into /etc/cron.d (idempotent), --uninstall,
// and --run JOB, the wrapper the installed lines use for a job that has a
// dead-man's-switch URL (flows/cron.ts: ping, run the job, ping its exit code).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Cli } from '../context.js';
import type { Stack } from '../../config/schema.js';
import { UsageError } from '../../errors.js';
import { runCronJob } from '../../flows/cron.js';
import { realEffects } from '../../flows/effects.js';
import { checkCronInstall } from '../../flows/ownership.js';
import { placeOf, refuseUnhonoured } from '../../target/index.js';
import { appendPrivate, mkdirPrivate } from '../../util/private-files.js';
import { CRON_JOBS, cronFileName, renderCronD, type CronJob } from '../../render/cron.js';

export interface CronOptions {
  env?: string;
  install?: boolean;
  uninstall?: boolean;
  run?: string;
  cronDir?: string;
}

export async function cronCommand(cli: Cli, o: CronOptions): Promise<number> {
  if ([o.install, o.uninstall, o.run].filter(Boolean).length > 1) throw new UsageError('--install, --uninstall and --run go alone');
  const stack = cli.load(o.env, { allowMissing: !o.run });
  refuseUnhonoured(stack, 'cron', o);
  const self = cli.io.self ?? { node: 'node', script: 'lifeops' };
  const bin = path.resolve(self.script);
  const stateDir = cli.stateDir();
  const dir = o.cronDir ?? '/etc/cron.d';
  const file = path.join(dir, cronFileName(stack.project));
  if (o.run) return runJob(cli, stack, o.run, { node: self.node, bin }, stateDir);
  const text = renderCronD(stack, { node: self.node, bin, stateDir });
  if (o.uninstall) {
    if (!existsSync(file)) cli.err(`${file} is not there: nothing to remove`);
    else {
      rmSync(file);
      cli.err(`removed ${file}`);
    }
    return 0;
  }
  if (!o.install) {
    cli.out(text);
    return 0;
  }
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    // not installed yet
  }
  if (current === text) {
    cli.err(`${file} is up to date`);
    return 0;
  }
  await checkCronInstall(stack, stateDir, placeOf(stack), (t) => cli.err(t), cli.io.env.LIFEOPS_TAKE_OVER);
  mkdirSync(dir, { recursive: true });
  // the lines append to <state-dir>/logs/cron.log: without that folder the shell refuses the redirect and the job never starts
  // made here, private (0600 in a 0700 folder): the shell's `>>` keeps the mode of a file that exists, and cron's umask would make a new one readable by all
  mkdirPrivate(path.join(stateDir, 'logs'));
  appendPrivate(path.join(stateDir, 'logs', 'cron.log'), '');
  // cron reads cron.d files whole; a dot in the name keeps the draft out of its reach
  const tmp = path.join(dir, `.${cronFileName(stack.project)}.tmp-${process.pid}`);
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, file);
  cli.err(`${current === undefined ? 'installed' : 'updated'} ${file} (${text.split('\n').filter((l) => /^\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\//.test(l)).length} jobs for ${stack.project})`);
  return 0;
}

async function runJob(cli: Cli, stack: Stack, job: string, self: { node: string; bin: string }, stateDir: string): Promise<number> {
  if (!(CRON_JOBS as readonly string[]).includes(job)) throw new UsageError(`--run takes one of ${CRON_JOBS.join(', ')}, got "${job}"`);
  return runCronJob(cli.io, realEffects, stack, job as CronJob, self, stateDir);
}
