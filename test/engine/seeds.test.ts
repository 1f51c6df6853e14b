// The three seed stacks (stacks/lifeos.yaml, commandcenter.yaml, aiia.yaml) deployed
// for real in their `testbed` environment: local stand-in apps, Debian's exporters,
// real Prometheus and Alertmanager. One deployment per stack serves every check:
// status, every Prometheus target up (its targets API on 127.0.0.1), one alert
// driven for real (LifeOS's worker backlog above 1000: firing in Alertmanager's API,
// then silent once the worker drained it), and backup -> change data -> rollback
// returning the data exactly (AI-IA: both databases behind PgBouncer).
// Placeholders (Grafana, Loki, promtail, cAdvisor, Traefik, statsd exporter) are
// listed as such: their targets are "up" only because the placeholder answers.
// Each stack is copied under .tmp-tests with its own compose project (sd<stack>).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { ROOT, lifeops, at, type StackDoc } from '../helpers.js';

const ENV = 'testbed';
// Which seed stacks run (LIFEOPS_SEEDS, comma-separated; default all three, as `make test` does).
const SEEDS = (process.env.LIFEOPS_SEEDS ?? 'lifeos,commandcenter,aiia').split(',');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Seed {
  name: string;
  project: string;
  file: string;
  stateDir: string;
  httpPort: number;
  promPort: number;
}

/** stacks/<name>.yaml under .tmp-tests with project sd<name>; paths one folder deeper. */
function seedCopy(name: string): Seed {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, `seed-${name}-`));
  const doc = parse(readFileSync(path.join(ROOT, 'stacks', `${name}.yaml`), 'utf8')) as StackDoc;
  doc.project = `sd${name}`;
  const env = at(doc, `environments.${ENV}`);
  if (env.migrations?.path) env.migrations.path = `../${env.migrations.path}`;
  writeFileSync(path.join(dir, 'stack.yaml'), stringify(doc));
  copyFileSync(path.join(ROOT, 'stacks', env.env_file), path.join(dir, env.env_file));
  const defaults = { ...(doc.variables?.defaults ?? {}), ...(env.variables?.defaults ?? {}) };
  const httpPort = Number(Object.entries(defaults).find(([k]) => k.endsWith('_HTTP_PORT'))![1]);
  return { name, project: doc.project, file: path.join(dir, 'stack.yaml'), stateDir: path.join(dir, 'state'), httpPort, promPort: env.monitoring.prometheus_port };
}

function tools(s: Seed) {
  const cli = (args: string[], timeoutMs = 300_000) => lifeops(['-f', s.file, '--state-dir', s.stateDir, ...args], { timeoutMs });
  const container = async (svc: string) =>
    (await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${s.project}`, '--filter', `label=com.docker.compose.service=${svc}`])).stdout.trim().split('\n')[0];
  const sql = async (svc: string, user: string, db: string, q: string) =>
    (await execa('docker', ['exec', await container(svc), 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', db, '-c', q])).stdout.trim();
  const redis = async (svc: string, ...a: string[]) => (await execa('docker', ['exec', await container(svc), 'redis-cli', ...a])).stdout.trim();
  // node:http, not fetch: fetch (undici) drops a Host header and sends 127.0.0.1:port, so
  // every request reached nginx's default server (AI-IA's staging writes landed in production).
  const http = (method: string, p: string, body?: string, host = 'localhost') =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const headers: Record<string, string | number> = { Host: host, 'Content-Type': 'application/json' };
      if (body !== undefined) headers['Content-Length'] = Buffer.byteLength(body);
      const req = request({ host: '127.0.0.1', port: s.httpPort, path: p, method, headers, timeout: 10_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${host}${p}: no answer within 10 s`)));
      req.on('error', reject);
      req.end(body);
    });
  return { cli, container, sql, redis, http };
}

type Target = { labels: Record<string, string>; scrapeUrl: string; health: string; lastError: string };

/** Poll the targets API until every active target is up (or the deadline passes); returns the last view. */
async function targetsAllUp(promPort: number, deadlineMs = 120_000): Promise<Target[]> {
  const deadline = Date.now() + deadlineMs;
  let last: Target[] = [];
  while (Date.now() < deadline) {
    const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/targets?state=active`).catch(() => undefined);
    if (res?.ok) {
      last = ((await res.json()) as { data: { activeTargets: Target[] } }).data.activeTargets;
      if (last.length && last.every((t) => t.health === 'up')) return last;
    }
    await sleep(2000);
  }
  return last;
}

async function promQuery(promPort: number, q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
  return ((await r.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
}

/** Jobs whose target is a placeholder (lifeops/placeholder:local answers /metrics with placeholder_up). */
async function placeholderJobs(promPort: number): Promise<string[]> {
  return (await promQuery(promPort, 'placeholder_up')).map((r) => r.metric.job).sort();
}

async function deployTimed(s: Seed): Promise<number> {
  const { cli } = tools(s);
  // leftovers of an interrupted run (scripts/test.sh removes those under .tmp-tests first): only then a down
  const label = `label=com.docker.compose.project=${s.project}`;
  const left = (await execa('docker', ['ps', '-aq', '--filter', label])).stdout.trim() + (await execa('docker', ['volume', 'ls', '-q', '--filter', label])).stdout.trim();
  if (left) await cli(['down', '--volumes', '--yes', '--skip-backup', '--env', ENV]);
  const t0 = performance.now();
  const r = await cli(['deploy', ENV], 600_000);
  const secs = (performance.now() - t0) / 1000;
  if (r.exitCode !== 0) throw new Error(`deploy ${s.name} ${ENV} failed (exit ${r.exitCode}):\n${r.stderr.slice(-4000)}`);
  console.log(`seed ${s.name}: deploy ${ENV} took ${secs.toFixed(1)} s`);
  return secs;
}

async function statusJson(s: Seed) {
  const r = await tools(s).cli(['status', '--env', ENV, '--json']);
  const body = JSON.parse(r.stdout) as {
    level: string;
    services: { service: string; level: string; placeholder?: boolean; image?: string; message: string }[];
    checks: { check: string; level: string; message: string }[];
  };
  return { exitCode: r.exitCode, ...body };
}

/** backup, then `change`, then rollback to that backup; returns the timings and the backup id. */
async function roundTrip(s: Seed, change: () => Promise<void>): Promise<{ id: string; backupS: number; rollbackS: number }> {
  const { cli } = tools(s);
  let t0 = performance.now();
  const b = await cli(['backup', '--env', ENV, '--tag', 'seed-roundtrip', '--json']);
  const backupS = (performance.now() - t0) / 1000;
  expect(b.exitCode, b.stderr).toBe(0);
  const id = (JSON.parse(b.stdout) as { id: string }).id;
  await change();
  t0 = performance.now();
  const rb = await cli(['rollback', id, '--env', ENV, '--yes'], 600_000);
  const rollbackS = (performance.now() - t0) / 1000;
  expect(rb.exitCode, rb.stderr.slice(-3000)).toBe(0);
  console.log(`seed ${s.name}: backup ${backupS.toFixed(1)} s, rollback ${rollbackS.toFixed(1)} s`);
  return { id, backupS, rollbackS };
}

const REPORT: string[] = [];

// Shared work (LIFEOPS_SEEDS_OVERLAP=1): a stack's deploy runs in the background once the stack before it
// has deployed and passed its status and targets checks (the timing-sensitive
// ones), so it overlaps that stack's longer data checks (LifeOS's alert test
// mostly waits on Prometheus and Alertmanager). Each stack's ports and compose
// project are its own. A suite awaits its own deploy; a failed deploy fails that
// suite only.
const QUEUED: Seed[] = [];
const DEPLOYS = new Map<string, Promise<number>>();
const QUIET = new Map<string, { done: Promise<void>; release: () => void }>();
function queueDeploy(s: Seed): Seed {
  QUEUED.push(s);
  let release = () => {};
  const done = new Promise<void>((r) => (release = r));
  QUIET.set(s.name, { done, release });
  return s;
}
/** The stack's status and targets checks are over: the next stack may deploy. */
const releaseNext = (s: Seed) => QUIET.get(s.name)?.release();
// Off by default: on this shared 2-core machine (load 30-60 from other work) a deploy
// overlapping another stack's checks failed its own health checks twice (docker exec
// timing out after 8 s); LIFEOPS_SEEDS_OVERLAP=1 turns it on.
const OVERLAP = process.env.LIFEOPS_SEEDS_OVERLAP === '1';
beforeAll(() => {
  if (!OVERLAP) return;
  let previous: Promise<unknown> = Promise.resolve();
  for (const s of QUEUED) {
    const p = previous.then(() => deployTimed(s));
    p.catch(() => {}); // awaited (and reported) by the stack's own beforeAll
    DEPLOYS.set(s.name, p);
    previous = Promise.all([p.catch(() => undefined), p.then(() => QUIET.get(s.name)!.done, () => undefined)]);
  }
});
const deployed = (s: Seed) => DEPLOYS.get(s.name) ?? deployTimed(s);
const DOWNED = new Set<string>();
const PARTS: string[] = [];
const FILE_T0 = performance.now();

/** A stack suite's hooks: await its deploy, take the stack down at the end; time how long its part took. */
function suiteHooks(s: Seed, onDeployed: (secs: number) => void): void {
  let turn = 0;
  let ready = 0;
  beforeAll(async () => {
    turn = performance.now();
    // the suites before this one are over (or were filtered out): nothing to wait for from them
    for (const q of QUEUED.slice(0, QUEUED.indexOf(s))) releaseNext(q);
    onDeployed(await deployed(s));
    ready = performance.now();
  }, 600_000);
  afterAll(async () => {
    releaseNext(s);
    const checks = ready ? (performance.now() - ready) / 1000 : 0;
    await tools(s).cli(['down', '--volumes', '--yes', '--skip-backup', '--env', ENV]);
    DOWNED.add(s.name);
    PARTS.push(`${s.name}: waited ${ready ? ((ready - turn) / 1000).toFixed(1) : '-'} s for its deploy when its turn came, checks ${checks.toFixed(1)} s`);
  }, 300_000);
}

afterAll(async () => {
  // a deploy whose suite did not run (a -t filter) still ran: take its stack down too
  QUEUED.forEach(releaseNext);
  await Promise.allSettled(DEPLOYS.values());
  for (const s of QUEUED) if (!DOWNED.has(s.name)) await tools(s).cli(['down', '--volumes', '--yes', '--skip-backup', '--env', ENV]);
  if (REPORT.length || PARTS.length) console.log(`seed stacks (testbed), file total ${((performance.now() - FILE_T0) / 1000).toFixed(1)} s:\n  ${[...REPORT, ...PARTS].join('\n  ')}`);
}, 600_000);

// ------------------------------------------------------------------ LifeOS
(SEEDS.includes('lifeos') ? describe.sequential : describe.skip)('seed LifeOS (stacks/lifeos.yaml, env testbed)', () => {
  const s = SEEDS.includes('lifeos') ? queueDeploy(seedCopy('lifeos')) : seedCopy('lifeos');
  const t = tools(s);
  const notes = () => t.sql('db', 'lifeos', 'lifeos', "SELECT count(*) || ':' || coalesce(md5(string_agg(id || '=' || body, ',' ORDER BY id)), '') FROM notes");
  const events = () => t.sql('db', 'lifeos', 'lifeos', 'SELECT count(*) FROM processed_events');
  const alerts = async (name: string) => {
    const out = (await execa('docker', ['exec', await t.container('alertmanager'), 'curl', '-fsS', `http://127.0.0.1:9093/api/v2/alerts?filter=alertname%3D%22${name}%22`])).stdout;
    return JSON.parse(out) as { labels: Record<string, string>; status: { state: string } }[];
  };
  let deployS = 0;

  suiteHooks(s, (secs) => (deployS = secs));

  it('status is OK; the placeholders (Grafana, statsd exporter, cAdvisor) are marked as such', async () => {
    const st = await statusJson(s);
    const bad = [...st.services.filter((x) => x.level !== 'OK'), ...st.checks.filter((c) => c.level !== 'OK')];
    expect(bad, JSON.stringify(bad)).toEqual([]);
    expect(st.level).toBe('OK');
    expect(st.services.filter((x) => x.placeholder).map((x) => x.service).sort()).toEqual(['cadvisor', 'grafana', 'statsd-exporter']);
    expect(st.services.find((x) => x.service === 'web')?.placeholder).toBeFalsy();
    // the app answers the seed's endpoints through the nginx front
    expect((await t.http('GET', '/health')).status).toBe(200);
    expect((await t.http('GET', '/ready')).status).toBe(200);
  }, 60_000);

  it('Prometheus sees every target up (real exporters; placeholders named)', async () => {
    const targets = await targetsAllUp(s.promPort);
    const down = targets.filter((x) => x.health !== 'up').map((x) => `${x.labels.job} ${x.scrapeUrl}: ${x.lastError}`);
    expect(down, down.join('\n')).toEqual([]);
    const jobs = [...new Set(targets.map((x) => x.labels.job))].sort();
    expect(jobs).toEqual(['blackbox-http', 'blackbox-exporter', 'cadvisor', 'node-exporter', 'postgres-exporter', 'prometheus', 'redis-exporter', 'statsd-exporter', 'web'].sort());
    expect(await placeholderJobs(s.promPort)).toEqual(['cadvisor', 'statsd-exporter']);
    // the real exporters report real facts
    expect((await promQuery(s.promPort, 'pg_up'))[0]?.value[1]).toBe('1');
    expect((await promQuery(s.promPort, 'redis_up'))[0]?.value[1]).toBe('1');
    expect((await promQuery(s.promPort, 'probe_success{job="blackbox-http"}'))[0]?.value[1]).toBe('1');
    expect((await promQuery(s.promPort, 'outbox_pending_messages')).length).toBe(1);
    console.log(`seed lifeos: ${targets.length} targets up: ${jobs.join(', ')} (placeholders: cadvisor, statsd-exporter)`);
  }, 180_000);

  it('WorkerBacklog fires in Alertmanager above 1000 pending messages and goes silent once the worker drained them', async () => {
    releaseNext(s);
    expect(await alerts('WorkerBacklog'), 'silent before the backlog').toEqual([]);
    const before = Number(await events());
    const N = 4000;
    await t.redis('redis', 'EVAL', `for i=1,${N} do redis.call('LPUSH', KEYS[1], '{"n":' .. i .. '}') end return redis.call('LLEN', KEYS[1])`, '1', 'lifeos:outbox');
    let firing: { labels: Record<string, string>; status: { state: string } } | undefined;
    let deadline = Date.now() + 120_000;
    while (!firing && Date.now() < deadline) {
      firing = (await alerts('WorkerBacklog')).find((a) => a.status.state === 'active');
      if (!firing) await sleep(2000);
    }
    const pendingAtFiring = Number(await t.redis('redis', 'LLEN', 'lifeos:outbox'));
    expect(firing, 'WorkerBacklog never reached Alertmanager').toBeDefined();
    expect(firing!.labels.severity).toBe('warning');
    console.log(`seed lifeos: WorkerBacklog active in Alertmanager with ${pendingAtFiring} messages pending`);
    // the real worker drains the list into Postgres; then the alert resolves
    deadline = Date.now() + 180_000;
    let left: unknown[] = [firing];
    while (left.length && Date.now() < deadline) {
      await sleep(3000);
      left = await alerts('WorkerBacklog');
    }
    expect(left, 'WorkerBacklog still in Alertmanager after the backlog drained').toEqual([]);
    expect(Number(await t.redis('redis', 'LLEN', 'lifeos:outbox'))).toBeLessThan(1000);
    // every event the worker took is in Postgres (it may still be working on the last few)
    deadline = Date.now() + 120_000;
    while (Number(await events()) < before + N && Date.now() < deadline) await sleep(2000);
    expect(Number(await events())).toBe(before + N);
  }, 420_000);

  it('backup -> change data -> rollback returns Postgres and Redis exactly', async () => {
    for (let i = 0; i < 20; i++) expect((await t.http('POST', '/api/notes', `note ${i}`)).status).toBe(201);
    await t.redis('redis', 'SET', 'lifeos:seed', 'before');
    const want = { notes: await notes(), events: await events(), key: await t.redis('redis', 'GET', 'lifeos:seed') };
    const rt = await roundTrip(s, async () => {
      for (let i = 0; i < 5; i++) await t.http('POST', '/api/notes', `after ${i}`);
      await t.sql('db', 'lifeos', 'lifeos', 'DELETE FROM notes WHERE id % 3 = 0; DELETE FROM processed_events WHERE id % 2 = 0');
      await t.redis('redis', 'SET', 'lifeos:seed', 'after');
      expect(await notes()).not.toBe(want.notes);
    });
    expect({ notes: await notes(), events: await events(), key: await t.redis('redis', 'GET', 'lifeos:seed') }).toEqual(want);
    expect((await t.http('GET', '/ready')).status).toBe(200);
    REPORT.push(`lifeos: deploy ${deployS.toFixed(1)} s, backup ${rt.backupS.toFixed(1)} s, rollback ${rt.rollbackS.toFixed(1)} s`);
  }, 600_000);
});

// ------------------------------------------------------------------ Command Center
(SEEDS.includes('commandcenter') ? describe.sequential : describe.skip)('seed Command Center (stacks/commandcenter.yaml, env testbed)', () => {
  const s = SEEDS.includes('commandcenter') ? queueDeploy(seedCopy('commandcenter')) : seedCopy('commandcenter');
  const t = tools(s);
  const notes = () => t.sql('postgres', 'commandcenter', 'commandcenter', "SELECT count(*) || ':' || coalesce(md5(string_agg(id || '=' || body, ',' ORDER BY id)), '') FROM notes");
  const rag = async () => (await execa('docker', ['exec', await t.container('backend'), 'sh', '-c', 'cd /app/rag_storage && ls -1 | sort | xargs -r sha256sum'])).stdout.trim();
  /** the API from inside a backend container (the seed's own paths, without the front) */
  const api = async (args: string[]) => (await execa('docker', ['exec', await t.container('backend'), 'curl', '-fsS', ...args])).stdout;
  let deployS = 0;

  suiteHooks(s, (secs) => (deployS = secs));

  it('status: every service up, the front probe answered by the app (marked by the nginx front), the placeholders marked', async () => {
    const st = await statusJson(s);
    const badServices = st.services.filter((x) => x.level !== 'OK');
    expect(badServices, JSON.stringify(badServices)).toEqual([]);
    const badChecks = st.checks.filter((c) => c.level !== 'OK');
    expect(badChecks, JSON.stringify(badChecks)).toEqual([]);
    expect(st.checks.find((c) => c.check === 'front readiness')?.message).toMatch(/answered 200/);
    expect(st.level).toBe('OK');
    expect(st.exitCode).toBe(0);
    expect(st.services.filter((x) => x.placeholder).map((x) => x.service).sort()).toEqual(['cadvisor', 'grafana', 'loki', 'promtail']);
    // the real app, from inside its own container: /health and /ready, two replicas
    expect(JSON.parse(await api(['http://127.0.0.1:8000/ready'])).status).toBe('ready');
    const backends = (await execa('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${s.project}`, '--filter', 'label=com.docker.compose.service=backend'])).stdout.trim().split('\n');
    expect(backends.length).toBe(2);
  }, 60_000);

  it('the front routes by domain through a real proxy: api.localhost to the backend, localhost to the frontend', async () => {
    const ready = await t.http('GET', '/ready', undefined, 'api.localhost');
    expect(ready.status, ready.text).toBe(200);
    expect(JSON.parse(ready.text).status).toBe('ready');
    const page = await t.http('GET', '/', undefined, 'localhost');
    expect(page.status).toBe(200);
    // the frontend's page is not the API's answer to the same path
    expect((await t.http('GET', '/', undefined, 'api.localhost')).text).not.toBe(page.text);
  }, 60_000);

  it('Prometheus sees every target up (real exporters; placeholders named)', async () => {
    const targets = await targetsAllUp(s.promPort);
    const down = targets.filter((x) => x.health !== 'up').map((x) => `${x.labels.job} ${x.scrapeUrl}: ${x.lastError}`);
    expect(down, down.join('\n')).toEqual([]);
    const jobs = [...new Set(targets.map((x) => x.labels.job))].sort();
    expect(jobs).toEqual(['blackbox-exporter', 'blackbox-http', 'cadvisor', 'loki', 'node-exporter', 'postgres-exporter', 'prometheus', 'redis-exporter', 'web-backend', 'web-frontend'].sort());
    expect(await placeholderJobs(s.promPort)).toEqual(['cadvisor', 'loki']);
    expect((await promQuery(s.promPort, 'pg_up'))[0]?.value[1]).toBe('1');
    expect((await promQuery(s.promPort, 'redis_up'))[0]?.value[1]).toBe('1');
    const probes = await promQuery(s.promPort, 'probe_success{job="blackbox-http"}');
    expect(probes.map((p) => p.value[1])).toEqual(['1', '1']);
    expect((await promQuery(s.promPort, 'commandcenter_frontend_build_info')).length).toBe(1);
    console.log(`seed commandcenter: ${targets.length} targets up: ${jobs.join(', ')} (placeholders: cadvisor, loki)`);
  }, 180_000);

  it('backup -> change data -> rollback returns Postgres, Redis and the RAG storage volume exactly', async () => {
    releaseNext(s);
    for (let i = 0; i < 20; i++) await api(['-X', 'POST', '--data', `note ${i}`, 'http://127.0.0.1:8000/api/notes']);
    await api(['-X', 'PUT', '--data', 'a document', 'http://127.0.0.1:8000/api/rag/doc1.txt']);
    await t.redis('redis', 'SET', 'cc:seed', 'before');
    const want = { notes: await notes(), rag: await rag(), key: await t.redis('redis', 'GET', 'cc:seed') };
    expect(want.rag).toContain('doc1.txt');
    const rt = await roundTrip(s, async () => {
      await api(['-X', 'POST', '--data', 'later', 'http://127.0.0.1:8000/api/notes']);
      await api(['-X', 'PUT', '--data', 'changed', 'http://127.0.0.1:8000/api/rag/doc1.txt']);
      await api(['-X', 'PUT', '--data', 'new', 'http://127.0.0.1:8000/api/rag/doc2.txt']);
      await t.redis('redis', 'SET', 'cc:seed', 'after');
      expect(await rag()).not.toBe(want.rag);
    });
    expect({ notes: await notes(), rag: await rag(), key: await t.redis('redis', 'GET', 'cc:seed') }).toEqual(want);
    REPORT.push(`commandcenter: deploy ${deployS.toFixed(1)} s, backup ${rt.backupS.toFixed(1)} s, rollback ${rt.rollbackS.toFixed(1)} s`);
  }, 600_000);
});

// ------------------------------------------------------------------ AI-IA
(SEEDS.includes('aiia') ? describe.sequential : describe.skip)('seed AI-IA (stacks/aiia.yaml, env testbed)', () => {
  const s = SEEDS.includes('aiia') ? queueDeploy(seedCopy('aiia')) : seedCopy('aiia');
  const t = tools(s);
  const items = (db: string) => t.sql('postgresql', 'aiia', db, "SELECT count(*) || ':' || coalesce(md5(string_agg(id || '=' || title, ',' ORDER BY id)), '') FROM core_item");
  let deployS = 0;

  suiteHooks(s, (secs) => (deployS = secs));

  it('status is OK; both Django apps answer through nginx, each on its own database through PgBouncer (transaction pooling)', async () => {
    const st = await statusJson(s);
    const bad = [...st.services.filter((x) => x.level !== 'OK'), ...st.checks.filter((c) => c.level !== 'OK')];
    expect(bad, JSON.stringify(bad)).toEqual([]);
    expect(st.level).toBe('OK');
    expect(st.services.filter((x) => x.placeholder)).toEqual([]);
    const prod = JSON.parse((await t.http('GET', '/ready/', undefined, 'localhost')).text);
    const staging = JSON.parse((await t.http('GET', '/ready/', undefined, 'staging.localhost')).text);
    expect([prod.database, staging.database]).toEqual(['aiia_prod', 'aiia_staging']);
    // both apps' Django migrations ran, each in its own database
    for (const db of ['aiia_prod', 'aiia_staging']) {
      expect(await t.sql('postgresql', 'aiia', db, "SELECT string_agg(name, ',' ORDER BY name) FROM django_migrations WHERE app = 'core'")).toBe('0001_initial,0002_lesson');
    }
    // `-e PGPASSWORD` hands the variable from docker's own environment into the container (not in argv)
    const pools = (await execa('docker', ['exec', '-e', 'PGPASSWORD', await t.container('pgbouncer'), 'psql', '-X', '-At', '-h', '127.0.0.1', '-p', '6432', '-U', 'aiia', '-d', 'pgbouncer', '-c', 'SHOW POOLS'], { env: { PGPASSWORD: readEnv('aiia', 'POSTGRES_PASSWORD') } })).stdout;
    const modes = pools.split('\n').filter((l) => /^aiia_(prod|staging)\|/.test(l)).map((l) => `${l.split('|')[0]}:${l.split('|').at(-1)}`).sort();
    expect(modes).toEqual(['aiia_prod:transaction', 'aiia_staging:transaction']);
  }, 60_000);

  it('Prometheus (testbed only) sees every target up, PgBouncer exporter included', async () => {
    const targets = await targetsAllUp(s.promPort);
    const down = targets.filter((x) => x.health !== 'up').map((x) => `${x.labels.job} ${x.scrapeUrl}: ${x.lastError}`);
    expect(down, down.join('\n')).toEqual([]);
    const jobs = [...new Set(targets.map((x) => x.labels.job))].sort();
    expect(jobs).toEqual(['blackbox-exporter', 'blackbox-http', 'node-exporter', 'pgbouncer-exporter', 'postgres-exporter', 'prometheus', 'redis-exporter', 'web-web_prod', 'web-web_staging'].sort());
    expect(await placeholderJobs(s.promPort)).toEqual([]);
    expect((await promQuery(s.promPort, 'pg_up'))[0]?.value[1]).toBe('1');
    expect((await promQuery(s.promPort, 'probe_success{job="blackbox-http"}')).map((p) => p.value[1])).toEqual(['1', '1']);
    console.log(`seed aiia: ${targets.length} targets up: ${jobs.join(', ')}`);
  }, 180_000);

  it('backup -> change both databases -> rollback returns aiia_prod, aiia_staging and Redis exactly', async () => {
    releaseNext(s);
    for (let i = 0; i < 15; i++) {
      expect((await t.http('POST', '/api/items/', JSON.stringify({ title: `prod ${i}` }), 'localhost')).status).toBe(201);
      expect((await t.http('POST', '/api/items/', JSON.stringify({ title: `staging ${i}` }), 'staging.localhost')).status).toBe(201);
    }
    await t.redis('redis', 'SET', 'aiia:seed', 'before');
    const want = { prod: await items('aiia_prod'), staging: await items('aiia_staging'), key: await t.redis('redis', 'GET', 'aiia:seed') };
    // each app wrote its 15 items into its own database
    expect([want.prod.split(':')[0], want.staging.split(':')[0]]).toEqual(['15', '15']);
    expect(want.prod).not.toBe(want.staging);
    const rt = await roundTrip(s, async () => {
      await t.http('POST', '/api/items/', JSON.stringify({ title: 'prod later' }), 'localhost');
      await t.sql('postgresql', 'aiia', 'aiia_staging', 'DELETE FROM core_item WHERE id % 2 = 0');
      await t.redis('redis', 'SET', 'aiia:seed', 'after');
      expect(await items('aiia_prod')).not.toBe(want.prod);
      expect(await items('aiia_staging')).not.toBe(want.staging);
    });
    expect({ prod: await items('aiia_prod'), staging: await items('aiia_staging'), key: await t.redis('redis', 'GET', 'aiia:seed') }).toEqual(want);
    expect((await t.http('GET', '/ready/', undefined, 'staging.localhost')).status).toBe(200);
    REPORT.push(`aiia: deploy ${deployS.toFixed(1)} s, backup ${rt.backupS.toFixed(1)} s, rollback ${rt.rollbackS.toFixed(1)} s`);
  }, 600_000);

});

/** A variable from stacks/<name>.testbed.env (test-bed values, not secrets). */
function readEnv(name: string, key: string): string {
  const line = readFileSync(path.join(ROOT, 'stacks', `${name}.testbed.env`), 'utf8').split('\n').find((l) => l.startsWith(`${key}=`));
  return line!.slice(key.length + 1);
}
