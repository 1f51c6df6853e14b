// The one place that asks which target a stack runs on. The CLI calls
// targetFor once per command and then only the Target's verbs; a new kind of
// target (a server over SSH) is one more module and one more line here.
// Each module loads only when chosen: `status` under cron on a compose host
// never loads the swarm flows, nor they the compose ones.
import type { Stack } from '../config/schema.js';
import { UnhonouredOptionError, UsageError } from '../errors.js';
import { enginePlace, type ProjectPlace } from '../flows/place.js';
import { refusedOptions, type TargetKind } from '../plan/target-support.js';
import type { Target, TargetContext } from './types.js';

export type { Target, TargetContext, Outcome, Note, Listing, StatusView, HealthView } from './types.js';

export const targetKind = (stack: Stack): TargetKind => (stack.target === 'swarm' ? 'swarm' : 'compose');

const MODULES: Record<TargetKind, (stack: Stack, ctx: TargetContext) => Promise<Target>> = {
  compose: async (stack, ctx) => (await import('./compose.js')).composeTarget(stack, ctx),
  swarm: async (stack, ctx) => (await import('./swarm.js')).swarmTarget(stack, ctx),
};

const swarmPlace = () => import('../flows/swarm-common.js').then((m) => m.swarmPlace);
const PLACES: Record<TargetKind, ProjectPlace> = {
  compose: enginePlace,
  // the swarm flows load only when a swarm is asked, as its target module does
  swarm: { engineKey: async (stack, run) => (await swarmPlace()).engineKey(stack, run), labelled: async (stack, run) => (await swarmPlace()).labelled(stack, run) },
};

/** Where the stack's project lives for its target (the engine-wide lock's key, what carries the state labels): the CLI puts it on each run. */
export const placeOf = (stack: Stack): ProjectPlace => PLACES[targetKind(stack)];

/** An environment with `host:` runs compose on that server: a swarm there is refused (exit 2) before any connection. */
export function refuseSwarmOnHost(stack: Stack): void {
  if (targetKind(stack) === 'swarm') throw new UsageError(`environment ${stack.env} runs on ${stack.host}: host: and target: swarm cannot be combined`, 'a swarm names its managers in swarm.manager (ssh:// addresses work there)');
}

/** The target the stack's environment names, made once for the command. */
export function targetFor(stack: Stack, ctx: TargetContext): Promise<Target> {
  return MODULES[targetKind(stack)](stack, ctx);
}

/** Exit 2 before anything runs when the stack's target cannot honour an option given to `command`. */
export function refuseUnhonoured(stack: Stack, command: string, options: object): void {
  const refused = refusedOptions(targetKind(stack), command, options as Record<string, unknown>);
  if (!refused.length) return;
  const what = refused.map((r) => `${r.flag}: ${r.why}`).join('\n  ');
  throw new UnhonouredOptionError(`environment ${stack.env} (target ${stack.target}) cannot honour ${refused.length > 1 ? 'these' : 'this'}; nothing was changed:\n  ${what}`, 'drop the option, or use an environment with target compose');
}
