// validate and plan: read-only commands over the rendered files.
import { Command, Option } from 'commander';
import type { Cli } from './main.js';
import { renderStack, renderDirFor, readRenderedDir } from '../flows/render.js';
import { buildPlan, formatPlan } from '../plan/stack-plan.js';
import { validateStack, formatResult } from '../validate/index.js';
import { setExit } from './commands.js';

export function registerRenderCommands(program: Command, cli: Cli): void {
  const envOption = () => new Option('--env <env>', "environment (default: the stack's default_environment, else $LIFEOPS_ENV)");

  program
    .command('validate')
    .description('render into a temporary folder and run every real validator on this machine over the files')
    .addOption(envOption())
    .option('--json', 'print the results as JSON on stdout')
    .option('--no-docker', 'skip validators that start containers')
    .option('--keep', 'keep the temporary render folder')
    .action(async (o: { env?: string; json?: boolean; docker?: boolean; keep?: boolean }) => {
      const stack = cli.load(o.env, { allowMissing: true });
      const t0 = Date.now();
      const report = await validateStack(stack, { docker: o.docker, keep: o.keep });
      const counts = { ok: 0, fail: 0, skipped: 0 };
      for (const r of report.results) counts[r.status === 'OK' ? 'ok' : r.status === 'FAIL' ? 'fail' : 'skipped']++;
      if (o.json) cli.json({ ...report, counts, ms: Date.now() - t0 });
      else {
        for (const r of report.results) cli.out(formatResult(r));
        cli.err(`${stack.project}: ${counts.ok} OK, ${counts.fail} FAIL, ${counts.skipped} SKIPPED in ${((Date.now() - t0) / 1000).toFixed(1)}s${o.keep ? ` (kept ${report.dir})` : ''}`);
      }
      if (!report.ok) setExit(program, 1);
    });

  program
    .command('plan')
    .description('services with their resource limits against the budget, published ports, domains, and the diff against the last deployed render')
    .addOption(envOption())
    .option('--json', 'print the plan as JSON on stdout')
    .option('--no-diff', 'list changed files without their diff lines')
    .action((o: { env?: string; json?: boolean; diff?: boolean }) => {
      const stack = cli.load(o.env, { allowMissing: true });
      const dir = renderDirFor(cli.stateDir(), stack.env);
      const files = renderStack(stack, dir);
      const plan = buildPlan(stack, files, readRenderedDir(dir));
      if (o.json) cli.json(plan);
      else for (const l of formatPlan(plan, { diff: o.diff })) cli.out(l);
      if (plan.errors.length) setExit(program, 1);
    });
}
