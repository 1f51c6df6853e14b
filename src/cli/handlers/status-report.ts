// `lifeops status`: text for people, --json for programs, --format nagios
// for NRPE/Icinga, --format prometheus or --textfile DIR for node_exporter's
// textfile collector. Exit codes per monitoring-plugins: 0 OK, 1 WARNING,
// 2 CRITICAL, 3 UNKNOWN (also when the stack file cannot be loaded).
import chalk from 'chalk';
import type { Cli } from '../context.js';
import { LifeopsError, UnhonouredOptionError, UsageError } from '../../errors.js';
import { StatusSession } from '../../flows/status.js';
import { redactorFor } from '../../flows/context.js';
import { Redactor } from '../../util/redact.js';
import { LEVEL_EXIT, type Level, type StatusReport } from '../../plan/status.js';
import { formatNagios } from '../status-nagios.js';
import { formatPrometheus } from '../status-prometheus.js';
import { writeTextfile } from '../status-textfile.js';
export { textfileName } from '../status-textfile.js';
import { formatDuration } from '../../util/units.js';

export const STATUS_FORMATS = ['text', 'json', 'nagios', 'prometheus'] as const;
export type StatusFormat = (typeof STATUS_FORMATS)[number];

export interface StatusOptions {
  env?: string;
  json?: boolean;
  quiet?: boolean;
  format?: string;
  textfile?: string;
}

const envSecrets = (env: Record<string, string | undefined>) =>
  Redactor.forVars(Object.fromEntries(Object.entries(env).filter((kv): kv is [string, string] => typeof kv[1] === 'string')), []);

function formatText(r: StatusReport): string {
  const color = (l: Level) => (l === 'OK' ? chalk.green(l) : l === 'WARNING' ? chalk.yellow(l) : chalk.red(l));
  const lines = [`${r.project}: ${color(r.level)}`];
  for (const s of r.services) {
    lines.push(
      `  ${color(s.level).padEnd(8)} ${s.service.padEnd(16)} ${s.state.padEnd(9)} health=${s.health.padEnd(9)} up=${s.uptime_s !== undefined ? formatDuration(s.uptime_s * 1000) : '-'} restarts=${s.restarts} ${s.image ?? ''}${s.placeholder ? '  [PLACEHOLDER]' : ''}${s.level !== 'OK' ? `  (${s.message})` : ''}`,
    );
  }
  for (const c of r.checks) lines.push(`  ${color(c.level).padEnd(8)} ${c.check.padEnd(30)} ${c.message} (${c.duration_ms}ms)`);
  return lines.join('\n') + '\n';
}

export async function statusCommand(cli: Cli, o: StatusOptions): Promise<number> {
  const format = (o.format ?? (o.json ? 'json' : 'text')) as StatusFormat;
  if (!STATUS_FORMATS.includes(format)) throw new UsageError(`--format must be one of ${STATUS_FORMATS.join(', ')}, got "${o.format}"`);
  let report: StatusReport;
  const session = new StatusSession(cli.io);
  try {
    // with --env (cron's lines pass it), the last run's engine calls start while the stack loads
    if (o.env) await session.startLastProbes(cli.stateDir(), o.env);
    const stack = cli.load(o.env, { parseCache: true });
    // a remote environment: what started early asked this machine's engine, not the server's
    if (cli.remote) session.close();
    // the swarm handler (and its flows, execa among them) loads only for a swarm stack
    if (stack.target === 'swarm') {
      const swarm = await import('./swarm.js');
      swarm.refuseUnhonoured(stack, 'status', o);
      return await swarm.swarmStatusCommand(cli, stack, o);
    }
    report = await session.gather(stack, cli.stateDir());
    const redactor = redactorFor(stack);
    if (o.textfile) writeTextfile(o.textfile, stack.project, redactor.text(formatPrometheus(report)));
    if (format === 'json') cli.json({ project: report.project, env: report.env, level: report.level, summary: report.summary, services: report.services, checks: report.checks, limits: report.limits, facts: report.facts }, redactor);
    else if (format === 'nagios') cli.io.stdout.write(redactor.text(formatNagios(report)));
    else if (format === 'prometheus') cli.io.stdout.write(redactor.text(formatPrometheus(report)));
    else if (!(o.quiet && report.level === 'OK')) cli.io.stdout.write(redactor.text(formatText(report)));
  } catch (e) {
    // a refused option is a usage error (exit 2), not a state of the stack
    if (!(e instanceof LifeopsError) || e instanceof UnhonouredOptionError) throw e;
    // the stack's secrets (env_files included) once it loaded; the process environment's always
    const message = envSecrets(cli.io.env).text(cli.stackRedactor ? cli.stackRedactor.text(e.message) : e.message);
    const msg = message.split('\n')[0].replace(/\|/g, '/');
    if (format === 'json') cli.json({ level: 'UNKNOWN', error: message });
    else if (format === 'nagios') cli.out(`UNKNOWN: ${msg}`);
    cli.err(`UNKNOWN: ${message}`);
    return LEVEL_EXIT.UNKNOWN;
  } finally {
    session.close(); // what the last run asked and this one did not
  }
  return LEVEL_EXIT[report.level];
}
