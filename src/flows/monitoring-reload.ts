// A planned in-place reload of Prometheus or Alertmanager (plan/monitoring.ts):
// the program's own check of the new files inside the running container (a
// read: nothing changes if it refuses), then exactly the planned reload
// command through the effects port.
import { OperationError } from '../errors.js';
import type { ReloadMonitoringStep } from '../plan/monitoring.js';
import type { RolloutCtx } from './rollout.js';

export async function reloadMonitoring(ctx: RolloutCtx, step: ReloadMonitoringStep): Promise<void> {
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
