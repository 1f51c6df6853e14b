// Pure rollout decisions: per service, keep its containers, roll it (web:
// new containers beside the old, then the old ones stop) or recreate it, each
// with the reason; and what the front's configuration is made of.
import { createHash, randomBytes } from 'node:crypto';
import type { Stack, Service } from '../config/schema.js';
import type { ComposeCli } from '../commands/compose.js';

/** What the planner needs to know of a running container (a subset of the engine's view). */
export interface ObservedContainer {
  id: string;
  name: string;
  service: string;
  state: string;
  health: string;
  imageId: string;
  labels: Record<string, string>;
}

export type ServiceAction = 'keep' | 'roll' | 'recreate' | 'create';

export interface ServiceDecision {
  service: string;
  role: string;
  action: ServiceAction;
  reason: string;
}

export interface RolloutPlan {
  unchanged: string[];
  /** web services replaced container by container */
  rolling: string[];
  /** services recreated (or created) by `up -d` */
  recreate: string[];
  /** nothing of this project runs yet */
  fresh: boolean;
  /** per service: what happens and why */
  decisions: ServiceDecision[];
}

/** Roles whose services start after migrations (the apps and the front). */
export const APP_ROLES: ReadonlySet<string> = new Set(['web', 'worker', 'front']);

/** Services a deploy runs: replicas above zero and no compose profile. */
export function expectedServices(stack: Pick<Stack, 'services'>): [string, Service][] {
  return Object.entries(stack.services).filter(([, s]) => s.replicas > 0 && !s.profiles?.length);
}

export function strategyOf(svc: Service): 'rolling' | 'recreate' {
  return svc.strategy ?? (svc.role === 'web' ? 'rolling' : 'recreate');
}

/** `compose config --hash '*'` output: one "service hash" line each. */
export function parseHashes(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^(\S+)\s+([0-9a-f]{16,})$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Why a service's running containers differ from what this release wants; undefined when they do not. */
function differs(name: string, replicas: number, all: ObservedContainer[], hashes: Record<string, string>, imageIds: Record<string, string | undefined>, rebuilt: ReadonlySet<string>, composeVersion?: string): string | undefined {
  const running = all.filter((c) => c.state === 'running');
  if (!all.length) return 'no container yet';
  if (running.length !== all.length) return `${all.length - running.length} of ${all.length} containers not running`;
  if (running.length !== replicas) return `${running.length} running, ${replicas} wanted`;
  if (!hashes[name]) return 'compose gave no configuration hash';
  if (running.some((c) => c.labels['com.docker.compose.config-hash'] !== hashes[name])) {
    // v1 and v2 hash the same configuration differently: say so rather than "changed"
    const made = running[0].labels['com.docker.compose.version'];
    const major = (v?: string) => v?.split('.')[0];
    if (made && composeVersion && major(made) !== major(composeVersion)) return `created by compose ${made}; compose ${composeVersion} hashes configurations differently`;
    return 'configuration changed';
  }
  if (rebuilt.has(name)) return 'its image is built by this deploy';
  if (imageIds[name] && running.some((c) => c.imageId !== imageIds[name])) return 'image changed';
  return undefined;
}

/**
 * Decide what each service needs. Compose recreates a container when its
 * configuration hash or its image changed; lifeops rolls web services instead
 * and leaves every other unchanged service's containers exactly as they are.
 */
export function planRollout(
  stack: Pick<Stack, 'services'>,
  containers: ObservedContainer[],
  hashes: Record<string, string>,
  imageIds: Record<string, string | undefined> = {},
  rebuilt: ReadonlySet<string> = new Set(),
  /** the compose implementation's version, to tell a switch between v1 and v2 from a change */
  composeVersion?: string,
  /** services the stack file does not list but its rendering adds (the monitoring override's): one container each, recreated on a change */
  monitoring: string[] = [],
): RolloutPlan {
  const plan: RolloutPlan = { unchanged: [], rolling: [], recreate: [], fresh: !containers.some((c) => c.state === 'running'), decisions: [] };
  for (const [name, svc] of expectedServices(stack)) {
    const all = containers.filter((c) => c.service === name);
    const why = differs(name, svc.replicas, all, hashes, imageIds, rebuilt, composeVersion);
    let action: ServiceAction;
    if (!why) action = 'keep';
    else if (strategyOf(svc) === 'rolling' && all.some((c) => c.state === 'running')) action = 'roll';
    else action = all.length ? 'recreate' : 'create';
    plan.decisions.push({ service: name, role: svc.role, action, reason: why ?? 'configuration and image unchanged' });
    if (action === 'keep') plan.unchanged.push(name);
    else if (action === 'roll') plan.rolling.push(name);
    else plan.recreate.push(name);
  }
  for (const name of monitoring) {
    const all = containers.filter((c) => c.service === name);
    const why = differs(name, 1, all, hashes, imageIds, rebuilt, composeVersion);
    const action: ServiceAction = !why ? 'keep' : all.length ? 'recreate' : 'create';
    plan.decisions.push({ service: name, role: 'monitoring', action, reason: why ?? 'configuration and image unchanged' });
    (action === 'keep' ? plan.unchanged : plan.recreate).push(name);
  }
  return plan;
}

export function describePlan(plan: Pick<RolloutPlan, 'rolling' | 'recreate' | 'unchanged'>): string {
  const parts = [];
  if (plan.rolling.length) parts.push(`rolling: ${plan.rolling.join(', ')}`);
  if (plan.recreate.length) parts.push(`up -d: ${plan.recreate.join(', ')}`);
  if (plan.unchanged.length) parts.push(`unchanged: ${plan.unchanged.join(', ')}`);
  return parts.join('; ') || 'nothing to do';
}

/**
 * A salted digest of everything compose's per-service hashes depend on: the
 * compose files' bytes, the values of the variables they reference (secrets
 * among them, hence the salt: the ledger must not allow guessing them), and
 * the compose implementation. Equal digests mean `config --hash` would print
 * what it printed last time, so deploy can skip running it.
 */
export function composeInputsDigest(files: { path: string; content: string }[], env: Record<string, string | undefined>, compose: ComposeCli, salt = randomBytes(8).toString('hex')): string {
  const h = createHash('sha256').update(`${salt}\0${compose.kind} ${compose.version}\0`);
  const names = new Set<string>();
  for (const f of files) {
    h.update(f.path).update('\0').update(f.content).update('\0');
    for (const m of f.content.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(m[1]);
  }
  for (const n of [...names].sort()) h.update(`${n}=${env[n] ?? '<unset>'}\0`);
  return `${salt}:${h.digest('hex')}`;
}

export function digestMatches(recorded: string | undefined, files: { path: string; content: string }[], env: Record<string, string | undefined>, compose: ComposeCli): boolean {
  const salt = recorded?.split(':')[0];
  return Boolean(salt) && composeInputsDigest(files, env, compose, salt) === recorded;
}

/** The rendered files the nginx front reads (nginx/**); empty for other fronts. */
export function frontFiles(stack: Pick<Stack, 'front'>, files: { path: string; content: string }[]): string {
  if (stack.front?.kind !== 'nginx') return '';
  return files
    .filter((f) => f.path.startsWith('nginx/'))
    .map((f) => `${f.path}\0${f.content}`)
    .sort()
    .join('\0');
}
