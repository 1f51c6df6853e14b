// The lock and the ledger belong to the target, not to the checkout. Every
// mutating run takes, besides its state dir's lock, the engine-wide lock of
// its project (state/engine-lock.ts), then looks at who is in charge of the
// project (plan/ownership.ts): a project whose containers carry another state
// dir's label is refused (exit 2, naming that state dir); a project with no
// labelled container is claimed by the deploy that labels its containers.
import { existsSync } from 'node:fs';
import type { Stack } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { DockerClient } from '../clients/docker.js';
import { acquireEngineLock, engineLockDir, engineSocket, prepareEngineLockDir, stateIdentity } from '../state/engine-lock.js';
import { describeLock, describeTakeover, type Lock } from '../state/lock.js';
import { refusal, takesOver, whoIsInCharge, TAKE_OVER_ENV, type Ownership, type StateRef } from '../plan/ownership.js';
import { realEffects } from './effects.js';
import { formatDuration } from '../util/units.js';
import type { PlaceObserver, ProjectPlace } from './place.js';
import type { Run } from './context.js';

/** The state dir a stack was loaded for (Cli.load sets it), else the one given. */
export const selfState = (stack: Stack, stateDir: string): StateRef => stack.owner ?? stateIdentity(stateDir);

/** The run as the ownership checks look through it: the place its target chose (Run.place) and what that place reads with. */
type Observer = PlaceObserver & { place: ProjectPlace };

/** Who is in charge of the stack's project, from the labels of what its target's place says carries them (containers, swarm services). */
export async function observeOwnership(stack: Stack, run: Observer, stateDir: string): Promise<{ self: StateRef; ownership: Ownership }> {
  const self = selfState(stack, stateDir);
  return { self, ownership: whoIsInCharge(self, await run.place.labelled(stack, run)) };
}

/** Refuses (exit 2) when another state dir is in charge of the project, unless `takeOver` names it. */
export async function assertInCharge(stack: Stack, run: Observer, stateDir: string, takeOver?: string): Promise<Ownership> {
  const { self, ownership } = await observeOwnership(stack, run, stateDir);
  if (ownership.kind === 'other' && !takesOver(ownership, takeOver)) {
    const r = refusal(stack.project, self, ownership, existsSync(ownership.owner.dir));
    throw new UsageError(r.message, r.hint);
  }
  return ownership;
}

/** `lock` lets go of `other` when it is released (by the flow, or by its own signal handler). */
function releaseWith(lock: Lock, other: Lock): void {
  const own = lock.release.bind(lock);
  lock.release = () => {
    try {
      other.release();
    } finally {
      own();
    }
  };
}

export interface EngineLockStepOptions {
  stateDir: string;
  commandLine: string;
  waitMs?: number;
}

/**
 * With the state dir's `lock` held: take the project's engine-wide lock (held
 * until `lock` is released), then check that this state dir is in charge.
 * On a refusal the engine-wide lock is let go (the caller releases `lock`).
 */
export async function holdProject(stack: Stack, run: Run, lock: Lock, o: EngineLockStepOptions): Promise<void> {
  const engineLock = await run.step(`take the lock of project ${stack.project} on this engine`, async () => {
    const engineKey = await run.place.engineKey(stack, run);
    const dir = engineLockDir(run.io.env);
    prepareEngineLockDir(dir, engineSocket(run.io.env));
    return acquireEngineLock({
      dir,
      engineKey,
      project: stack.project,
      env: stack.env,
      command: o.commandLine,
      stateDir: o.stateDir,
      now: () => run.io.now(),
      run: run.id,
      waitMs: o.waitMs,
      onWait: (h) => run.say(`project ${stack.project} on this engine is locked by ${describeLock(h)}: waiting up to ${formatDuration(o.waitMs ?? 0)}`),
    });
  });
  releaseWith(lock, engineLock);
  if (engineLock.replaced) {
    run.say(describeTakeover(engineLock.replaced));
    run.info('engine lock', { replaced: engineLock.replaced.lock, reason: engineLock.replaced.reason });
  }
  const takeOver = run.io.env[TAKE_OVER_ENV];
  const ownership = await run.step(`check that this state dir is in charge of project ${stack.project}`, () => assertInCharge(stack, run, o.stateDir, takeOver));
  run.info('ownership', { kind: ownership.kind, state: selfState(stack, o.stateDir), ...(ownership.kind === 'other' ? { taken_over_from: [ownership.owner, ...ownership.also] } : {}) });
  if (ownership.kind === 'other') {
    run.say(`${TAKE_OVER_ENV}: taking project ${stack.project} over from the state dir ${ownership.owner.dir}; its releases and backups stay there, a deploy from here relabels the containers`);
  }
}

/**
 * `cron --install` writes the jobs of the project (one file per project): from
 * a state dir that is not in charge it is refused. Without an engine to ask,
 * it is said and let be: every job it installs takes the lock and is refused
 * then.
 */
export async function checkCronInstall(stack: Stack, stateDir: string, place: ProjectPlace, say: (text: string) => void, takeOver?: string): Promise<void> {
  const docker = new DockerClient();
  try {
    await docker.ping(5000);
  } catch {
    say(`the Docker engine did not answer: cannot check which state dir is in charge of ${stack.project} (each job checks when it runs)`);
    return;
  }
  await assertInCharge(stack, { docker, env: {}, effects: realEffects, place }, stateDir, takeOver);
}
