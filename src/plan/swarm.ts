// Pure deciders for a Swarm target: which nodes may run a service (placement
// constraints against node labels), what pre-flight finds wrong, and whether
// a service has converged on its current spec.

import type { ServiceSpecFacts, SwarmNode, SwarmTask } from '../commands/swarm.js';
import type { StatusThresholds } from '../config/schema.js';
import { backupCheck, deployCheck, lockCheck, statusLimits, worstLevel, type BackupFacts, type Check, type Level, type LockFact, type ReleaseFact, type ServiceFact, type StatusFacts, type StatusReport } from './status.js';

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

// ---------------------------------------------------------------- status
/** What `status` saw of a swarm stack: nodes, services with their tasks, and the state dir's ledger, backups and lock. */
export interface SwarmStatusFacts {
  project: string;
  env: string;
  /** the clock of the run (ISO) */
  now: string;
  duration_ms: number;
  nodes: { hostname: string; role: string; state: string; availability: string }[];
  services: { service: string; running: number; expected: number; image: string; convergence: Convergence; tasks: SwarmTask[] }[];
  release?: ReleaseFact;
  /** the first successful deploy: backups are due from then */
  due_since?: string;
  backups: BackupFacts;
  lock: LockFact;
}

/** A service's level: converged OK, still updating or short of replicas WARNING, failed or none running CRITICAL. */
export function swarmServiceFact(s: SwarmStatusFacts['services'][number]): ServiceFact {
  const c = s.convergence;
  const down = s.expected > 0 && s.running === 0;
  const level: Level = c.state === 'failed' || down ? 'CRITICAL' : c.state === 'pending' ? 'WARNING' : 'OK';
  const message = c.state === 'converged' ? `${s.running}/${s.expected} tasks running on ${[...new Set(s.tasks.filter((t) => /^running/i.test(t.CurrentState)).map((t) => t.Node))].join(', ') || '-'}` : down && c.state !== 'failed' ? `no task running (${c.why})` : c.why;
  return {
    service: s.service,
    level,
    state: s.running > 0 ? 'running' : 'missing',
    // service ps shows task states, not Docker health; a task counts as running once its health check passed
    health: 'none',
    containers: s.running,
    expected: s.expected,
    image: s.image,
    restarts: s.tasks.filter((t) => /^(failed|rejected)/i.test(t.CurrentState) || Boolean(t.Error)).length,
    message,
  };
}

/** A node's check: down CRITICAL, drained or paused WARNING (its tasks moved or no new ones land there), ready and active OK. */
export function swarmNodeCheck(n: SwarmStatusFacts['nodes'][number]): Check {
  const base = { check: `node ${n.hostname}`, duration_ms: 0 };
  if (n.state !== 'ready') return { ...base, level: 'CRITICAL', message: `${n.role} node is ${n.state}` };
  if (n.availability !== 'active') return { ...base, level: 'WARNING', message: `${n.role} node is ready but ${n.availability}` };
  return { ...base, level: 'OK', message: `${n.role} node ready and active` };
}

/**
 * The swarm stack in the report shape of the compose target (plan/status.ts
 * StatusReport), so the text, JSON, Nagios and Prometheus outputs are the
 * same programs: services with levels, node checks, and the ledger's checks
 * that hold on both targets (backup freshness, last deploy, the lock).
 */
export function swarmStatusReport(f: SwarmStatusFacts, thresholds: StatusThresholds): StatusReport {
  const now = new Date(f.now);
  const limits = statusLimits(thresholds);
  const services = f.services.map(swarmServiceFact);
  const facts: StatusFacts = {
    project: f.project,
    env: f.env,
    now: f.now,
    duration_ms: f.duration_ms,
    engine: { ok: true, duration_ms: 0 },
    services,
    probes: [],
    ...(f.due_since ? { due_since: f.due_since } : {}),
    backups: f.backups,
    ...(f.release ? { release: f.release } : {}),
    lock: f.lock,
    disks: [],
    tls: [],
  };
  const checks: Check[] = [
    ...(f.services.length ? [] : [{ check: 'swarm stack', level: 'CRITICAL' as const, message: `stack ${f.project} has no services (not deployed?)`, duration_ms: 0 }]),
    ...f.nodes.map(swarmNodeCheck),
    backupCheck(facts, limits, now),
    deployCheck(facts, now),
    lockCheck(facts, limits, now),
  ];
  const level = worstLevel([...services.map((s) => s.level), ...checks.map((c) => c.level)]);
  const bad = [...services.filter((s) => s.level !== 'OK').map((s) => `${s.level} ${s.service}: ${s.message}`), ...checks.filter((c) => c.level !== 'OK').map((c) => `${c.level} ${c.check}: ${c.message}`)];
  const summary = bad.length
    ? `${f.project}: ${bad.slice(0, 3).join('; ')}${bad.length > 3 ? `; and ${bad.length - 3} more` : ''}`
    : `${f.project}: ${services.length}/${services.length} services converged on ${f.nodes.length} nodes, ${checks.length} checks OK`;
  return { project: f.project, env: f.env, time: f.now, level, summary, services, checks, limits, facts };
}
