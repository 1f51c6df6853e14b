// Adoption: containers that plain compose started (no lifeops labels) and
// whose configuration is the one this release renders, lifeops' additions
// aside (render/compose-adopt.ts), are kept as they are instead of being
// recreated: a database, a cache or a hand-written front keeps running while
// lifeops moves in. Web services still roll (new containers beside the old,
// then the old stop): that is how they get lifeops' labels without a gap.
// The rest get lifeops' labels and log rotation at their next real change.
// Pure.
import type { RolloutPlan } from './rollout.js';
import type { ObservedContainer } from './rollout.js';

/** Started by plain compose (or anything but lifeops): no lifeops.stack label. */
export const adoptedContainer = (c: ObservedContainer): boolean => !c.labels['lifeops.stack'];

/** Some running container was not started by lifeops: worth computing the plain-compose hashes. */
export function adopting(containers: ObservedContainer[]): boolean {
  return containers.some((c) => c.state === 'running' && adoptedContainer(c));
}

/**
 * Move to `unchanged` every service planned for a recreate only because its
 * hash differs, whose containers all run, were started by plain compose and
 * carry the hash compose gives the plain form of this release's configuration.
 */
export function keepAdopted(plan: RolloutPlan, containers: ObservedContainer[], plainHashes: Record<string, string> | undefined): RolloutPlan {
  if (!plainHashes || plan.fresh) return plan;
  const keep = plan.recreate.filter((name) => {
    const decision = plan.decisions.find((d) => d.service === name);
    if (decision?.reason !== 'configuration changed') return false;
    const mine = containers.filter((c) => c.service === name);
    return mine.length > 0 && Boolean(plainHashes[name]) && mine.every((c) => c.state === 'running' && adoptedContainer(c) && c.labels['com.docker.compose.config-hash'] === plainHashes[name]);
  });
  if (!keep.length) return plan;
  return {
    ...plan,
    recreate: plan.recreate.filter((n) => !keep.includes(n)),
    unchanged: [...plan.unchanged, ...keep],
    decisions: plan.decisions.map((d) =>
      keep.includes(d.service) ? { ...d, action: 'keep', reason: "adopted: runs the configuration plain compose started it with (lifeops' labels and log rotation come with its next change)" } : d,
    ),
  };
}
