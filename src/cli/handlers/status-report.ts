// `lifeops status`: text for people, --json for programs, --format nagios
// for NRPE/Icinga, --format prometheus or --textfile DIR for node_exporter's
// textfile collector. Exit codes per monitoring-plugins: 0 OK, 1 WARNING,
// 2 CRITICAL, 3 UNKNOWN (also when the stack file cannot be loaded).
import type { Cli } from '../context.js';
import { LifeopsError, UnhonouredOptionError, UsageError } from '../../errors.js';
import { StatusSession } from '../../flows/status.js';
import { redactorFor } from '../../flows/context.js';
import { Redactor } from '../../util/redact.js';
import { LEVEL_EXIT, type StatusReport } from '../../plan/status.js';
import { refuseUnhonoured } from '../../target/index.js';
import { formatNagios } from '../status-nagios.js';
import { formatPrometheus } from '../status-prometheus.js';
import { writeTextfile } from '../status-textfile.js';
export { textfileName } from '../status-textfile.js';

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
    refuseUnhonoured(stack, 'status', o);
    // the target's module (its flows, their clients) loads only now, and only the one the stack names
    const view = await (await cli.target(stack)).status(session);
    report = view.report;
    const redactor = redactorFor(stack);
    if (o.textfile) writeTextfile(o.textfile, stack.project, redactor.text(formatPrometheus(report)));
    if (format === 'json') cli.json(view.data, redactor);
    else if (format === 'nagios') cli.io.stdout.write(redactor.text(formatNagios(report)));
    else if (format === 'prometheus') cli.io.stdout.write(redactor.text(formatPrometheus(report)));
    else if (!(o.quiet && report.level === 'OK')) cli.io.stdout.write(redactor.text(view.text));
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
