// Recovery's part for `rollback --to` (decisions: plan/recovery-pitr.ts): the
// undo volumes a dead run left, read with its step log; putting one back into
// the database's data volume, or resetting the recovery settings of a
// database that was promoted; then removing the copy.
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { composeEnv, composeStart, composeStop, type ComposeTarget } from '../commands/compose.js';
import { copyVolumeArgv } from '../commands/pitr.js';
import { pitrProgressFromLog, type PitrUndoAction, type PitrUndoVolume } from '../plan/recovery-pitr.js';
import { readRunEvents } from '../state/runlog.js';
import { serviceContainer } from '../backup/containers.js';
import type { Run } from './context.js';
import { composePaths, readRenderedDir } from './render.js';
import { dataVolume, resetRecoverySettings, waitPromoted } from './pitr.js';

/** The label rollback --to gives its undo volume, naming its run. */
export const UNDO_RUN_LABEL = 'lifeops.run';

/** The project's undo volumes, each with what its run's log says (none when the stack has no Postgres of its own). */
export async function pitrUndoFacts(stack: Stack, run: Run, stateDir: string): Promise<{ volumes: PitrUndoVolume[]; dbService: string } | undefined> {
  const pg = stack.postgres;
  if (!pg || pg.external_url) return undefined;
  const r = await run.effects.read(['docker', 'volume', 'ls', '--filter', `label=lifeops.project=${stack.project}`, '--filter', 'label=lifeops.oneoff=pitr-undo', '--format', `{{.Name}}\t{{.Label "${UNDO_RUN_LABEL}"}}`]);
  if (r.exitCode !== 0) throw new OperationError(`docker volume ls failed: ${r.stderr.trim().split('\n').pop()}`);
  const volumes = r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l): PitrUndoVolume => {
      const [volume, owner = ''] = l.trim().split('\t');
      return { volume, run: owner || '(unknown)', ...pitrProgressFromLog(owner ? readRunEvents(stateDir, owner) : []) };
    });
  return volumes.length ? { volumes, dbService: pg.service } : undefined;
}

export async function actPitrUndo(stack: Stack, run: Run, a: PitrUndoAction, renderDir: string): Promise<void> {
  const pg = stack.postgres!;
  if (a.putBack) {
    const compose = await run.compose();
    const target: ComposeTarget = { project: stack.project, files: composePaths(readRenderedDir(renderDir), renderDir) };
    const env = composeEnv(stack);
    await run.effects.change(composeStop(compose, target, [pg.service]), { env, timeoutMs: 5 * 60_000 });
    const c = await serviceContainer(run.docker, stack, pg.service, false);
    await run.effects.change(copyVolumeArgv(c.imageId, stack.project, a.volume, await dataVolume(run.effects, c.id)), { timeoutMs: 60 * 60_000 });
    await run.effects.change(composeStart(compose, target, [pg.service]), { env, timeoutMs: 5 * 60_000 });
    // accepting connections, out of recovery: what the run's own work then talks to
    await waitPromoted(run, stack);
    run.info('apps', { started: [pg.service] });
  }
  if (a.resetRecovery) {
    const c = (await run.docker.projectContainers(stack.project)).find((x) => x.service === pg.service && x.state === 'running');
    if (c) {
      await resetRecoverySettings(run.effects, c.id, pg.user, pg.database);
    } else run.info('recovery', { not_running: pg.service, recovery_settings: 'left: ignored without recovery.signal' });
  }
  const rm = await run.effects.change(['docker', 'volume', 'rm', a.volume], { allowFailure: true, timeoutMs: 60_000 });
  if (rm.exitCode !== 0 && !/no such volume/i.test(rm.stderr)) throw new OperationError(`docker volume rm ${a.volume} failed: ${rm.stderr.trim().split('\n').pop()}`);
}
