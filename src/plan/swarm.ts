// Pure deciders for a Swarm target: which nodes may run a service (placement
// constraints against node labels), what pre-flight finds wrong, and whether
// a service has converged on its current spec.

import type { ServiceSpecFacts, SwarmNode, SwarmTask } from '../commands/swarm.js';

/** Does a node satisfy one constraint ("node.labels.k == v", "node.role != manager", "node.hostname == x")? */
export function satisfies(node: SwarmNode, constraint: string): boolean {
  const m = /^node\.([A-Za-z0-9_.-]+?) *(==|!=) *(\S+)$/.exec(constraint.trim());
  if (!m) return true; // unknown kinds (engine labels, platform): Swarm decides, we do not guess
  const [, key, op, want] = m;
  let have: string | undefined;
  if (key.startsWith('labels.')) have = node.labels[key.slice('labels.'.length)];
  else if (key === 'role') have = node.role;
  else if (key === 'hostname') have = node.hostname;
  else if (key === 'id') have = node.id;
  else return true;
  return op === '==' ? have === want : have !== want;
}

/** The nodes that may run a task with these constraints (ready and active ones only). */
export function eligibleNodes(nodes: SwarmNode[], constraints: string[]): SwarmNode[] {
  return nodes.filter((n) => n.state === 'ready' && n.availability === 'active' && constraints.every((c) => satisfies(n, c)));
}

export interface PreflightFacts {
  isManager: boolean;
  nodes: SwarmNode[];
  /** service -> image and constraints, from the stack file about to be deployed */
  services: { name: string; image: string; constraints: string[] }[];
  /** node hostname -> image -> present; absent hostname: lifeops has no engine address for it */
  images: Record<string, Record<string, boolean>>;
}

/** Everything that would make `docker stack deploy` fail or hang, as messages; empty when fine. */
export function swarmPreflightProblems(f: PreflightFacts): string[] {
  const out: string[] = [];
  if (!f.isManager) return ['the engine in swarm.manager is not a Swarm manager (run `docker swarm init` there, or name a manager)'];
  for (const n of f.nodes) if (n.state !== 'ready') out.push(`node ${n.hostname} is ${n.state}`);
  for (const s of f.services) {
    const nodes = eligibleNodes(f.nodes, s.constraints);
    if (!nodes.length) {
      out.push(`no ready node satisfies the placement of ${s.name} (${s.constraints.join(', ')}): label a node, e.g. \`docker node update --label-add ${labelHint(s.constraints)} <node>\``);
      continue;
    }
    for (const n of nodes) {
      const have = f.images[n.hostname];
      if (!have) out.push(`node ${n.hostname} may run ${s.name} but swarm.nodes names no engine for it: lifeops cannot check its images`);
      else if (!have[s.image]) out.push(`image ${s.image} (service ${s.name}) is missing on node ${n.hostname}: load it there (\`docker save ${s.image} | docker -H <node> load\`) or push it to a registry the nodes use`);
    }
  }
  return out;
}

function labelHint(constraints: string[]): string {
  const m = constraints.map((c) => /^node\.labels\.(\S+?) *== *(\S+)$/.exec(c.trim())).find(Boolean);
  return m ? `${m[1]}=${m[2]}` : 'KEY=VALUE';
}

export type Convergence = { state: 'converged' } | { state: 'pending'; why: string } | { state: 'failed'; why: string };

/**
 * Has a service converged on its spec: the update (if any) completed, and
 * exactly `replicas` tasks meant to run are running the spec's image?
 * Swarm rolling the service back itself (failure_action: rollback) is a failure.
 */
export function serviceConvergence(spec: ServiceSpecFacts, tasks: SwarmTask[]): Convergence {
  if (spec.updateState === 'rollback_started' || spec.updateState === 'rollback_completed' || spec.updateState === 'rollback_paused' || spec.updateState === 'paused') {
    return { state: 'failed', why: `${spec.name}: update ${spec.updateState.replace('_', ' ')}${spec.updateMessage ? ` (${spec.updateMessage})` : ''}` };
  }
  const meant = tasks.filter((t) => t.DesiredState.toLowerCase() === 'running');
  const running = meant.filter((t) => /^running/i.test(t.CurrentState));
  const current = running.filter((t) => sameImage(t.Image, spec.image));
  if (spec.updateState === 'updating') return { state: 'pending', why: `${spec.name}: updating (${current.length}/${spec.replicas} on the new spec)` };
  if (current.length === spec.replicas && meant.length === spec.replicas) return { state: 'converged' };
  const err = meant.find((t) => t.Error)?.Error;
  return { state: 'pending', why: `${spec.name}: ${current.length}/${spec.replicas} running${err ? ` (${err})` : ''}` };
}

/** Service specs carry `image:tag@sha256:...` when resolved; tasks may print either form. */
export function sameImage(a: string, b: string): boolean {
  return a.split('@')[0] === b.split('@')[0];
}
