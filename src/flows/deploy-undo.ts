// The undo of a failed deploy, run once by the executor.
import { existsSync } from 'node:fs';
import { OperationError } from '../errors.js';
import type { ComposeTarget } from '../commands/compose.js';
import { composePaths, writeRendered, readRenderedDir } from './render.js';
import { reloadFront, rollApps, serviceHashes, upInfrastructure, type RolloutCtx } from './rollout.js';
import { describePlan, planRollout } from '../plan/rollout.js';
import { restoreBackup, safetyBackupWithAppsStopped } from './restore.js';
import { waitHealthy } from './wait.js';
import { reloadMonitoringBack } from './monitoring-reload.js';
import type { Changes, DeployInputs } from './deploy-types.js';

/**
 * The undo of a deploy, run once: back to the previous release's rendered
 * files (and so its images), rolling web services back without a gap; when
 * this deploy's migrations changed the database, Postgres is restored from the
 * pre-deploy backup after a safety backup. Returns what happened.
 */
export async function undoDeploy(d: DeployInputs, ctx: RolloutCtx, changes: Changes): Promise<string> {
  const { stack, run, opts, prev } = d;
  run.beginUndo();
  const lines: string[] = [];
  if (!prev?.render_dir || !existsSync(prev.render_dir)) {
    throw new OperationError(`no previous release with kept rendered files to return to${prev ? ` (release ${prev.run_id})` : ''}`);
  }
  const prevFiles = readRenderedDir(prev.render_dir);
  await run.step(`rollback: put back the rendered files of release ${prev.run_id} (version ${prev.version})`, async () => {
    writeRendered(prevFiles, d.renderDir);
    await run.effects.publishRendered?.(d.renderDir, prev.run_id);
  });
  const target: ComposeTarget = { project: stack.project, files: composePaths(prevFiles, d.renderDir) };
  const rctx: RolloutCtx = { ...ctx, target };
  if (changes.migrationsRan && changes.backupId) {
    const apps = Object.entries(stack.services)
      .filter(([, s]) => ['web', 'worker'].includes(s.role))
      .map(([n]) => n);
    const safety = await safetyBackupWithAppsStopped(stack, run, { stateDir: opts.stateDir, tag: 'safety-before-restore', compose: ctx.compose, target, apps });
    await restoreBackup(stack, run, { stateDir: opts.stateDir, id: changes.backupId, parts: ['postgres'] });
    lines.push(`database restored from the pre-deploy backup ${changes.backupId}; the data as it was at the failure is in safety backup ${safety.id}`);
  } else if (changes.migrationsRan) {
    lines.push('migrations ran but no pre-deploy backup was taken (--skip-backup or first deploy): the database was NOT restored');
  }
  const rplan = await run.step('rollback: compare with what runs', async () => planRollout(stack, await run.docker.projectContainers(stack.project), await serviceHashes(rctx, target)));
  run.say(`rollback plan: ${describePlan(rplan)}`);
  await upInfrastructure(rctx, rplan);
  await rollApps(rctx, rplan);
  if (stack.front && rplan.unchanged.includes(stack.front.service)) await reloadFront(rctx, 'back to the previous configuration');
  // a Prometheus or Alertmanager this deploy reloaded in place goes back to the previous files the same way
  const kept = new Set((await run.docker.projectContainers(stack.project)).filter((c) => rplan.unchanged.includes(c.service)).map((c) => c.id));
  await reloadMonitoringBack(rctx, d.files, prevFiles, kept, 'back to the previous configuration');
  await run.step('rollback: wait for every service to be healthy', () => waitHealthy(stack, run.docker, run.effects));
  lines.unshift(`rolled back to the previous release ${prev.run_id} (version ${prev.version}), which is serving`);
  if (changes.backupId && !changes.migrationsRan) lines.push(`pre-deploy backup: ${changes.backupId}`);
  return lines.join('\n');
}
