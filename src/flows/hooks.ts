// Stack hooks (deploy.hooks.pre_deploy / post_deploy / on_failure): shell
// commands run with `sh -c` in the stack's folder, logged as steps, inside the
// lock. A hook may change anything: it runs through the port as a change.
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import type { Run } from './context.js';

export type HookKind = 'pre_deploy' | 'post_deploy' | 'on_failure';

export function hookEnv(stack: Stack, run: Run, version: string, extra: Record<string, string> = {}): Record<string, string> {
  return { LIFEOPS_ENV: stack.env, LIFEOPS_VERSION: version, LIFEOPS_RUN_ID: run.id, LIFEOPS_PROJECT: stack.project, ...extra };
}

/** Run every hook of a kind in order; the first failure throws (callers decide whether it is fatal). */
export async function runHooks(stack: Stack, run: Run, kind: HookKind, version: string, extra: Record<string, string> = {}): Promise<void> {
  const cmds = stack.deploy.hooks[kind];
  for (const [i, cmd] of cmds.entries()) {
    await run.step(`hook ${kind.replace('_', '-')} ${i + 1}/${cmds.length}: ${cmd}`, async () => {
      // stdin empty and closed: a hook that reads it ends instead of waiting
      const r = await run.effects.change(['sh', '-c', cmd], { cwd: stack.baseDir, env: hookEnv(stack, run, version, extra), timeoutMs: 10 * 60_000, input: '', allowFailure: true });
      const output = [r.stdout, r.stderr].filter((t) => t.trim()).join('\n').trim();
      if (output) run.info(`hook ${kind}`, { command: cmd, output: run.redactor.text(output.slice(-4000)) });
      if (r.exitCode !== 0) throw new OperationError(`${kind.replace('_', '-')} hook failed (exit ${r.exitCode}): ${cmd}${output ? `\n${output.split('\n').slice(-10).join('\n')}` : ''}`);
    });
  }
}
