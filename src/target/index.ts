// The one place that asks which target a stack runs on. The CLI calls
// targetFor once per command and then only the Target's verbs; a new kind of
// target (a server over SSH) is one more module and one more line here.
// Each module loads only when chosen: `status` under cron on a compose host
// never loads the swarm flows, nor they the compose ones.
import type { Stack } from '../config/schema.js';
import { UnhonouredOptionError } from '../errors.js';
import { refusedOptions, type TargetKind } from '../plan/target-support.js';
import type { Target, TargetContext } from './types.js';

export type { Target, TargetContext, Outcome, Note, Listing, StatusView, HealthView } from './types.js';

export const targetKind = (stack: Stack): TargetKind => (stack.target === 'swarm' ? 'swarm' : 'compose');

const MODULES: Record<TargetKind, (stack: Stack, ctx: TargetContext) => Promise<Target>> = {
  compose: async (stack, ctx) => (await import('./compose.js')).composeTarget(stack, ctx),
  swarm: async (stack, ctx) => (await import('./swarm.js')).swarmTarget(stack, ctx),
};

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
