// The deploy plan, as data: from what was observed (running containers,
// compose's hashes, image ids, the last release, new migrations) to the list
// of steps a deploy takes, each with the exact command where there is one,
// and per service the action and its reason. Pure. `deploy --dry-run` prints
// this plan; a real deploy hands the same plan to the executor.
import type { Stack } from '../config/schema.js';
import { composeRun, composeScale, composeStartAsIs, composeUp, composeUpNoDeps, dockerRm, dockerStop, shellQuote, type ComposeCli, type ComposeTarget } from '../commands/compose.js';
import { stopGraceSeconds } from '../config/grace.js';
import { keepAdopted } from './adopt.js';
import { APP_ROLES, expectedServices, planRollout, type ObservedContainer, type RolloutPlan, type ServiceDecision } from './rollout.js';
import { monitoringServices, planMonitoringReloads, type ReloadMonitoringStep } from './monitoring.js';
import { tlsDomains } from './certs.js';

export interface PlannedBuild {
  image: string;
  /** the services that run this image */
  services: string[];
  argv: string[];
  /** the image is already in the engine */
  present: boolean;
}

export interface DeployFacts {
  stack: Stack;
  version: string;
  configHash: string;
  renderDir: string;
  fileCount: number;
  compose: ComposeCli;
  target: ComposeTarget;
  containers: ObservedContainer[];
  hashes: Record<string, string>;
  /** where the hashes came from: the last release (same inputs) or compose itself */
  hashesFrom: 'release' | 'compose';
  imageIds: Record<string, string | undefined>;
  builds: PlannedBuild[];
  prev?: { run_id: string; version: string; config_hash: string };
  /** the front's rendered configuration differs from the last release's ('unknown': no release to compare with) */
  frontChanged: boolean | 'unknown';
  /** per reloadable monitoring service (plan/monitoring.ts RELOADABLE): its mounted files differ from the last release's; absent: unknown */
  monitoringChanged?: Record<string, boolean | 'unknown'>;
  /** migration files not applied by an earlier release; undefined when the stack has no migrations */
  newMigrations?: string[];
  /** the datastores (see datastores()) with a named volume of theirs in the engine: data kept even where no container is */
  storedData?: string[];
  options: { build?: boolean; skipBackup?: boolean };
  /** adoption: compose's hashes of the plain form of the rendered files (see render/compose-adopt.ts); set when containers not started by lifeops run */
  plainHashes?: Record<string, string>;
}

export type DeployStep =
  | { kind: 'hooks'; title: string; phase: 'pre_deploy' | 'post_deploy'; commands: string[] }
  | { kind: 'start-data'; title: string; services: string[]; argv: string[] }
  | { kind: 'backup'; title: string; reason: string }
  | { kind: 'render'; title: string; dir: string; files: number }
  | { kind: 'build'; title: string; image: string; argv: string[] }
  | { kind: 'up-infra'; title: string; services: string[]; argv: string[] }
  | { kind: 'wait-infra'; title: string }
  | { kind: 'migrate'; title: string; service: string; argv: string[]; newFiles: number }
  | RollStep
  | { kind: 'up-apps'; title: string; services: string[]; argv: string[]; besideRoll?: boolean }
  | { kind: 'reload-front'; title: string; service: string; reason: string }
  | { kind: 'up-monitoring'; title: string; services: string[]; argv: string[] }
  | ReloadMonitoringStep
  | { kind: 'wait-healthy'; title: string }
  | { kind: 'checks'; title: string; smoke: boolean }
  | { kind: 'certificates'; title: string; domains: string[] }
  | { kind: 'record'; title: string }
  | { kind: 'retention'; title: string }
  | { kind: 'prune'; title: string; keep_releases: number }
  | { kind: 'notify'; title: string; targets: string[] };

/**
 * Replacing one web service's containers without a gap, every command fixed
 * in advance: `argv` starts `want` new containers beside the running ones;
 * once they are healthy and ready (and the front had time to see them), each
 * old container is stopped and removed (`retire`), then compose is scaled
 * back (`scaleBack`). The executor runs exactly these.
 */
export interface RollStep {
  kind: 'roll';
  title: string;
  service: string;
  argv: string[];
  /** the containers found for the service (every state), each with its stop and remove commands */
  retire: { id: string; name: string; running: boolean; stop: string[]; rm: string[] }[];
  /**
   * Only when none of the old containers runs (they are then left as they
   * are): compose back to `want`. Otherwise every old container is removed,
   * the new ones are exactly `want`, and compose keeps no scale of its own:
   * there is nothing to scale back.
   */
  scaleBack?: string[];
  /** seconds given to a container to stop after SIGTERM */
  grace_s: number;
}

/** The roll of one service from what runs now (the deploy's plan and the undo's both use it). */
export function planRoll(stack: Stack, compose: ComposeCli, target: ComposeTarget, name: string, containers: ObservedContainer[]): RollStep {
  const mine = containers.filter((c) => c.service === name);
  const running = mine.filter((c) => c.state === 'running').length;
  const want = Math.max(1, stack.services[name].replicas);
  const grace = stopGraceSeconds(stack.services[name]);
  return {
    kind: 'roll',
    title: `roll ${name}: ${want} new beside ${running} running, then stop the old`,
    service: name,
    argv: composeScale(compose, target, name, running + want),
    retire: mine.map((c) => ({ id: c.id, name: c.name, running: c.state === 'running', stop: dockerStop(c.id, grace), rm: dockerRm(c.id) })),
    ...(running ? {} : { scaleBack: composeScale(compose, target, name, want) }),
    grace_s: grace,
  };
}

export interface DeployPlan {
  project: string;
  env: string;
  version: string;
  config_hash: string;
  compose: string;
  hashes_from: 'release' | 'compose';
  previous_release?: string;
  services: ServiceDecision[];
  /** things decided that need no step (no backup needed, migrations up to date ...) */
  notes: string[];
  steps: DeployStep[];
  /** the rollout decisions the executor works from */
  rollout: Pick<RolloutPlan, 'unchanged' | 'rolling' | 'recreate' | 'fresh'>;
}

/** The services a backup reads through their running container: the Postgres service (unless external) and the Redis one. */
export function datastores(stack: Pick<Stack, 'postgres' | 'redis' | 'services'>): string[] {
  const names = [...(stack.postgres && !stack.postgres.external_url ? [stack.postgres.service] : []), ...(stack.redis ? [stack.redis.service] : [])];
  return [...new Set(names)].filter((n) => stack.services[n] && expectedServices(stack).some(([e]) => e === n));
}

/** A datastore with no running (or restarting) container, and why: its container is stopped, it has none but its volume is kept, or it has neither (a new, empty one). */
export interface DataToStart {
  service: string;
  state: 'stopped' | 'volume kept' | 'new';
}

/**
 * The datastores a backup or a restore needs started, from the project's
 * containers and the datastores whose named volume is in the engine. `fresh`:
 * one with neither counts too (a restore fills it); else it is left alone.
 */
export function datastoresToStart(stack: Pick<Stack, 'postgres' | 'redis' | 'services'>, containers: Pick<ObservedContainer, 'service' | 'state'>[], storedData: string[] = [], fresh = false): DataToStart[] {
  return datastores(stack).flatMap((service): DataToStart[] => {
    const mine = containers.filter((c) => c.service === service);
    if (mine.some((c) => c.state === 'running' || c.state === 'restarting')) return [];
    if (mine.length) return [{ service, state: 'stopped' }];
    if (storedData.includes(service)) return [{ service, state: 'volume kept' }];
    return fresh ? [{ service, state: 'new' }] : [];
  });
}

const WHY: Record<DataToStart['state'], string> = { stopped: 'stopped', 'volume kept': 'no container, its volume kept', new: 'no container and no data yet: a new one' };
/** "db: stopped; cache: no container, its volume kept" */
export const dataToStartWhy = (start: DataToStart[]) => start.map((d) => `${d.service}: ${WHY[d.state]}`).join('; ');

/** `name` depends on one of `others`, directly or through its own dependencies. */
export function dependsOnAny(stack: Pick<Stack, 'services'>, name: string, others: string[], seen = new Set<string>()): boolean {
  if (seen.has(name)) return false;
  seen.add(name);
  return Object.keys(stack.services[name]?.depends_on ?? {}).some((dep) => others.includes(dep) || dependsOnAny(stack, dep, others, seen));
}

export function planDeploy(f: DeployFacts): DeployPlan {
  const { stack } = f;
  const steps: DeployStep[] = [];
  const notes: string[] = [];
  const builds = f.builds.filter((b) => !b.present || f.options.build);
  const rebuilt = new Set(builds.flatMap((b) => b.services));
  const monitoring = monitoringServices(stack).map((m) => m.service);
  const rollout = keepAdopted(planRollout(stack, f.containers, f.hashes, f.imageIds, rebuilt, f.compose.version, monitoring), f.containers, f.plainHashes);
  const anyContainer = f.containers.length > 0;

  if (stack.deploy.hooks.pre_deploy.length) steps.push({ kind: 'hooks', title: 'hooks: pre-deploy', phase: 'pre_deploy', commands: stack.deploy.hooks.pre_deploy });

  if (!stack.backup.before_deploy) notes.push('no pre-deploy backup (backup.before_deploy is off)');
  else if (f.options.skipBackup) notes.push('pre-deploy backup skipped (--skip-backup)');
  else if (!anyContainer && !f.storedData?.length) notes.push('no running stack yet and no data kept: no pre-deploy backup needed');
  else if (f.prev?.config_hash === f.configHash && f.containers.some((c) => c.state === 'running')) notes.push('configuration unchanged since the last release: no pre-deploy backup needed');
  else {
    // the backup reads the datastores through their running containers: one a
    // dead run (a killed `down`) left stopped, or removed with its volume kept,
    // is started first as it was (--no-recreate: its configuration in force,
    // whatever this deploy changes later), and waited for
    const start = datastoresToStart(f.stack, f.containers, f.storedData);
    if (start.length) {
      const names = start.map((d) => d.service);
      steps.push({ kind: 'start-data', title: `start ${names.join(', ')} for the pre-deploy backup (${dataToStartWhy(start)}), then wait for ${names.length > 1 ? 'them' : 'it'} to be healthy`, services: names, argv: composeStartAsIs(f.compose, f.target, names) });
    }
    steps.push({ kind: 'backup', title: 'pre-deploy backup', reason: f.prev ? `configuration ${f.prev.config_hash} -> ${f.configHash}` : 'no earlier release recorded' });
  }

  steps.push({ kind: 'render', title: `render ${f.fileCount} files`, dir: f.renderDir, files: f.fileCount });
  for (const b of builds) steps.push({ kind: 'build', title: `build ${b.image}`, image: b.image, argv: b.argv });

  const infra = rollout.recreate.filter((n) => !monitoring.includes(n) && !APP_ROLES.has(stack.services[n].role));
  if (rollout.fresh) {
    if (infra.length) steps.push({ kind: 'up-infra', title: `compose up ${infra.join(', ')}`, services: infra, argv: composeUpNoDeps(f.compose, f.target, infra) });
    steps.push({ kind: 'wait-infra', title: 'wait for databases and other infrastructure to be healthy' });
  } else {
    // a running stack: one stateful service at a time, each healthy before the next (its volume carries the data over)
    for (const name of infra) {
      steps.push({ kind: 'up-infra', title: `compose up ${name} (${rollout.decisions.find((d) => d.service === name)!.reason})`, services: [name], argv: composeUpNoDeps(f.compose, f.target, [name]) });
      steps.push({ kind: 'wait-infra', title: `wait for ${name} to be healthy` });
    }
  }

  if (stack.migrations && f.newMigrations) {
    const m = stack.migrations;
    const command = Array.isArray(m.command) ? m.command : ['sh', '-c', m.command];
    // migrations.path lists every migration file and the last release recorded which it applied:
    // with none new there is nothing to run (a new image alone brings no migration)
    if (f.newMigrations.length) {
      const n = f.newMigrations.length;
      steps.push({ kind: 'migrate', title: `migrations: ${shellQuote(command)} in a one-off ${m.service} container (${n} new file${n === 1 ? '' : 's'})`, service: m.service, argv: composeRun(f.compose, f.target, m.service, command), newFiles: n });
    } else notes.push(`migrations: no new file in ${m.path} since the last release: no migrations container`);
  }

  // new containers beside the running ones, then the old ones stop (see flows/rollout.ts)
  for (const name of rollout.rolling) steps.push(planRoll(stack, f.compose, f.target, name, f.containers));
  const apps = rollout.recreate.filter((n) => !monitoring.includes(n) && APP_ROLES.has(stack.services[n].role));
  if (rollout.fresh) {
    // nothing runs yet: one `up` brings every service in dependency order
    steps.push({ kind: 'up-apps', title: `compose up (project ${stack.project})`, services: Object.keys(stack.services), argv: composeUp(f.compose, f.target) });
  } else if (apps.length) {
    // --no-deps: compose v2 would otherwise recreate the services these depend
    // on or that depend on them (the front, whose container must stay)
    // apps that depend on no rolling service are recreated while the rolls run (as one `compose up` of both would)
    const besideRoll = rollout.rolling.length > 0 && !apps.some((a) => dependsOnAny(stack, a, rollout.rolling));
    steps.push({ kind: 'up-apps', title: `compose up --no-deps ${apps.join(', ')}${besideRoll ? ` (while ${rollout.rolling.join(', ')} roll${rollout.rolling.length > 1 ? '' : 's'})` : ''}`, services: apps, argv: composeUpNoDeps(f.compose, f.target, apps), ...(besideRoll ? { besideRoll } : {}) });
  }
  if (stack.front?.kind === 'nginx' && rollout.unchanged.includes(stack.front.service) && f.frontChanged !== false) {
    const reason = f.frontChanged === 'unknown' ? 'no earlier release to compare with' : 'its configuration changed';
    steps.push({ kind: 'reload-front', title: `${stack.front.service}: nginx -t, then a graceful reload (${reason})`, service: stack.front.service, reason });
  }
  // the monitoring override's services (the fresh `up` above brought them): a changed
  // image or compose configuration recreates them; a changed mounted file reloads in place
  const monUp = rollout.fresh ? [] : rollout.recreate.filter((n) => monitoring.includes(n));
  if (monUp.length) steps.push({ kind: 'up-monitoring', title: `compose up --no-deps ${monUp.map((n) => `${n} (${rollout.decisions.find((d) => d.service === n)!.reason})`).join(', ')}`, services: monUp, argv: composeUpNoDeps(f.compose, f.target, monUp) });
  if (!rollout.fresh) steps.push(...planMonitoringReloads(stack, rollout.unchanged, f.containers, f.monitoringChanged));
  steps.push({ kind: 'wait-healthy', title: 'wait for every service to be healthy' });
  steps.push({ kind: 'checks', title: 'check health and readiness endpoints', smoke: Boolean(stack.deploy.smoke_test && stack.front) });
  const acme = stack.front?.kind === 'nginx' ? stack.front.tls.acme : undefined;
  const acmeDomains = acme ? tlsDomains(stack.front!).map((d) => d.domain) : [];
  if (acmeDomains.length) {
    steps.push({ kind: 'certificates', title: `certificates from ${acme!.directory} for ${acmeDomains.join(', ')}: those missing or due (renew_before ${acme!.renew_before} days), then HTTPS and a graceful reload`, domains: acmeDomains });
  }
  steps.push({ kind: 'record', title: 'record the release' });
  if (stack.deploy.hooks.post_deploy.length) steps.push({ kind: 'hooks', title: 'hooks: post-deploy', phase: 'post_deploy', commands: stack.deploy.hooks.post_deploy });
  if (steps.some((s) => s.kind === 'backup')) steps.push({ kind: 'retention', title: 'apply backup retention' });
  // only after a deploy that built or replaced something: an unchanged one leaves nothing new behind
  const replaced = builds.length > 0 || rollout.rolling.length > 0 || rollout.recreate.length > 0;
  if (stack.deploy.prune && replaced) steps.push({ kind: 'prune', title: `prune the stack's images and stopped containers no kept release (newest ${stack.deploy.keep_releases}) or backup refers to`, keep_releases: stack.deploy.keep_releases });
  if (stack.deploy.notifications.length) steps.push({ kind: 'notify', title: 'notify', targets: stack.deploy.notifications.map((n) => n.type) });

  return {
    project: stack.project,
    env: stack.env,
    version: f.version,
    config_hash: f.configHash,
    compose: `${f.compose.kind} ${f.compose.version}`,
    hashes_from: f.hashesFrom,
    ...(f.prev ? { previous_release: f.prev.run_id } : {}),
    services: rollout.decisions,
    notes,
    steps,
    rollout: { unchanged: rollout.unchanged, rolling: rollout.rolling, recreate: rollout.recreate, fresh: rollout.fresh },
  };
}

/** The plan for a human: services with their action and reason, then the numbered steps and their commands. */
export function formatDeployPlan(plan: DeployPlan): string[] {
  const lines = [`plan for ${plan.project} version ${plan.version} (config ${plan.config_hash}, compose ${plan.compose}, hashes from ${plan.hashes_from === 'release' ? `release ${plan.previous_release}` : 'compose config --hash'})`];
  const width = Math.max(...plan.services.map((s) => s.service.length), 7);
  for (const s of plan.services) lines.push(`  ${s.service.padEnd(width)}  ${s.action.padEnd(8)} ${s.reason}`);
  for (const n of plan.notes) lines.push(`  note: ${n}`);
  plan.steps.forEach((s, i) => {
    lines.push(`  ${String(i + 1).padStart(2)}. ${s.title}`);
    if ('argv' in s) lines.push(`      $ ${shellQuote(s.argv)}`);
    if (s.kind === 'roll') {
      for (const c of s.retire) lines.push(`      $ ${shellQuote(c.stop)}`, `      $ ${shellQuote(c.rm)}`);
      if (s.scaleBack) lines.push(`      $ ${shellQuote(s.scaleBack)}`);
    }
    if (s.kind === 'hooks') for (const c of s.commands) lines.push(`      $ sh -c ${shellQuote([c])}`);
    if (s.kind === 'reload-monitoring') lines.splice(lines.length - 1, 0, `      $ ${shellQuote(['docker', 'exec', s.container, ...s.check])}`);
  });
  return lines;
}
