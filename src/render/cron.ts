// /etc/cron.d/lifeops-<project>: the backup, the restore drill, the status
// check and (front.tls.acme) the certificate renewal of one environment. Pure: the stack and where lifeops lives in, the
// file's text out. A job with a ping URL runs through `lifeops cron --run
// JOB`, which reads the URL from the stack when it runs: the URL (a secret
// for healthchecks-style services) is never written into this world-readable file.
import type { Stack } from '../config/schema.js';
import { pitrOn } from '../config/pitr-schema.js';

export const CRON_JOBS = ['backup', 'verify', 'status', 'renew'] as const;
export type CronJob = (typeof CRON_JOBS)[number];

export interface CronTarget {
  node: string;
  bin: string;
  stateDir: string;
}

/** run-parts, which cron uses for cron.d, ignores names with dots: lifeops-<project> has none. */
export const cronFileName = (project: string) => `lifeops-${project}`;

const q = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The lifeops arguments of a job (after the global options). */
export function cronJobArgs(stack: Stack, job: CronJob): string[] {
  if (job === 'backup') return ['backup', '--env', stack.env];
  if (job === 'verify') return ['backups', 'verify', '--latest', '--env', stack.env];
  // waits out a deploy holding the lock rather than skipping a renewal
  if (job === 'renew') return ['certs', 'renew', '--wait', '10m', '--env', stack.env];
  return ['status', '--quiet', '--env', stack.env, ...(stack.cron.textfile_dir ? ['--textfile', stack.cron.textfile_dir] : [])];
}

export function renderCronD(stack: Stack, t: CronTarget): string {
  const base = `${q(t.node)} ${q(t.bin)} -f ${q(stack.file)} --state-dir ${q(t.stateDir)}`;
  const log = q(`${t.stateDir}/logs/cron.log`);
  const line = (schedule: string, job: CronJob) => {
    const args = stack.cron.ping[job] ? ['cron', '--run', job, '--env', stack.env] : cronJobArgs(stack, job);
    return `${schedule} ${stack.cron.user} ${base} ${args.map(q).join(' ')} >> ${log} 2>&1`;
  };
  return [
    `# lifeops ${stack.project}: written by \`lifeops cron --install\`, removed by \`lifeops cron --uninstall\`.`,
    '# Generated: edit the stack file and install again rather than editing this file.',
    'SHELL=/bin/sh',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    line(stack.backup.schedule, 'backup'),
    line(stack.cron.verify_schedule, 'verify'),
    line(stack.cron.status_schedule, 'status'),
    // front.tls.acme: lifeops renews the nginx front's certificates (a traefik front renews its own)
    // backup.pitr with backup.offsite: the WAL archive pushed off-site between backups (bounds what a lost host loses)
    ...(walPushLine(stack) ? [`${walPushLine(stack)} ${stack.cron.user} ${base} ${['offsite', 'push', '--wait', '4m', '--env', stack.env].map(q).join(' ')} >> ${log} 2>&1`] : []),
    ...(stack.front?.tls.acme && stack.front.kind === 'nginx' && stack.front.domains.some((d) => d.tls ?? stack.front!.tls.enabled) ? [line(stack.cron.renew_schedule, 'renew')] : []),
    '',
  ].join('\n');
}

/** The schedule of `offsite push` when the WAL archive has somewhere to go, else undefined. */
function walPushLine(stack: Stack): string | undefined {
  const p = pitrOn(stack);
  return p && stack.postgres && !stack.postgres.external_url && stack.backup.offsite.length ? p.offsite.schedule : undefined;
}
