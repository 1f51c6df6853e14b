// The commands of an environment with `target: swarm`: the usual handlers
// hand over here once the stack is loaded (one line each in their files).
import chalk from 'chalk';
import type { Cli } from '../context.js';
import type { Stack } from '../../config/schema.js';
import { LifeopsError, UnhonouredOptionError, UsageError } from '../../errors.js';
import { refusedOptions } from '../../plan/target-support.js';
import { redactorFor } from '../../flows/context.js';
import { listSwarmBackups, readSwarmBackup } from '../../flows/swarm-backup.js';
import { swarmBackupFlow, swarmDeploy, swarmDeployPlan, swarmHealthCheck, swarmLogs, swarmRollback, swarmStatus } from '../../flows/swarm.js';
import { formatDuration } from '../../util/units.js';
import { swarmStatusReport } from '../../plan/swarm.js';
import { LEVEL_EXIT } from '../../plan/status.js';
import { formatNagios } from '../status-nagios.js';
import { formatPrometheus } from '../status-prometheus.js';
import { writeTextfile } from '../status-textfile.js';

export const isSwarm = (stack: Stack) => stack.target === 'swarm';

/** Exit 2 before anything runs when the stack's target cannot honour an option given to `command`. */
export function refuseUnhonoured(stack: Stack, command: string, options: object): void {
  const refused = refusedOptions(stack.target === 'swarm' ? 'swarm' : 'compose', command, options as Record<string, unknown>);
  if (!refused.length) return;
  const what = refused.map((r) => `${r.flag}: ${r.why}`).join('\n  ');
  throw new UnhonouredOptionError(`environment ${stack.env} (target ${stack.target}) cannot honour ${refused.length > 1 ? 'these' : 'this'}; nothing was changed:\n  ${what}`, 'drop the option, or use an environment with target compose');
}

export async function swarmDeployCommand(cli: Cli, stack: Stack, o: { json?: boolean; skipBackup?: boolean; wait?: string; yes?: boolean; allowDangerousMigrations?: boolean; dryRun?: boolean }): Promise<number> {
  const run = cli.newRun(stack);
  if (o.dryRun) {
    const plan = await swarmDeployPlan(stack, run, { stateDir: cli.stateDir(), commandLine: cli.commandLine, skipBackup: o.skipBackup, allowDangerousMigrations: o.allowDangerousMigrations });
    if (o.json) cli.json(plan, run.redactor);
    else cli.err(chalk.green(`dry run of ${stack.project} version ${plan.version} on a ${plan.nodes}-node swarm: nothing was changed (run ${run.id})`));
    return 0;
  }
  try {
    const r = await swarmDeploy(stack, run, {
      stateDir: cli.stateDir(),
      commandLine: cli.commandLine,
      waitMs: cli.waitMs(o.wait),
      skipBackup: o.skipBackup,
      allowDangerousMigrations: o.allowDangerousMigrations,
      confirm: (q) => cli.confirm(q, o.yes),
    });
    if (o.json) cli.json(r, run.redactor);
    else cli.err(chalk.green(`deployed ${stack.project} version ${r.version} to a ${r.nodes}-node swarm in ${formatDuration(r.duration_ms)}; converged in ${formatDuration(r.converge_ms)} (run ${run.id})`));
    return 0;
  } catch (e) {
    if (e instanceof LifeopsError) cli.err(chalk.dim(`step log: ${run.logFile}`));
    throw e;
  }
}

export async function swarmBackupCommand(cli: Cli, stack: Stack, o: { tag?: string; json?: boolean; wait?: string }): Promise<number> {
  const m = await swarmBackupFlow(stack, cli.newRun(stack), { stateDir: cli.stateDir(), commandLine: cli.commandLine, waitMs: cli.waitMs(o.wait), tag: o.tag });
  if (stack.backup.offsite.length) cli.err(chalk.yellow(`WARNING: backup.offsite is not applied to swarm backups yet: swarm backup ${m.id} stays on this host only`));
  if (o.json) cli.json(m);
  else cli.err(chalk.green(`swarm backup ${m.id}: ${Object.keys(m.files).join(', ') || 'no data'} (postgres on ${m.nodes.postgres ?? '-'}, redis on ${m.nodes.redis ?? '-'})`));
  return 0;
}

export async function swarmRollbackCommand(cli: Cli, stack: Stack, id: string | undefined, o: { json?: boolean; wait?: string; yes?: boolean }): Promise<number> {
  // without an id the compose target returns to the previous release and keeps the data; on swarm
  // a rollback always replaces the data, so it is never the default
  if (!id) throw new UsageError(`environment ${stack.env} (target swarm) rolls back to a backup only, data and release: give its id`, 'see `lifeops backups list --env ' + stack.env + '`');
  const r = await swarmRollback(stack, cli.newRun(stack), { stateDir: cli.stateDir(), commandLine: cli.commandLine, waitMs: cli.waitMs(o.wait), backup: id, confirm: (q) => cli.confirm(q, o.yes) });
  if (o.json) cli.json(r);
  else cli.err(chalk.green(`rolled ${stack.project} back to backup ${r.backup} (data and release, version ${r.version}); converged in ${formatDuration(r.converge_ms)}`));
  return 0;
}

/** `status` of a swarm stack: the compose target's report shape, so the same text, JSON, Nagios and Prometheus outputs. */
export async function swarmStatusCommand(cli: Cli, stack: Stack, o: { json?: boolean; format?: string; quiet?: boolean; textfile?: string }): Promise<number> {
  const st = await swarmStatus(stack, cli.newRun(stack));
  const report = swarmStatusReport(st.facts, stack.status);
  const level = report.level;
  const redactor = redactorFor(stack);
  if (o.textfile) writeTextfile(o.textfile, stack.project, redactor.text(formatPrometheus(report)));
  if (o.json || o.format === 'json') cli.json({ project: st.project, env: report.env, level, summary: report.summary, target: 'swarm', nodes: st.nodes, services: st.services, checks: report.checks, limits: report.limits, release: st.release }, redactor);
  else if (o.format === 'nagios') cli.io.stdout.write(redactor.text(formatNagios(report)));
  else if (o.format === 'prometheus') cli.io.stdout.write(redactor.text(formatPrometheus(report)));
  else if (!(o.quiet && level === 'OK')) {
    cli.out(`${st.project} (swarm, ${st.nodes.length} nodes): ${level}${st.release ? `  release ${st.release.version} (${st.release.run_id})` : ''}`);
    for (const n of st.nodes) cli.out(`  node ${n.hostname.padEnd(14)} ${n.role.padEnd(8)} ${n.state.padEnd(6)} ${n.availability}`);
    for (const s of st.services) cli.out(`  ${s.service.padEnd(24)} ${s.replicas.padEnd(5)} ${s.state.padEnd(10)} ${s.image}  on ${s.tasks.map((t) => t.node).join(', ') || '-'}${s.detail ? `  (${s.detail})` : ''}`);
    for (const c of report.checks) if (!c.check.startsWith('node ')) cli.out(`  ${c.level.padEnd(8)} ${c.check}: ${c.message}`);
  }
  return LEVEL_EXIT[level];
}

export async function swarmHealthCommand(cli: Cli, stack: Stack, o: { json?: boolean; retries?: number; interval?: number }): Promise<number> {
  const run = cli.newRun(stack);
  const attempts = Math.max(1, o.retries ?? 1);
  let wait = (o.interval ?? 2) * 1000;
  let r = await swarmHealthCheck(stack, run);
  for (let attempt = 1; !r.ok && attempt < attempts; attempt++) {
    cli.err(`attempt ${attempt}/${attempts}: CRITICAL; retrying in ${wait / 1000}s`);
    await new Promise((done) => setTimeout(done, wait));
    wait *= 2;
    r = await swarmHealthCheck(stack, run);
  }
  if (o.json) cli.json(r, redactorFor(stack));
  else cli.out(`${stack.project}: ${r.ok ? chalk.green('OK') : chalk.red('CRITICAL')}${r.url ? ` (${r.url})` : ''}${r.problems.map((p) => `\n  ${p}`).join('')}`);
  return r.ok ? 0 : 1;
}

export async function swarmLogsCommand(cli: Cli, stack: Stack, service: string | undefined, o: { tail?: number }): Promise<number> {
  cli.io.stdout.write((await swarmLogs(stack, cli.newRun(stack), service, o.tail ?? 200)) + '\n');
  return 0;
}

export function swarmBackupsList(cli: Cli, stack: Stack, o: { json?: boolean }): number {
  const list = listSwarmBackups(cli.stateDir(), stack.env).map((m) => ({ id: m.id, env: m.env, time: m.time, tag: m.tag, size: Object.values(m.files).reduce((n, f) => n + f.size, 0), target: 'swarm' as const }));
  if (o.json) cli.json(list);
  else if (!list.length) cli.err(`no swarm backups for ${stack.env}`);
  else for (const b of list) cli.out(`${b.id}  ${b.env.padEnd(11)} ${b.time}  ${String(b.size).padStart(12)} B  ${b.tag ?? ''}`);
  return 0;
}

export function swarmBackupShow(cli: Cli, stack: Stack, id: string): number {
  cli.json(readSwarmBackup(cli.stateDir(), stack.env, id).manifest);
  return 0;
}
