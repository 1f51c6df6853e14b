// lifeops health-check (status: handlers/status-report.ts)
import chalk from 'chalk';
import type { Cli } from '../context.js';
import { checkHealth, type HealthReport } from '../../flows/health.js';
import { redactorFor } from '../../flows/context.js';
import { formatDuration } from '../../util/units.js';
import { isPlaceholderImage, type Level } from '../../plan/status.js';
import type { Redactor } from '../../util/redact.js';
import { isSwarm, swarmHealthCommand } from './swarm.js';

export async function healthCheckCommand(cli: Cli, o: { env?: string; retries: number; interval: number; json?: boolean }): Promise<number> {
  const stack = cli.load(o.env);
  if (isSwarm(stack)) return swarmHealthCommand(cli, stack, o);
  const report = await checkHealth(stack, {
    now: () => cli.io.now(),
    retries: o.retries,
    intervalMs: o.interval * 1000,
    onRetry: (attempt, level, waitMs) => cli.err(`attempt ${attempt}/${o.retries}: ${level}; retrying in ${waitMs / 1000}s`),
  });
  printReport(cli, stack.project, report, o.json, false, redactorFor(stack));
  return report.level === 'OK' ? 0 : 1;
}

function printReport(cli: Cli, project: string, report: HealthReport, json?: boolean, quiet?: boolean, redactor?: Redactor): void {
  if (json) {
    cli.json({ project, level: report.level, services: report.services, checks: report.checks }, redactor);
    return;
  }
  if (quiet && report.level === 'OK') return;
  const color = (l: Level) => (l === 'OK' ? chalk.green(l) : l === 'WARNING' ? chalk.yellow(l) : chalk.red(l));
  cli.out(`${project}: ${color(report.level)}`);
  for (const s of report.services) {
    cli.out(
      `  ${color(s.level).padEnd(8)} ${s.service.padEnd(16)} ${s.state.padEnd(9)} health=${s.health.padEnd(9)} up=${s.uptime_s !== undefined ? formatDuration(s.uptime_s * 1000) : '-'} restarts=${s.restarts} ${s.image ?? ''}${isPlaceholderImage(s.image) ? '  [PLACEHOLDER]' : ''}${s.level !== 'OK' ? `  (${s.message})` : ''}`,
    );
  }
  for (const c of report.checks) cli.out(`  ${color(c.level).padEnd(8)} ${c.check.padEnd(30)} ${c.message} (${c.duration_ms}ms)`);
}
