// Health of a deployed stack: container state and health per service, the
// HTTP endpoints the stack declares (from inside the container), Postgres
// SELECT 1 and Redis PING. Shared by `status`, `health-check` and `deploy`.
import type { Stack } from '../config/schema.js';
import { DockerClient, type ContainerState } from '../clients/docker.js';
import { httpGet, type HttpAnswer } from '../clients/http.js';
import { postgresSelect1, redisPing } from '../clients/datastores.js';
import { expectedServices } from '../plan/rollout.js';
import { monitoringOf, monitoringServiceNames } from '../config/monitoring.js';

// the monitoring-plugins levels, their exit codes and the service fact live with the status judgement (plan/status.ts)
import { worstLevel as worst, type Level, type ServiceFact } from '../plan/status.js';
import type { Effects } from './effects.js';

export interface CheckResult {
  check: string;
  level: Level;
  message: string;
  duration_ms: number;
}

/** The stack's services, then the ones the monitoring override adds (Prometheus, exporters ...: one container each). */
function watchedServices(stack: Stack): [string, { replicas: number }][] {
  const mon = monitoringOf(stack);
  const own = expectedServices(stack);
  const extra = mon ? monitoringServiceNames(mon).filter((n) => !stack.services[n]).map((n): [string, { replicas: number }] => [n, { replicas: 1 }]) : [];
  return [...own, ...extra];
}

export function serviceStatuses(stack: Stack, containers: ContainerState[], now: Date): ServiceFact[] {
  return watchedServices(stack).map(([name, svc]) => {
    const mine = containers.filter((c) => c.service === name);
    const running = mine.filter((c) => c.state === 'running');
    const restarts = mine.reduce((n, c) => n + c.restarts, 0);
    const first = running[0] ?? mine[0];
    const base = {
      service: name,
      containers: running.length,
      expected: svc.replicas,
      image: first?.image,
      restarts,
      state: first?.state ?? 'missing',
      health: first?.health ?? 'none',
      uptime_s: first?.startedAt && first.state === 'running' ? Math.max(0, Math.round((now.getTime() - Date.parse(first.startedAt)) / 1000)) : undefined,
    };
    if (mine.length === 0) return { ...base, level: 'CRITICAL' as Level, message: 'no container' };
    if (running.length === 0) return { ...base, level: 'CRITICAL' as Level, message: `not running (${first.state}${first.exitCode ? `, exit ${first.exitCode}` : ''})` };
    const unhealthy = running.filter((c) => c.health === 'unhealthy');
    if (unhealthy.length) return { ...base, health: 'unhealthy', level: 'CRITICAL' as Level, message: `${unhealthy.length} unhealthy` };
    if (running.some((c) => c.state === 'restarting')) return { ...base, level: 'CRITICAL' as Level, message: 'restarting' };
    if (running.length < svc.replicas) return { ...base, level: 'WARNING' as Level, message: `${running.length}/${svc.replicas} running` };
    if (running.some((c) => c.health === 'starting')) return { ...base, health: 'starting', level: 'WARNING' as Level, message: 'health check starting' };
    if (restarts >= 3) return { ...base, level: 'WARNING' as Level, message: `${restarts} restarts` };
    return { ...base, level: 'OK' as Level, message: 'ok' };
  });
}

async function timed(check: string, fn: () => Promise<string | void>): Promise<CheckResult> {
  const t0 = performance.now();
  try {
    const msg = await fn();
    return { check, level: 'OK', message: msg || 'ok', duration_ms: Math.round(performance.now() - t0) };
  } catch (e) {
    return { check, level: 'CRITICAL', message: (e as Error).message.split('\n')[0], duration_ms: Math.round(performance.now() - t0) };
  }
}

/**
 * GET paths from inside a container with whatever client it has (curl, wget,
 * else python3), all in one `docker exec`: one line per path, "ok N" or
 * "fail N <the client's last line>".
 */
export function httpGetInside(port: number, urlPaths: string[]): string[] {
  const py = 'import sys,urllib.request;urllib.request.urlopen(sys.argv[1],timeout=5).read(300)';
  const get = 'get() { if command -v curl >/dev/null 2>&1; then curl -fsS -m 5 -o /dev/null "$1"; elif command -v wget >/dev/null 2>&1; then wget -q -T 5 -O /dev/null "$1"; else python3 -c "$0" "$1"; fi; }';
  const loop = 'i=0; for u; do if r=$(get "$u" 2>&1); then echo "ok $i"; else echo "fail $i $(printf "%s\\n" "$r" | tail -n 1)"; fi; i=$((i+1)); done';
  return ['sh', '-c', `${get}; ${loop}`, py, ...urlPaths.map((p) => `http://127.0.0.1:${port}${p}`)];
}

/** path -> why it failed (undefined: it answered 2xx) */
type InsideResults = Map<string, string | undefined>;

/** Asks from inside each container once for all `urlPaths`, however many checks want the answers. */
export function insideProber(docker: DockerClient, port: number, urlPaths: string[], timeoutMs = 8000): (c: ContainerState) => Promise<InsideResults> {
  const asked = new Map<string, Promise<InsideResults>>();
  return (c) => {
    let answer = asked.get(c.id);
    if (!answer) {
      answer = docker.exec(c.id, httpGetInside(port, urlPaths), timeoutMs).then((r) => {
        const lines = new Map(r.output.split('\n').map((l) => /^(ok|fail) (\d+) ?(.*)$/.exec(l)).filter((m) => m !== null).map((m) => [Number(m[2]), m] as const));
        const noAnswer = r.output.trim().split('\n').pop() || `exit ${r.exitCode}`;
        return new Map(urlPaths.map((p, i) => {
          const m = lines.get(i);
          return [p, m?.[1] === 'ok' ? undefined : m ? m[3] || 'failed' : noAnswer] as const;
        }));
      });
      asked.set(c.id, answer);
    }
    return answer;
  };
}

/**
 * GET an endpoint of one container: through the port it publishes on
 * 127.0.0.1 when it publishes this one (milliseconds), else from inside it
 * with `docker exec` (a few hundred ms; `probe` shares one exec between the
 * paths of a container). Never to the container's own network address: the
 * host may not route to it, and the operator's firewall rules are written
 * for published ports. Resolves to what answered; rejects with the reason
 * when the endpoint is not 2xx.
 */
export async function httpCheck(
  docker: DockerClient,
  c: ContainerState,
  port: number,
  urlPath: string,
  timeoutMs = 8000,
  probe = insideProber(docker, port, [urlPath], timeoutMs),
): Promise<'published' | 'exec'> {
  const hostPort = c.ports[port];
  if (hostPort) {
    let res: HttpAnswer | undefined;
    try {
      res = await httpGet(`http://127.0.0.1:${hostPort}${urlPath}`, { timeoutMs: Math.min(timeoutMs, 3000), followRedirects: false });
    } catch {
      // no answer in time: ask from inside below
    }
    if (res && res.status >= 200 && res.status < 300) return 'published';
    if (res) throw new Error(`${c.name}: ${urlPath} answered ${res.status}: ${res.body.trim().slice(0, 200)}`);
  }
  const failure = (await probe(c)).get(urlPath);
  if (failure !== undefined) throw new Error(`${c.name}: ${failure}`);
  return 'exec';
}

/** `timeoutMs` bounds each probe (status passes what is left of its deadline). */
export async function endpointChecks(stack: Stack, docker: DockerClient, containers: ContainerState[], timeoutMs = 8000): Promise<CheckResult[]> {
  const jobs: Promise<CheckResult>[] = [];
  for (const [name, svc] of expectedServices(stack)) {
    if (!svc.http) continue;
    const running = containers.filter((c) => c.service === name && c.state === 'running');
    const endpoints = ([['health', svc.http.health], ['ready', svc.http.ready]] as const).filter((e): e is readonly ['health' | 'ready', string] => !!e[1]);
    const probe = insideProber(docker, svc.http.port, endpoints.map(([, p]) => p), timeoutMs);
    for (const [kind, p] of endpoints) {
      jobs.push(
        timed(`${name} ${kind} ${p}`, async () => {
          if (!running.length) throw new Error('no running container');
          const via = await Promise.all(running.map((c) => httpCheck(docker, c, svc.http!.port, p, timeoutMs, probe)));
          return `${running.length} container${running.length > 1 ? 's' : ''} answered (${[...new Set(via)].join(', ')})`;
        }),
      );
    }
  }
  if (stack.postgres && !stack.postgres.external_url) {
    const pgConf = stack.postgres;
    const c = containers.find((x) => x.service === pgConf.service && x.state === 'running');
    jobs.push(
      timed('postgres SELECT 1', async () => {
        if (!c) throw new Error(`service ${pgConf.service} is not running`);
        if (c.ports[5432]) {
          await postgresSelect1({ host: '127.0.0.1', port: c.ports[5432], user: pgConf.user, password: pgConf.password, database: pgConf.database, timeoutMs: Math.min(timeoutMs, 3000) });
          return `via 127.0.0.1:${c.ports[5432]}`;
        }
        const r = await docker.exec(c.id, ['psql', '-U', pgConf.user, '-d', pgConf.database, '-tAc', 'SELECT 1'], timeoutMs);
        if (r.exitCode !== 0 || r.output.trim() !== '1') throw new Error(r.output.trim() || `psql exit ${r.exitCode}`);
        return 'via docker exec psql';
      }),
    );
  }
  if (stack.redis) {
    const redisConf = stack.redis;
    const c = containers.find((x) => x.service === redisConf.service && x.state === 'running');
    jobs.push(
      timed('redis PING', async () => {
        if (!c) throw new Error(`service ${redisConf.service} is not running`);
        if (c.ports[6379]) {
          await redisPing({ host: '127.0.0.1', port: c.ports[6379], password: redisConf.password, timeoutMs: Math.min(timeoutMs, 3000) });
          return `via 127.0.0.1:${c.ports[6379]}`;
        }
        const r = await docker.exec(c.id, ['redis-cli', 'ping'], timeoutMs);
        if (!r.output.includes('PONG')) throw new Error(r.output.trim() || `redis-cli exit ${r.exitCode}`);
        return 'via docker exec redis-cli';
      }),
    );
  }
  return Promise.all(jobs);
}

export interface HealthReport {
  level: Level;
  services: ServiceFact[];
  checks: CheckResult[];
}

export async function healthReport(stack: Stack, docker: DockerClient, now: Date): Promise<HealthReport> {
  const containers = await docker.projectContainers(stack.project);
  const services = serviceStatuses(stack, containers, now);
  const checks = await endpointChecks(stack, docker, containers);
  return { level: worst([...services.map((s) => s.level), ...checks.map((c) => c.level)]), services, checks };
}

/**
 * `health-check`: the report, taken again with doubling pauses until it is OK
 * or `retries` attempts were made; `onRetry` hears each retry. The engine's
 * client is made here, so the CLI never holds one.
 */
export async function checkHealth(
  stack: Stack,
  clock: Pick<Effects, 'sleep'>,
  o: { now: () => Date; retries: number; intervalMs: number; onRetry?: (attempt: number, level: Level, waitMs: number) => void },
): Promise<HealthReport> {
  const docker = new DockerClient();
  await docker.ping();
  let wait = o.intervalMs;
  for (let attempt = 1; ; attempt++) {
    const report = await healthReport(stack, docker, o.now());
    if (report.level === 'OK' || attempt >= Math.max(1, o.retries)) return report;
    o.onRetry?.(attempt, report.level, wait);
    await clock.sleep(wait);
    wait *= 2;
  }
}
