// Recovery first: a mutating command takes the environment lock (taking over
// the lock of a run that is provably dead, or waiting for a live one with
// --wait) and the project's engine-wide lock, checks that its state dir is in
// charge of the project (flows/ownership.ts), then finishes or undoes what a
// dead run left before its own work. The decisions are pure
// (src/plan/recovery.ts); each action here is a logged step. Everything runs
// with the lock held: no live run of this environment is changing anything
// meanwhile.
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import { composeEnv, composeStart, dockerStop, type ComposeTarget } from '../commands/compose.js';
import { backupDir, listTmp } from '../backup/catalog.js';
import { Lock, describeLock, describeTakeover, type Replaced } from '../state/lock.js';
import { endProcessesOfRun, markChildrenWithRun, processesOfRun } from '../clients/processes.js';
import { lastGoodRelease, recordCrashed } from '../state/ledger.js';
import { readRunEvents } from '../state/runlog.js';
import { renderDir as renderDirFor } from '../state/paths.js';
import { planRecovery, stoppedAppsFromLog, type DeadRun, type OneOffContainer, type RecoveryAction, type RecoveryFacts } from '../plan/recovery.js';
import { formatDuration, parseDuration } from '../util/units.js';
import type { Run } from './context.js';
import { composePaths, readRenderedDir, writeRendered, writeSecretFiles } from './render.js';
import { reloadFront } from './rollout.js';
import { holdProject } from './ownership.js';
import { actPitrUndo, pitrUndoFacts } from './recover-pitr.js';

export interface LockOptions {
  stateDir: string;
  commandLine: string;
  /** --wait: how long to wait for a live holder (ms); 0 or undefined: fail at once */
  waitMs?: number;
  title?: string;
  /** false: the flow traps SIGINT/SIGTERM itself (Run.trapSignals) and releases the lock */
  handleSignals?: boolean;
}

/** The environment lock, as a step: a dead holder's lock is taken over (and said so), a live one waited for up to waitMs. */
export async function takeLock(stack: Stack, run: Run, o: LockOptions): Promise<Lock> {
  const lock = await run.step(o.title ?? 'take the lock', () =>
    Lock.acquireWaiting(o.stateDir, stack.env, o.commandLine, () => run.io.now(), {
      run: run.id,
      waitMs: o.waitMs,
      handleSignals: o.handleSignals,
      onWait: (h) => run.say(`environment ${stack.env} is locked by ${describeLock(h)}: waiting up to ${formatDuration(o.waitMs ?? 0)}`),
    }),
  );
  // every docker and compose client this run starts carries the run id: should
  // this run die, the one that takes over finds those still running
  markChildrenWithRun(run.id);
  if (lock.replaced) {
    run.say(describeTakeover(lock.replaced));
    run.info('lock', { replaced: lock.replaced.lock, reason: lock.replaced.reason });
  }
  // one lock per project on the engine, whatever the state dir; and only the state dir in charge goes on
  try {
    await holdProject(stack, run, lock, { stateDir: o.stateDir, commandLine: o.commandLine, waitMs: o.waitMs });
  } catch (e) {
    lock.release();
    throw e;
  }
  return lock;
}

/** takeLock, then recover: what every mutating flow does before its own work. On a failed recovery the lock is let go. */
export async function lockAndRecover(stack: Stack, run: Run, o: LockOptions): Promise<Lock> {
  const lock = await takeLock(stack, run, o);
  try {
    await recover(stack, run, { stateDir: o.stateDir, replaced: lock.replaced });
  } catch (e) {
    lock.release();
    throw e;
  }
  return lock;
}

function deadRunOf(stateDir: string, replaced: Replaced | undefined): DeadRun | undefined {
  if (!replaced) return undefined;
  const l = replaced.lock;
  const events = l.run ? readRunEvents(stateDir, l.run) : [];
  const lastStep = events.filter((e) => e.event === 'start').pop()?.step;
  return { run: l.run, lock: l.id, command: l.command, reason: replaced.reason, stoppedApps: stoppedAppsFromLog(events), ...(lastStep ? { lastStep } : {}) };
}

/** Look at what a dead run may have left, decide, and act: each action one logged step. Returns the actions taken. */
export async function recover(stack: Stack, run: Run, o: { stateDir: string; replaced?: Replaced }): Promise<RecoveryAction[]> {
  const renderDir = renderDirFor(o.stateDir, stack.env);
  const bdir = backupDir(stack, o.stateDir);
  // the lock proves lifeops itself is gone, not the docker and compose clients
  // it had started: they may still be changing the stack. Let them end first.
  const deadId = o.replaced?.lock.run;
  const clients = deadId ? processesOfRun(deadId) : [];
  if (deadId && clients.length) {
    const list = clients.map((p) => `${p.pid} (${p.command.split(' ').slice(0, 3).join(' ')})`).join(', ');
    await run.step(`recovery: wait up to ${formatDuration(CLIENT_FINISH_MS)} for ${clients.length} client process${clients.length > 1 ? 'es' : ''} of run ${deadId} to end, then stop ${clients.length > 1 ? 'them' : 'it'}: ${list}`, async () => {
      const r = await endProcessesOfRun(deadId, CLIENT_FINISH_MS);
      run.info('recovery', { clients_of_dead_run: r.waited.map((p) => p.pid), signalled: r.signalled });
    });
  }
  const facts = await run.step('recovery: look for what a dead run left', async (): Promise<RecoveryFacts> => {
    const [containers, oneOffs, pitrUndo] = await Promise.all([run.docker.projectContainers(stack.project), run.docker.oneOffContainers(stack.project), pitrUndoFacts(stack, run, o.stateDir)]);
    const last = lastGoodRelease(o.stateDir, stack.env);
    return {
      project: stack.project,
      stack,
      containers,
      oneOffs: oneOffs.map(
        (c): OneOffContainer => ({
          id: c.id,
          name: c.name,
          state: c.state,
          kind: c.labels['lifeops.oneoff'] ? 'restore' : 'compose-run',
          ...(c.labels['com.docker.compose.service'] ? { service: c.labels['com.docker.compose.service'] } : {}),
        }),
      ),
      tmpFolders: listTmp(bdir, stack.project),
      deadRun: deadRunOf(o.stateDir, o.replaced),
      rendered: readRenderedDir(renderDir),
      ...(pitrUndo ? { pitrUndo } : {}),
      ...(last?.render_dir && existsSync(last.render_dir) ? { release: { run_id: last.run_id, version: last.version, files: readRenderedDir(last.render_dir) } } : {}),
    };
  });
  const actions = planRecovery(facts);
  run.info('recovery', actions.length ? actions.map((a) => a.title) : 'nothing left over');
  for (const a of actions) {
    await run.step(a.title, () => act(stack, run, a, { stateDir: o.stateDir, renderDir, backupDir: bdir, replaced: o.replaced, deadRun: facts.deadRun }));
    if (a.kind === 'restore-render' && a.reloadFront) {
      const compose = await run.compose();
      const target: ComposeTarget = { project: stack.project, files: composePaths(a.files, renderDir) };
      await reloadFront({ stack, run, docker: run.docker, compose, target, env: composeEnv(stack) }, `back to release ${a.release}`);
    }
  }
  return actions;
}

async function removeContainer(run: Run, id: string, graceSeconds: number): Promise<void> {
  await run.effects.change(dockerStop(id, graceSeconds), { timeoutMs: (graceSeconds + 60) * 1000, allowFailure: true });
  // a --rm container removes itself when it stops: "no such container" is the goal reached
  const r = await run.effects.change(['docker', 'rm', '-f', id], { timeoutMs: 60_000, allowFailure: true });
  if (r.exitCode !== 0 && !/No such container/i.test(r.stderr)) throw new OperationError(`docker rm ${id} failed: ${r.stderr.trim().split('\n').pop()}`);
}

/** How long the docker/compose clients a dead run left are given to end by themselves before they are stopped. */
const CLIENT_FINISH_MS = 30_000;

/** How long a one-off left running (a migration, a restore) is given to finish by itself before it is stopped. */
const ONE_OFF_FINISH_MS = 30_000;

async function act(
  stack: Stack,
  run: Run,
  a: RecoveryAction,
  o: { stateDir: string; renderDir: string; backupDir: string; replaced?: Replaced; deadRun?: DeadRun },
): Promise<void> {
  switch (a.kind) {
    case 'mark-crashed': {
      const events = a.run && o.replaced?.lock.run ? readRunEvents(o.stateDir, o.replaced.lock.run) : [];
      const lastEvent = events.map((e) => e.end ?? e.start).filter(Boolean).pop();
      const rec = recordCrashed(o.stateDir, o.replaced!.lock, { by: run.id, reason: o.replaced!.reason, lastEvent, lastStep: o.deadRun?.lastStep, now: run.io.now() });
      run.info('recovery', { crashed: a.run, recorded: Boolean(rec) });
      return;
    }
    case 'remove-oneoff': {
      const c = a.container;
      if (c.state === 'running') {
        // let a migration or restore end by itself (each is one transaction per file or database); stop it when it does not
        const deadline = Date.now() + ONE_OFF_FINISH_MS;
        for (;;) {
          const s = await run.docker.inspect(c.id).catch(() => undefined);
          if (!s || s.state !== 'running') break;
          if (Date.now() > deadline) {
            run.info('recovery', { stopping: c.name, after_ms: ONE_OFF_FINISH_MS });
            break;
          }
          await run.effects.sleep(500);
        }
      }
      await removeContainer(run, c.id, 10);
      return;
    }
    case 'remove-tmp':
      for (const f of a.folders) rmSync(path.join(o.backupDir, f), { recursive: true, force: true });
      return;
    case 'remove-surplus': {
      const svc = stack.services[a.service];
      const grace = Math.ceil(parseDuration(svc.stop_grace_period ?? '10s') / 1000);
      for (const c of a.remove) await removeContainer(run, c.id, grace);
      return;
    }
    case 'restore-render': {
      for (const s of a.stray) rmSync(path.join(o.renderDir, s), { force: true });
      writeRendered(a.files, o.renderDir);
      writeSecretFiles(stack, o.renderDir);
      return; // the front's reload is its own step, after this one
    }
    case 'pitr-undo':
      return actPitrUndo(stack, run, a, o.renderDir);
    case 'start-apps': {
      const compose = await run.compose();
      const files = composePaths(readRenderedDir(o.renderDir), o.renderDir);
      await run.effects.change(composeStart(compose, { project: stack.project, files }, a.services), { env: composeEnv(stack), timeoutMs: 5 * 60_000 });
      run.info('apps', { started: a.services });
      return;
    }
  }
}
