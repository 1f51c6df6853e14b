// `lifeops cron --run JOB`, the wrapper the installed cron lines use for a job
// that has a dead-man's-switch URL: ping URL/start?rid=RUN, run the job (this
// program again, as a child), ping URL/<exit code>?rid=RUN. The URL is read
// from the stack at run time and masked in everything printed.
import { randomUUID } from 'node:crypto';
import type { Stack } from '../config/schema.js';
import { ping } from '../clients/http.js';
import { cronJobArgs, type CronJob } from '../render/cron.js';
import { Redactor } from '../util/redact.js';
import { redactorFor, type IO } from './context.js';
import type { Effects } from './effects.js';

/** Runs one cron job (a change: the job backs up, prunes, renews) between its two pings; returns the job's exit code. */
export async function runCronJob(io: IO, effects: Effects, stack: Stack, job: CronJob, self: { node: string; bin: string }, stateDir: string): Promise<number> {
  const url = stack.cron.ping[job]?.replace(/\/+$/, '');
  const urls = url ? [url] : [];
  const stackRedactor = redactorFor(stack);
  const hide = new Redactor(urls);
  const redact = (t: string) => hide.text(stackRedactor.text(t));
  const rid = randomUUID();
  const say = (t: string) => io.stderr.write(`${io.now().toISOString()} cron ${job} ${rid}: ${redact(t)}\n`);
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
  const argv = [self.node, self.bin, '-f', stack.file, '--state-dir', stateDir, ...cronJobArgs(stack, job)];
  const r = await effects.change(argv, { env: { LIFEOPS_CRON_RUN_ID: rid }, allowFailure: true });
  if (r.stdout) io.stdout.write(redact(r.stdout) + '\n');
  if (r.stderr) io.stderr.write(redact(r.stderr) + '\n');
  await pingOnce(`/${r.exitCode}`);
  say(`exit ${r.exitCode}`);
  return r.exitCode;
}
