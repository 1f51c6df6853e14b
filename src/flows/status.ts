// `lifeops status`: gather every fact about one environment in parallel
// under one deadline, then let plan/status.ts judge them. A probe that has
// not answered by the deadline is UNKNOWN; a stopped engine makes the engine
// checks UNKNOWN while the checks that need no engine (backups, drills, the
// ledger, the lock, disk) still run. Status is read-only except for its own
// memory of restart counts (state/status.ts).
//
// It takes the slice of the run context it needs (io, docker, stateDir) and
// not a whole Run: a Run writes a step log per invocation, and status runs
// every minute from cron and monitoring agents.
import type { Stack } from '../config/schema.js';
import { DockerClient, type ContainerState } from '../clients/docker.js';
import { httpGetLoopback } from '../clients/http.js';
import { reachPublishedPort } from '../clients/docker.js';
import { diskSpace } from '../clients/host.js';
import { backupDir, listBackups } from '../backup/catalog.js';
import { readReleases } from '../state/ledger.js';
import { readLock, isStale } from '../state/lock.js';
import { lockFile } from '../state/paths.js';
import { readDrill, readStatusMemory, writeStatusMemory } from '../state/status.js';
import { readOffsite } from '../state/offsite.js';
import type { OffsiteFact } from '../plan/offsite-status.js';
import type { PitrFact } from '../plan/pitr-status.js';
import { pitrFact } from './pitr.js';
import { parseDuration } from '../util/units.js';
import { domainTls } from '../render/front.js';
import { UPSTREAM_MARKER_HEADER } from '../render/nginx.js';
import {
  isPlaceholderImage,
  configuredHostPort,
  evaluateStatus,
  type BackupFacts,
  type DiskFact,
  type FrontFact,
  type LockFact,
  type MaintenanceFact,
  type ProbeFact,
  type ServiceFact,
  type StatusFacts,
  type StatusReport,
  type TlsFact,
} from '../plan/status.js';
import { endpointChecks, serviceStatuses } from './health.js';
import { readMaintenance } from '../state/maintenance.js';
import type { IO, Run } from './context.js';
import { stateIdentity } from '../state/engine-lock.js';
import { whoIsInCharge } from '../plan/ownership.js';
import { tlsFacts } from './status-tls.js';

export type StatusContext = Pick<Run, 'io' | 'docker' | 'stateDir'>;

class Late extends Error {}

/** `p`, or a rejection with Late once the deadline passes (the timer never keeps the process alive). */
function byDeadline<T>(p: Promise<T>, deadline: number, what: string): Promise<T> {
  const left = Math.max(0, deadline - Date.now());
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Late(`${what}: no answer within the status deadline`)), left);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const ms = (t0: number) => Math.round(performance.now() - t0);
const firstLine = (e: unknown) => ((e as Error)?.message ?? String(e)).split('\n')[0];

async function timedFact<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: string; duration_ms: number }> {
  const t0 = performance.now();
  try {
    return { value: await fn(), duration_ms: ms(t0) };
  } catch (e) {
    return { error: firstLine(e), duration_ms: ms(t0) };
  }
}

function backupFacts(stack: Stack, stateDir: string): BackupFacts {
  const t0 = performance.now();
  try {
    const list = listBackups(backupDir(stack, stateDir), stack.project, stack.env);
    const newest = list.at(-1);
    const verified = list.filter((b) => b.verified).at(-1);
    return {
      count: list.length,
      ...(newest ? { newest: { id: newest.id, time: newest.time, size: newest.size } } : {}),
      ...(verified ? { newest_verified: { id: verified.id, time: verified.time, verified_at: verified.verified! } } : {}),
      duration_ms: ms(t0),
    };
  } catch (e) {
    return { count: 0, error: firstLine(e), duration_ms: ms(t0) };
  }
}

/** What the off-site copies' record says, per backup.offsite repository (files only: status never calls restic). */
function offsiteFacts(stack: Stack, stateDir: string): OffsiteFact[] {
  const rec = readOffsite(stateDir, stack.env);
  return stack.backup.offsite.map((repo) => {
    const r = rec[repo.name];
    const copies = Object.entries(r?.copies ?? {}).sort((a, b) => a[1].time.localeCompare(b[1].time));
    const newest = copies.at(-1);
    return {
      repo: repo.name,
      copies: copies.length,
      ...(newest ? { newest: { id: newest[0], time: newest[1].time } } : {}),
      ...(r?.last_attempt ? { last_attempt: r.last_attempt } : {}),
      ...(r?.last_check ? { last_check: r.last_check } : {}),
      warn_s: parseDuration(repo.freshness.warn) / 1000,
      crit_s: parseDuration(repo.freshness.crit) / 1000,
    };
  });
}

function lockFacts(stateDir: string, env: string): LockFact {
  const l = readLock(lockFile(stateDir, env));
  if (!l) return { held: false };
  return { held: true, since: l.since, stale: isStale(l), holder: `pid ${l.pid} on ${l.host}` };
}

/** The front's published loopback port and the app's readiness path behind its first domain. */
async function frontFact(stack: Stack, containers: ContainerState[], deadline: number): Promise<FrontFact | undefined> {
  const front = stack.front;
  if (!front) return undefined;
  const domain = front.domains.find((d) => stack.services[d.upstream]?.http) ?? front.domains[0];
  const http = stack.services[domain.upstream]?.http;
  const urlPath = http?.ready ?? http?.health ?? '/';
  const tls = domainTls(front, domain);
  const port = tls ? 443 : front.kind === 'traefik' ? 80 : front.listen_port;
  const c = containers.find((x) => x.service === front.service && x.state === 'running');
  const url = (hostPort: number | string) => `${tls ? 'https' : 'http'}://127.0.0.1:${hostPort}${urlPath} (Host: ${domain.name})`;
  if (!c) return { url: url('?'), error: `the front (${front.service}) has no running container`, duration_ms: 0 };
  // The port the stack file publishes, else the one the engine shows: a front
  // detached from its network loses its live port mapping but not its config.
  const configured = configuredHostPort(stack.services[front.service]?.ports ?? [], port);
  // a remote engine's port is reached through a forward to a port of this machine
  const hostPort = configured !== undefined ? reachPublishedPort(configured) : c.ports[port];
  if (!hostPort) return { url: url('?'), skipped: `the front publishes no port for ${port} on 127.0.0.1`, duration_ms: 0 };
  const t0 = performance.now();
  try {
    const timeoutMs = Math.max(500, Math.min(5000, deadline - Date.now()));
    const r = await httpGetLoopback({ port: hostPort, path: urlPath, hostHeader: domain.name, tls, timeoutMs });
    // an nginx front marks what an upstream answered: its absence is a placeholder, a default server or the front's own page
    const marked = front.kind === 'nginx' && !(domain.health === 'front' && urlPath === '/health');
    return { url: url(hostPort), status: r.status, duration_ms: ms(t0), ...(isPlaceholderImage(c.image) ? { placeholder: c.image } : {}), ...(marked ? { from_app: Boolean(r.headers[UPSTREAM_MARKER_HEADER.toLowerCase()]) } : {}) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const msg = firstLine(e);
    return { url: url(hostPort), error: code && !msg.includes(code) ? `${code}: ${msg}` : msg, duration_ms: ms(t0) };
  }
}

/** Restarts per service since the previous run, from the remembered per-container counts; remembers the new ones. */
function restartGrowth(ctx: StatusContext, stack: Stack, containers: ContainerState[], now: Date): { grown: Record<string, number>; previous?: string } {
  const before = readStatusMemory(ctx.stateDir, stack.env);
  const grown: Record<string, number> = {};
  for (const c of containers) {
    const was = before?.restarts[c.id];
    if (was !== undefined && c.restarts > was) grown[c.service] = (grown[c.service] ?? 0) + (c.restarts - was);
  }
  try {
    writeStatusMemory(ctx.stateDir, stack.env, {
      time: now.toISOString(),
      restarts: Object.fromEntries(containers.map((c) => [c.id, c.restarts])),
      project: stack.project,
      ...(ctx.docker.execsAsked ? { execs: ctx.docker.execsAsked } : {}),
    });
  } catch {
    // a read-only state dir: growth is not remembered, status still answers
  }
  return { grown, previous: before?.time };
}

/**
 * Starts what the last status run of `env` asked the engine (its project's
 * containers, its in-container probes) before the stack is loaded: the
 * identical calls of this run then take those answers (DockerClient.startEarly).
 * A changed stack asks other calls and simply does not use them; the probes
 * are GETs and reads, as the run's own.
 */
export async function startLastProbes(docker: StatusContext['docker'], stateDir: string, env: string, waitMs = 30): Promise<void> {
  docker.execsAsked = [];
  const last = readStatusMemory(stateDir, env);
  if (!last?.project) return;
  const started = docker.startEarly(last.project, Array.isArray(last.execs) ? last.execs.filter((e) => typeof e?.id === 'string' && Array.isArray(e.cmd)) : []);
  // A moment for the probes to be running in their containers before the
  // stack's load holds this thread (each step of an exec needs it): the
  // engine then works while the stack loads. Bounded: a slow engine is not waited for.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([started, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
  clearTimeout(timer);
}

/** Everything status knows about one environment, judged. Never throws for a probe: it becomes a check. */
export async function gatherStatus(stack: Stack, ctx: StatusContext): Promise<StatusReport> {
  const t0 = performance.now();
  const now = ctx.io.now();
  const timeoutMs = parseDuration(stack.status.timeout);
  const deadline = Date.now() + timeoutMs;
  const stateDir = ctx.stateDir;

  // local facts: files only
  const backups = backupFacts(stack, stateDir);
  const releases = readReleases(stateDir, stack.env);
  // the last deploy or rollback (backups and downs are in the ledger too, for their crashes)
  const last = releases.filter((r): r is typeof r & { kind: 'deploy' | 'rollback' } => r.kind === 'deploy' || r.kind === 'rollback').at(-1);
  const firstDeploy = releases.find((r) => r.kind === 'deploy' && r.outcome === 'success');
  const drill = readDrill(stateDir, stack.env);
  const lock = lockFacts(stateDir, stack.env);
  // maintenance mode of the nginx front (flows/maintenance.ts writes it): one readlink
  const m = stack.front?.kind === 'nginx' ? readMaintenance(stateDir, stack.env) : undefined;
  const maintenance: MaintenanceFact | undefined = stack.front?.kind !== 'nginx' ? undefined : m ? { on: true, since: m.since, message: m.message, retry_after: m.retry_after, by: m.by } : { on: false };
  const offsite = offsiteFacts(stack, stateDir);

  const backupDisk = byDeadline(diskSpace(backupDir(stack, stateDir)), deadline, 'disk of the backups');
  const diskFact = async (label: DiskFact['label'], path: Promise<string>, space: (p: string) => Promise<Awaited<ReturnType<typeof diskSpace>>>): Promise<DiskFact> => {
    const t = performance.now();
    let p = '?';
    try {
      p = await path;
      const s = await space(p);
      return { label, path: p, free_bytes: s.free_bytes, size_bytes: s.size_bytes, duration_ms: ms(t) };
    } catch (e) {
      return { label, path: p, error: firstLine(e), duration_ms: ms(t) };
    }
  };

  // asked at once, beside the containers (it needs only the engine)
  const dockerRoot = byDeadline(ctx.docker.dataRoot(timeoutMs), deadline, 'the Docker engine');
  dockerRoot.catch(() => undefined); // awaited below only when the engine answered
  const dockerDisk = diskFact('docker', dockerRoot, (p) => byDeadline(diskSpace(p), deadline, `disk of ${p}`));

  // engine facts: containers first, then the probes that need them, all under the deadline;
  // the endpoint probes get 60% of what is left, so a hung one is reported as
  // timed out (CRITICAL) by itself rather than swallowing its siblings at the deadline
  const engineT0 = performance.now();
  const engine = timedFact(() => byDeadline(ctx.docker.projectContainers(stack.project, true, timeoutMs), deadline, 'the Docker engine'));
  const engineDone = await engine.then(async (e) => {
    const containers = e.value;
    if (!containers) return { e, containers: undefined, services: undefined, probes: [] as ProbeFact[], front: undefined, tls: [] as TlsFact[], grown: {}, previous: undefined, pitr: undefined };
    const services: ServiceFact[] = serviceStatuses(stack, containers, now);
    const [probes, front, tls] = await Promise.all([
      byDeadline(endpointChecks(stack, ctx.docker, containers, Math.max(500, Math.round((deadline - Date.now()) * 0.6))), deadline, 'endpoint checks').catch((err): ProbeFact[] => [
        { check: 'endpoints', level: 'UNKNOWN', message: firstLine(err), duration_ms: ms(engineT0) },
      ]),
      byDeadline(frontFact(stack, containers, deadline), deadline, 'the front').catch((err): FrontFact => ({ url: 'through the front', error: firstLine(err), duration_ms: ms(engineT0) })),
      byDeadline(tlsFacts(stack, ctx, containers, deadline), deadline, 'TLS certificates').catch((err): TlsFact[] => [{ domain: '*', file: '?', error: firstLine(err), duration_ms: ms(engineT0) }]),
    ]);
    const pitr = await byDeadline(pitrFact(stack, ctx.docker, stateDir, containers, Math.max(500, deadline - Date.now())), deadline, 'the WAL archive').catch(
      (err): PitrFact => ({ base_backups: 0, error: firstLine(err), warn_s: 0, crit_s: 0, duration_ms: ms(engineT0) }),
    );
    const { grown, previous } = restartGrowth(ctx, stack, containers, now);
    return { e, containers, services: services.map((s) => (grown[s.service] ? { ...s, restarts_grown: grown[s.service] } : s)), probes, front, tls, grown, previous, pitr };
  });
  const disks = await Promise.all([
    diskFact('backups', Promise.resolve(backupDir(stack, stateDir)), () => backupDisk),
    ...(engineDone.e.value ? [dockerDisk] : []),
  ]);

  // containers another state dir manages are not judged against this one's ledger
  const self = stack.owner ?? stateIdentity(stateDir);
  const ownership = engineDone.containers ? whoIsInCharge(self, engineDone.containers) : undefined;
  const inCharge = ownership?.kind === 'other' ? { owner: ownership.owner, self } : undefined;
  const facts: StatusFacts = {
    project: stack.project,
    env: stack.env,
    now: now.toISOString(),
    duration_ms: ms(t0),
    engine: { ok: !!engineDone.e.value, ...(engineDone.e.error ? { error: `the Docker engine did not answer: ${engineDone.e.error}` } : {}), duration_ms: engineDone.e.duration_ms },
    ...(engineDone.services ? { services: engineDone.services } : {}),
    probes: engineDone.probes,
    ...(engineDone.previous ? { previous_run: engineDone.previous } : {}),
    ...(firstDeploy ? { due_since: firstDeploy.time } : {}),
    backups,
    ...(drill ? { drill: { time: drill.time, ok: drill.ok, ...(drill.backup ? { backup: drill.backup } : {}), ...(drill.error ? { error: drill.error } : {}) } } : {}),
    ...(last ? { release: { kind: last.kind, outcome: last.outcome, time: last.time, version: last.version, run_id: last.run_id } } : {}),
    lock,
    disks,
    tls: engineDone.tls,
    ...(engineDone.front ? { front: engineDone.front } : {}),
    ...(inCharge ? { in_charge: inCharge } : {}),
    ...(maintenance ? { maintenance } : {}),
    ...(offsite.length ? { offsite } : {}),
    ...(engineDone.pitr ? { pitr: engineDone.pitr } : {}),
  };
  return evaluateStatus(facts, stack.status);
}

/**
 * One `status` invocation's engine client, held for the CLI (which never
 * imports clients): `startLastProbes` before the stack loads, `gather` once it
 * has, and `close` drops what was started early and not asked this time.
 */
export class StatusSession {
  private readonly docker = new DockerClient();

  constructor(private readonly io: IO) {}

  startLastProbes(stateDir: string, env: string): Promise<void> {
    return startLastProbes(this.docker, stateDir, env);
  }

  gather(stack: Stack, stateDir: string): Promise<StatusReport> {
    return gatherStatus(stack, { io: this.io, docker: this.docker, stateDir });
  }

  close(): void {
    this.docker.dropEarly();
  }
}
