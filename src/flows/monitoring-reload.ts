// A planned in-place reload of Prometheus or Alertmanager (plan/monitoring.ts):
// the program's own check of the new files inside the running container (a
// read: nothing changes if it refuses), then exactly the planned reload
// command through the effects port.
import { OperationError } from '../errors.js';
import { RELOADABLE, monitoringFilesChanged, planMonitoringReloads, type ReloadMonitoringStep } from '../plan/monitoring.js';
import type { RenderedFile } from '../render/types.js';
import type { RolloutCtx } from './rollout.js';

export async function reloadMonitoring(ctx: Pick<RolloutCtx, 'run' | 'docker'>, step: ReloadMonitoringStep): Promise<void> {
  await ctx.run.step(step.title, async () => {
    const check = await ctx.docker.exec(step.container, step.check, 60_000);
    if (check.exitCode !== 0) {
      const tail = check.output.trim().split('\n').slice(-8).join('\n');
      throw new OperationError(`${step.service} refuses the new configuration (\`${step.check.join(' ')}\` exit ${check.exitCode}); it keeps running the one it has:\n${tail}`, `fix the monitoring section of the stack file, then: lifeops render`);
    }
    ctx.run.info('monitoring', { service: step.service, check: check.output.trim().split('\n').slice(-4).join(' | ') });
    await ctx.run.effects.change(step.argv, { timeoutMs: 30_000 });
  });
}

/**
 * After the rendered files went back to another release's (a failed deploy's
 * undo, a rollback): reload in place each running Prometheus or Alertmanager
 * container that was kept (`kept` ids) and whose files differ between the two
 * sets, so it stops running what the files no longer say.
 */
export async function reloadMonitoringBack(ctx: Pick<RolloutCtx, 'stack' | 'run' | 'docker'>, from: RenderedFile[], to: RenderedFile[], kept: Set<string>, why: string): Promise<void> {
  const containers = (await ctx.docker.projectContainers(ctx.stack.project)).filter((c) => kept.has(c.id));
  const steps = planMonitoringReloads(ctx.stack, Object.keys(RELOADABLE), containers, monitoringFilesChanged(from, to));
  for (const step of steps) await reloadMonitoring(ctx, { ...step, title: `${step.title.replace(/ \([^)]*\)$/, '')} (${why})` });
}
