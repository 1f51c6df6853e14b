// lifeops schema, render, validate, plan: read-only commands over the stack and its rendered files.
import path from 'node:path';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { UsageError } from '../../errors.js';
import type { Cli } from '../context.js';
import { jsonSchema } from '../../config/schema.js';
import { renderStack, writeRendered, configHash, readRenderedDir, RENDER_MANIFEST } from '../../flows/render.js';
import { renderDir } from '../../state/paths.js';
import { buildPlan, formatPlan } from '../../plan/stack-plan.js';
import { validateStack, formatResult } from '../../flows/validate.js';
import { realEffects } from '../../flows/effects.js';

export function schemaCommand(cli: Cli): number {
  cli.json(jsonSchema());
  return 0;
}

export function renderCommand(cli: Cli, o: { env?: string; out?: string; json?: boolean; force?: boolean }): number {
  const stack = cli.load(o.env, { allowMissing: true });
  if (o.out !== undefined) checkOutDir(o.out, Boolean(o.force));
  const dir = o.out ?? renderDir(cli.stateDir(), stack.env);
  const files = renderStack(stack, dir);
  writeRendered(files, dir);
  if (o.json) cli.json({ env: stack.env, dir: path.resolve(dir), config_hash: configHash(files), files: files.map((f) => f.path) });
  else {
    for (const f of files) cli.err(`  ${f.path}`);
    cli.err(`rendered ${files.length} files for ${stack.project} into ${dir} (config ${configHash(files)})`);
  }
  return 0;
}

/**
 * `render --out DIR` writes where the operator says, so it refuses what would
 * hurt: an empty path (the current folder), the kernel's and devices'
 * folders, and a folder holding files lifeops did not write (its own leave a
 * manifest) unless --force.
 */
function checkOutDir(out: string, force: boolean): void {
  if (!out.trim()) throw new UsageError('--out is empty: it would render into the current folder', 'give a folder, e.g. --out /tmp/rendered');
  const abs = path.resolve(out);
  if (/^\/(proc|sys|dev)(\/|$)/.test(abs)) throw new UsageError(`--out ${abs}: not a place for rendered files`);
  if (!existsSync(abs) || force) return;
  if (!statSync(abs).isDirectory()) throw new UsageError(`--out ${abs} is a file, not a folder`);
  const entries = readdirSync(abs);
  if (entries.length && !entries.includes(RENDER_MANIFEST)) {
    throw new UsageError(`--out ${abs} holds files lifeops did not write (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}): they could be overwritten`, 'choose an empty or new folder, or add --force');
  }
}

export async function validateCommand(cli: Cli, o: { env?: string; json?: boolean; docker?: boolean; keep?: boolean }): Promise<number> {
  const stack = cli.load(o.env, { allowMissing: true });
  const t0 = Date.now();
  const report = await validateStack(stack, { effects: realEffects, docker: o.docker, keep: o.keep });
  const counts = { ok: 0, fail: 0, skipped: 0 };
  for (const r of report.results) counts[r.status === 'OK' ? 'ok' : r.status === 'FAIL' ? 'fail' : 'skipped']++;
  if (o.json) cli.json({ ...report, counts, ms: Date.now() - t0 });
  else {
    for (const r of report.results) cli.out(formatResult(r));
    cli.err(`${stack.project}: ${counts.ok} OK, ${counts.fail} FAIL, ${counts.skipped} SKIPPED in ${((Date.now() - t0) / 1000).toFixed(1)}s${o.keep ? ` (kept ${report.dir})` : ''}`);
  }
  return report.ok ? 0 : 1;
}

export function planCommand(cli: Cli, o: { env?: string; json?: boolean; diff?: boolean }): number {
  const stack = cli.load(o.env, { allowMissing: true });
  const dir = renderDir(cli.stateDir(), stack.env);
  const files = renderStack(stack, dir);
  const plan = buildPlan(stack, files, readRenderedDir(dir));
  if (o.json) cli.json(plan);
  else for (const l of formatPlan(plan, { diff: o.diff })) cli.out(l);
  return plan.errors.length ? 1 : 0;
}
