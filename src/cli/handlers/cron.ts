// `lifeops cron`: print, --install into /etc/cron.d (idempotent), --uninstall,
// and --run JOB, the wrapper the installed lines use for a job that has a
// dead-man's-switch URL: ping URL/start?rid=RUN, run the job, ping
// URL/<exit code>?rid=RUN. The URL is read from the stack at run time and
// masked in everything printed.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Cli } from '../context.js';
import type { Stack } from '../../config/schema.js';
import { UsageError } from '../../errors.js';
import { ping } from '../../clients/http.js';
import { run as runCommand } from '../../clients/runner.js';
import { redactorFor } from '../../flows/context.js';
import { Redactor } from '../../util/redact.js';
import { refuseUnhonoured } from './swarm.js';
import { appendPrivate, mkdirPrivate } from '../../state/private.js';
import { CRON_JOBS, cronFileName, cronJobArgs, renderCronD, type CronJob } from '../../render/cron.js';

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
  const url = stack.cron.ping[job as CronJob]?.replace(/\/+$/, '');
  const urls = url ? [url] : [];
  const stackRedactor = redactorFor(stack);
  const hide = new Redactor(urls);
  const redact = (t: string) => hide.text(stackRedactor.text(t));
  const rid = randomUUID();
  const say = (t: string) => cli.err(`${cli.io.now().toISOString()} cron ${job} ${rid}: ${redact(t)}`);
  const pingOnce = async (suffix: string) => {
    if (!url) return;
    try {
      const status = await ping(`${url}${suffix}?rid=${rid}`);
      if (status >= 300) say(`ping ${url}${suffix} answered ${status}`);
    } catch (e) {
      say(`ping ${url}${suffix} failed: ${(e as Error).message}`);
    }
  };
  await pingOnce('/start');
  const argv = [self.node, self.bin, '-f', stack.file, '--state-dir', stateDir, ...cronJobArgs(stack, job as CronJob)];
  const r = await runCommand(argv, { env: { LIFEOPS_CRON_RUN_ID: rid } });
  if (r.stdout) cli.io.stdout.write(redact(r.stdout) + '\n');
  if (r.stderr) cli.io.stderr.write(redact(r.stderr) + '\n');
  await pingOnce(`/${r.exitCode}`);
  say(`exit ${r.exitCode}`);
  return r.exitCode;
}
