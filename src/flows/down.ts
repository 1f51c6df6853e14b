// `lifeops down`: stop and remove the stack under the environment's lock
// (with --volumes, its data too; the CLI asks first).
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { detectCompose, run as runCommand } from '../clients/runner.js';
import { composeDown, composeEnv } from '../commands/compose.js';
import { recover, takeLock } from './recover.js';
import { renderDir } from '../state/paths.js';
import { composePaths, renderStack, writeRendered } from './render.js';
import type { Run } from './context.js';

export async function down(stack: Stack, run: Run, opts: { stateDir: string; volumes: boolean; commandLine: string; waitMs?: number }): Promise<void> {
  // a dead run's lock is taken over (a live one is waited for with --wait, or
  // named), and what it left is finished or undone first, as every mutating
  // command does: its clients ended, its one-off containers and incomplete
  // backup folders removed, the run marked crashed. A down killed half-way is
  // recovered the same way by whatever command runs next.
  // A recovery that cannot finish does not keep the stack from going down:
  // compose down removes whatever the dead run left anyway.
  const lock = await takeLock(stack, run, { stateDir: opts.stateDir, commandLine: opts.commandLine, waitMs: opts.waitMs });
  try {
    await recover(stack, run, { stateDir: opts.stateDir, replaced: lock.replaced }).catch((e: Error) =>
      run.say(`warning: the recovery of what a dead run left did not finish (${run.redactor.text(e.message.split('\n')[0])}); compose down removes the stack anyway`),
    );
    const compose = await detectCompose();
    const dir = renderDir(opts.stateDir, stack.env);
    const files = renderStack(stack, dir);
    writeRendered(files, dir);
    await run.step(`compose down${opts.volumes ? ' --volumes' : ''}`, async () => {
      const r = await runCommand(composeDown(compose, { project: stack.project, files: composePaths(files, dir) }, opts.volumes), { env: composeEnv(stack) });
      if (r.exitCode !== 0) throw new OperationError(`compose down failed: ${r.stderr.split('\n').slice(-5).join('\n')}`);
    });
  } finally {
    lock.release();
  }
}
