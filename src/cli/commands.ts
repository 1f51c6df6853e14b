// One function per command: parse its options, call the flow, print. Exit
// codes: 0 ok, 1 failed, 2 usage/stack error; status uses 0/1/2/3.
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { Command, Option } from 'commander';
import chalk from 'chalk';
import type { Cli } from './main.js';
import { UsageError, OperationError, LifeopsError } from '../errors.js';
import { renderStack, writeRendered, configHash, renderDirFor, composePaths } from '../flows/render.js';
import { deploy } from '../flows/deploy.js';
import { healthReport, LEVEL_EXIT, type HealthReport, type Level } from '../flows/health.js';
import { DockerClient } from '../clients/docker.js';
import { detectCompose, run as runCmd } from '../clients/runner.js';
import { composeDown, composeLogs } from '../commands/compose.js';
import { Lock, listLocks, releaseLock, describeLock } from '../state/lock.js';
import { readReleases } from '../state/ledger.js';
import { runLogFile } from '../state/paths.js';
import { redactorFor } from '../flows/context.js';
import { formatDuration } from '../util/units.js';
import { execa } from 'execa';
import { registerBackupCommands } from './backup-commands.js';
import { registerRenderCommands } from './render-commands.js';
import { statusCommand, type StatusOptions } from './status-command.js';

/** The exit code main() returns once the action is done (only bin/ calls process.exit). */
export const setExit = (program: Command, code: number) => {
  (program as unknown as { lifeopsExit?: number }).lifeopsExit = code;
};

const intArg = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new UsageError(`${name} must be a whole number, got "${v}"`);
  return Number(v);
};

export async function confirm(cli: Cli, question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw new UsageError(`${question} needs confirmation and there is no terminal to ask`, 'add --yes to confirm');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new OperationError('cancelled');
}

export function registerCommands(program: Command, cli: Cli): void {
  const envOption = () => new Option('--env <env>', 'environment (default: the stack\'s default_environment, else $LIFEOPS_ENV)');

  program
    .command('schema')
    .description('print the JSON Schema of the stack file')
    .action(() => cli.printSchema());

  program
    .command('render')
    .description('render every config file the stack needs')
    .addOption(envOption())
    .option('--out <dir>', 'output folder (default <state-dir>/render/<env>)')
    .option('--json', 'print the list of files as JSON')
    .action((o: { env?: string; out?: string; json?: boolean }) => {
      const stack = cli.load(o.env, { allowMissing: true });
      const dir = o.out ?? renderDirFor(cli.stateDir(), stack.env);
      const files = renderStack(stack, dir);
      writeRendered(files, dir);
      if (o.json) cli.json({ env: stack.env, dir: path.resolve(dir), config_hash: configHash(files), files: files.map((f) => f.path) });
      else {
        for (const f of files) cli.err(`  ${f.path}`);
        cli.err(`rendered ${files.length} files for ${stack.project} into ${dir} (config ${configHash(files)})`);
      }
    });

  program
    .command('deploy')
    .description('pre-flight, render, build, roll out and health-check an environment')
    .argument('<env>', 'environment to deploy (production, staging, local, ...)')
    .option('--version <version>', 'app version (default $VERSION, else the stack\'s deploy.version)')
    .option('--build', 'rebuild local images even when present')
    .option('--dry-run', 'print the steps and commands, change nothing')
    .option('--yes', 'skip confirmations')
    .option('--allow-dangerous-migrations', 'deploy even when new migrations contain dangerous patterns (drop_table, drop_column, execute( ...)')
    .option('--skip-backup', 'do not take the pre-deploy backup')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (env: string, o: { version?: string; build?: boolean; dryRun?: boolean; yes?: boolean; json?: boolean; allowDangerousMigrations?: boolean; skipBackup?: boolean }) => {
      const overrides: Record<string, string> = {};
      if (o.version) overrides.VERSION = o.version;
      const stack = cli.load(env, { overrides });
      if (!overrides.VERSION && !stack.vars.VERSION) stack.vars.VERSION = stack.deploy.version;
      const run = cli.newRun(stack);
      try {
        const result = await deploy(stack, run, {
          stateDir: cli.stateDir(),
          build: o.build,
          dryRun: o.dryRun,
          commandLine: ['lifeops', ...cli.argv].join(' '),
          allowDangerousMigrations: o.allowDangerousMigrations,
          skipBackup: o.skipBackup,
          confirm: (q) => confirm(cli, q, o.yes),
        });
        if (o.json) cli.json(result, run.redactor);
        else if (o.dryRun) cli.err(chalk.green(`dry run of ${stack.project} version ${result.version}: nothing was changed (run ${run.id})`));
        else cli.err(chalk.green(`deployed ${stack.project} version ${result.version} in ${formatDuration(result.duration_ms)} (run ${run.id})`));
      } catch (e) {
        if (e instanceof LifeopsError) cli.err(chalk.dim(`step log: ${run.logFile}`));
        throw e;
      }
    });

  program
    .command('health-check')
    .description('check containers, HTTP endpoints, Postgres and Redis; retried with backoff')
    .addOption(envOption())
    .option('--retries <n>', 'attempts before giving up', intArg('--retries'), 3)
    .option('--interval <seconds>', 'first wait between attempts (doubles each time)', intArg('--interval'), 2)
    .option('--json', 'print the report as JSON')
    .action(async (o: { env?: string; retries: number; interval: number; json?: boolean }) => {
      const stack = cli.load(o.env);
      const docker = new DockerClient();
      await docker.ping();
      let report: HealthReport | undefined;
      let wait = o.interval * 1000;
      for (let attempt = 1; attempt <= Math.max(1, o.retries); attempt++) {
        report = await healthReport(stack, docker, cli.io.now());
        if (report.level === 'OK') break;
        if (attempt < o.retries) {
          cli.err(`attempt ${attempt}/${o.retries}: ${report.level}; retrying in ${wait / 1000}s`);
          await new Promise((r) => setTimeout(r, wait));
          wait *= 2;
        }
      }
      printReport(cli, stack.project, report!, o.json, false, redactorFor(stack));
      setExit(program, report!.level === 'OK' ? 0 : 1);
    });

  program
    .command('status')
    .description('one line per service and check; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN')
    .addOption(envOption())
    .option('--json', 'print one JSON document on stdout (same as --format json)')
    .option('--quiet', 'print nothing when everything is OK (for cron)')
    .addOption(new Option('--format <format>', 'text, json, nagios (plugin line with perfdata) or prometheus (textfile-collector format)').choices(['text', 'json', 'nagios', 'prometheus']))
    .option('--textfile <dir>', "also write <dir>/lifeops-<project>.prom for node_exporter's textfile collector")
    .action(async (o: StatusOptions) => setExit(program, await statusCommand(cli, o)));

  program
    .command('logs')
    .description("show a service's logs, or replay a past run's step log")
    .argument('[service]', 'service name (default: all)')
    .addOption(envOption())
    .option('--follow', 'keep streaming')
    .option('--tail <n>', 'lines from the end', intArg('--tail'))
    .option('--run <run-id>', 'replay the step log of a past run')
    .action(async (service: string | undefined, o: { env?: string; follow?: boolean; tail?: number; run?: string }) => {
      if (o.run) {
        if (!/^[0-9TZ]+-[0-9a-f]{6}$/.test(o.run)) throw new UsageError(`not a run id: ${o.run}`, 'run ids look like 20261124T180000Z-a1b2c3; see `lifeops history`');
        const file = runLogFile(cli.stateDir(), o.run);
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch {
          throw new UsageError(`no step log for run ${o.run} (${file})`);
        }
        for (const line of text.split('\n').filter(Boolean)) {
          const e = JSON.parse(line);
          if (e.event === 'end') cli.out(`${e.end} ${e.outcome === 'ok' ? '✔' : '✘'} ${e.step} (${formatDuration(e.duration_ms)})${e.error ? ` — ${e.error}` : ''}`);
          else if (e.event === 'start') cli.out(`${e.start} ▶ ${e.step}`);
        }
        return;
      }
      const stack = cli.load(o.env, { allowMissing: true });
      if (service && !stack.services[service]) throw new UsageError(`no service "${service}" in ${stack.name}; services: ${Object.keys(stack.services).join(', ')}`);
      const compose = await detectCompose();
      const dir = renderDirFor(cli.stateDir(), stack.env);
      const files = renderStack(stack, dir);
      const argv = composeLogs(compose, { project: stack.project, files: composePaths(files, dir) }, { service, follow: o.follow, tail: o.tail ?? (o.follow ? 50 : 200) });
      const redactor = redactorFor(stack);
      const child = execa(argv[0], argv.slice(1), { reject: false, env: stack.vars, buffer: false });
      child.stdout?.on('data', (d: Buffer) => cli.io.stdout.write(redactor.text(d.toString())));
      child.stderr?.on('data', (d: Buffer) => cli.io.stderr.write(redactor.text(d.toString())));
      const r = await child;
      setExit(program, r.exitCode === 0 ? 0 : 1);
    });

  program
    .command('down')
    .description('stop and remove the stack (--volumes also deletes its data)')
    .addOption(envOption())
    .option('--volumes', 'also delete named volumes (data!)')
    .option('--yes', 'do not ask for confirmation')
    .action(async (o: { env?: string; volumes?: boolean; yes?: boolean }) => {
      const stack = cli.load(o.env, { allowMissing: true });
      if (o.volumes) await confirm(cli, `delete ${stack.project} AND its volumes (all data)?`, o.yes);
      const run = cli.newRun(stack);
      const lock = await run.step('take the lock', async () => Lock.acquire(cli.stateDir(), stack.env, ['lifeops', ...cli.argv].join(' '), cli.io.now()));
      try {
        const compose = await detectCompose();
        const dir = renderDirFor(cli.stateDir(), stack.env);
        const files = renderStack(stack, dir);
        writeRendered(files, dir);
        await run.step(`compose down${o.volumes ? ' --volumes' : ''}`, async () => {
          const r = await runCmd(composeDown(compose, { project: stack.project, files: composePaths(files, dir) }, Boolean(o.volumes)), { env: stack.vars });
          if (r.exitCode !== 0) throw new OperationError(`compose down failed: ${r.stderr.split('\n').slice(-5).join('\n')}`);
        });
      } finally {
        lock.release();
      }
    });

  program
    .command('history')
    .description('deploys and rollbacks: who, when, version, duration, outcome')
    .addOption(envOption())
    .option('--json', 'print as JSON')
    .action((o: { env?: string; json?: boolean }) => {
      const records = readReleases(cli.stateDir(), o.env);
      if (o.json) return cli.json(records);
      if (!records.length) return cli.err('no deploys recorded yet');
      for (const r of records) cli.out(`${r.time}  ${r.kind.padEnd(8)} ${r.env.padEnd(11)} ${r.version.padEnd(10)} ${r.outcome.padEnd(11)} ${formatDuration(r.duration_ms).padStart(7)}  ${r.user}  ${r.run_id}`);
    });

  const lock = program.command('lock').description('inspect or release deploy locks');
  lock
    .command('status')
    .option('--json', 'print as JSON')
    .action((o: { json?: boolean }) => {
      const locks = listLocks(cli.stateDir());
      if (o.json) return cli.json(locks);
      if (!locks.length) return cli.err('no locks held');
      for (const l of locks) cli.out(`${l.env}: ${describeLock(l)}${l.stale ? ` — STALE (process gone): lifeops lock release ${l.id}` : ''}`);
    });
  lock
    .command('release')
    .argument('<lock-id>')
    .option('--force', 'release even a live lock (only after stopping its process)')
    .action((id: string, o: { force?: boolean }) => {
      const l = releaseLock(cli.stateDir(), id, Boolean(o.force));
      cli.err(`released lock ${l.id} (${l.env}, ${describeLock(l)})`);
    });
  registerBackupCommands(program, cli);
  registerRenderCommands(program, cli);
}

function printReport(cli: Cli, project: string, report: HealthReport, json?: boolean, quiet?: boolean, redactor?: import('../util/redact.js').Redactor): void {
  if (json) {
    cli.json({ project, level: report.level, services: report.services, checks: report.checks }, redactor);
    return;
  }
  if (quiet && report.level === 'OK') return;
  const color = (l: Level) => (l === 'OK' ? chalk.green(l) : l === 'WARNING' ? chalk.yellow(l) : chalk.red(l));
  cli.out(`${project}: ${color(report.level)}`);
  for (const s of report.services) {
    cli.out(
      `  ${color(s.level).padEnd(8)} ${s.service.padEnd(16)} ${s.state.padEnd(9)} health=${s.health.padEnd(9)} up=${s.uptime_s !== undefined ? formatDuration(s.uptime_s * 1000) : '-'} restarts=${s.restarts} ${s.image ?? ''}${s.level !== 'OK' ? `  (${s.message})` : ''}`,
    );
  }
  for (const c of report.checks) cli.out(`  ${color(c.level).padEnd(8)} ${c.check.padEnd(30)} ${c.message} (${c.duration_ms}ms)`);
}
