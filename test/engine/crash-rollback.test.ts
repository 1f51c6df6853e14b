// Crash tests of rollback, down and backup (issue 14), on the real engine with
// a demo copy (project crr-local, front on 127.0.0.1:19410, its own app copy
// and image name so each version can bring a migration).
//
// One deploy (v1, 300 seeded rows) and one backup T1 set the scene; the cases
// then run in this order, each starting from the state the one before left:
//   - `rollback <backup>` killed with SIGKILL at a step boundary (the
//     test-only hook LIFEOPS_TEST_KILL_AT_STEP) and at a seeded random time;
//     each kill point starts from T1 plus a marker (a row and a table), then
//     the same rollback runs again: it succeeds; the database is exactly T1
//     (per-table hash and table list: no marker, no mix); the stack serves
//     v1; a safety backup taken before the restore holds the marker row (no
//     data lost) and verifies;
//   - `backup` killed at a seeded random time, then a backup again;
//   - `down` killed half-way through `compose down` (and, in the full sweep,
//     at each step boundary), recovered by the next command: a deploy of a
//     new version with a migration (its pre-deploy backup needs the
//     datastores the killed down left stopped or removed), or a
//     `rollback <T1>` (the same: it starts them first); the data kept;
//   - Postgres killed during a backup (docker kill, and a crash of the
//     server process that the engine restarts);
//   - `rollback --release <run>` between the v1 release and a newer one, killed at a
//     step boundary: the release's version serves, the data (marker
//     included) untouched;
//   - the disk filling during a rollback (the backup folder on a small
//     tmpfs): it stops before touching live data.
// Only the lifeops process is killed, never its process group: the docker
// and compose clients it started live on, and the recovering run must wait
// for them or stop them (none is left after it). After every recovery:
// `backups list` shows only complete backups, each verifies; no .tmp-*
// folder; no one-off container; one web container; the dead run is
// `crashed` in history when it held the lock.
//
// `make test` runs two of the six cases a day (see CASES below), each with a
// rotating sample of one kill point, chosen by the day of the year
// (`rollback <backup>`: a step boundary on even days, a random time on odd
// ones), printed; LIFEOPS_SWEEP_DAY=N replays day N's sample,
// LIFEOPS_CRASH_CASES=a,b picks cases, LIFEOPS_SWEEP=sample runs every case,
// LIFEOPS_SWEEP_SAMPLE=N takes N step points per rollback kind and both kinds
// of kill; `make sweep` (LIFEOPS_SWEEP=full) every case, every step boundary
// and four times the seeds.
// Figures: printed, and .tmp-tests/crash-rollback-figures.json.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { lifeops, demoCopy, at, demoProject, editStack, BIN, ROOT } from '../helpers.js';
import { DAY, FULL, clientsOf, killPoints, rng, runLogs } from './crash-kit.js';

// LIFEOPS_CRASH_NAME=x (and LIFEOPS_CRASH_PORT) give a second copy of this file its own project, port and images, to run beside the first
const NAME = process.env.LIFEOPS_CRASH_NAME ?? 'crr';
const PORT = Number(process.env.LIFEOPS_CRASH_PORT ?? 19410);
const PROJECT = `${NAME}-local`;
const APP = `lifeops/${NAME}-app`;
const stack = demoCopy(NAME, PORT, (d) => {
  for (const svc of ['web', 'worker']) at(d, `services.${svc}`).image = `${APP}:\${VERSION}`;
  at(d, 'services.web.build').context = './app';
  at(d, 'migrations').path = './app/migrations';
  // generous: on a machine shared by several test runs a fresh Postgres has taken over 2 minutes to turn healthy
  for (const svc of Object.values(at(d, 'services') as Record<string, Record<string, unknown>>)) {
    svc.health_timeout = '600s';
    // and health checks that a loaded machine does not fail: a slow answer is not a sick service
    if (svc.healthcheck) Object.assign(svc.healthcheck as object, { interval: '5s', timeout: '30s', retries: 60 });
  }
  at(d, 'backup').keep_last = 500; // the target must outlive every safety backup
});
const base = ['-f', stack.file, '--state-dir', stack.stateDir];
const cli = (args: string[]) => lifeops([...base, ...args], { timeoutMs: 900_000 });
const backupsDir = path.join(stack.stateDir, 'backups');
const migrationsDir = path.join(stack.dir, 'app', 'migrations');
const { sql, container } = demoProject(PROJECT);
const log = runLogs(path.join(stack.stateDir, 'logs'));
const fullDir = path.join(stack.dir, 'full-backups');
const SAMPLE = Number(process.env.LIFEOPS_SWEEP_SAMPLE ?? 1);
const SLOW = 900_000;
const LONG = FULL ? 4 * 3_600_000 : SLOW;

interface Figure {
  command: string;
  kill: string;
  step: string;
  killed: boolean;
  recovered: boolean;
  recovery_ms: number;
  took_over: boolean;
  clients_left: number;
  error?: string;
}
const figures: Figure[] = [];

// ------------------------------------------------------------------ helpers
const tables = () => sql(`SELECT string_agg(tablename, ',' ORDER BY tablename COLLATE "C") FROM pg_tables WHERE schemaname = 'public'`);
const itemsHash = () => sql("SELECT count(*) || ':' || md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM crr_items");
const served = async () => {
  const r = await fetch(`http://127.0.0.1:${PORT}/`, { signal: AbortSignal.timeout(10_000) });
  return { status: r.status, version: ((await r.json()) as { version: string }).version };
};
const dockerIds = async (...filters: string[]) => (await execa('docker', ['ps', '-aq', ...filters.flatMap((f) => ['--filter', f])])).stdout.split('\n').filter(Boolean);
const backupList = async () => JSON.parse((await cli(['backups', 'list', '--json'])).stdout || '[]') as { id: string; tag?: string }[];
const backupIds = async () => (await backupList()).map((b) => b.id);
const lastSuccess = async () => (JSON.parse((await cli(['history', '--json'])).stdout) as { run_id: string; outcome: string }[]).filter((r) => r.outcome === 'success').at(-1)!.run_id;

let versionNo = 1;
function nextVersion(): { version: string; table: string } {
  versionNo++;
  const table = `crr_v${versionNo}`;
  writeFileSync(path.join(migrationsDir, `${String(versionNo).padStart(4, '0')}_crr_v${versionNo}.sql`), `CREATE TABLE IF NOT EXISTS ${table} (id int PRIMARY KEY);\n`);
  return { version: `v${versionNo}`, table };
}

/** The version the stack serves now (what the last successful command left). */
let serving = 'v1';
const verified = new Set<string>();
/** Everything that must hold after any recovering run. */
async function checkClean(expectVersion = serving): Promise<void> {
  for (const id of await backupIds()) {
    if (verified.has(id)) continue;
    const v = await cli(['backups', 'verify', id]);
    expect(v.exitCode, `backup ${id} does not verify:\n${v.stderr}`).toBe(0);
    verified.add(id);
  }
  expect(existsSync(backupsDir) ? readdirSync(backupsDir).filter((n) => n.startsWith('.tmp-')) : []).toEqual([]);
  expect(await served()).toEqual({ status: 200, version: expectVersion });
  expect(await dockerIds(`label=com.docker.compose.project=${PROJECT}`, 'label=com.docker.compose.oneoff=True')).toEqual([]);
  expect(await dockerIds(`label=lifeops.project=${PROJECT}`)).toEqual([]);
  expect(await dockerIds(`label=com.docker.compose.project=${PROJECT}`, 'label=com.docker.compose.service=web')).toHaveLength(1);
}

/** At step N (the hook), at a time after the start, or a time after a step started and `acting` (when given) said the step has begun to change things. */
type Kill = { atStep: number } | { afterMs: number; seed: number } | { duringStep: RegExp; afterMs: number; seed: number; acting?: { what: string; test: () => Promise<boolean> } };
const killName = (k: Kill) =>
  'atStep' in k ? `step ${k.atStep}` : 'duringStep' in k ? `seed ${k.seed}: ${k.afterMs} ms into /${k.duringStep.source}/${k.acting ? ` after ${k.acting.what}` : ''}` : `seed ${k.seed}: ${k.afterMs} ms after start`;
const seeds = (n: number, salt: number) => Array.from({ length: FULL ? n * 4 : n }, (_, i) => DAY * 1000 + salt * 100 + i);

/**
 * Start `args`, SIGKILL the lifeops process (only it: its docker and compose
 * clients live on) as step N starts, or at a time; then run `next` (default:
 * the same command) with no manual step. Returns the figure and the dead run's steps.
 */
async function killThenRecover(args: string[], kill: Kill, next: string[] = args): Promise<{ fig: Figure; killedSteps: string[] }> {
  const beforeLogs = new Set(log.names());
  const env: Record<string, string> = { ...(process.env as Record<string, string>), CI: '1' };
  if ('atStep' in kill) env.LIFEOPS_TEST_KILL_AT_STEP = String(kill.atStep);
  const child = spawn('node', [BIN, ...base, ...args], { cwd: ROOT, detached: true, stdio: 'ignore', env });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let finished = false;
  void exit.then(() => (finished = true));
  if ('duringStep' in kill) {
    for (const t0 = Date.now(); !finished && Date.now() - t0 < 600_000; ) {
      const name = log.names().find((n) => !beforeLogs.has(n));
      if (name && log.startedSteps(name).some((s) => kill.duringStep.test(s))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const t0 = Date.now(); kill.acting && !finished && Date.now() - t0 < 120_000 && !(await kill.acting.test()); ) await new Promise((r) => setTimeout(r, 50));
  }
  if (!('atStep' in kill)) {
    await Promise.race([exit, new Promise((r) => setTimeout(r, kill.afterMs))]);
    if (!finished) child.kill('SIGKILL');
  }
  const ex = await exit;
  const killedLog = log.names().find((n) => !beforeLogs.has(n));
  const dead = killedLog?.replace(/\.jsonl$/, '');
  const steps = killedLog ? log.startedSteps(killedLog) : [];
  const fig: Figure = { command: args.join(' '), kill: killName(kill), step: steps.at(-1) ?? '(none)', killed: ex.signal === 'SIGKILL', recovered: false, recovery_ms: 0, took_over: false, clients_left: dead ? clientsOf(dead).length : 0 };
  figures.push(fig);
  if (!fig.killed) expect(ex.code, `${args.join(' ')} was not killed (${killName(kill)}) and failed`).toBe(0);

  const t0 = Date.now();
  const again = await cli(next);
  fig.recovery_ms = Date.now() - t0;
  fig.took_over = /took over the stale lock of run/.test(again.stderr);
  if (again.exitCode !== 0) fig.error = again.stderr.split('\n').slice(-6).join('\n');
  expect(again.exitCode, `${next.join(' ')} after a kill of ${args.join(' ')} at ${killName(kill)} (${fig.step}):\n${again.stderr}`).toBe(0);
  if (dead) expect(clientsOf(dead), `clients of the dead run ${dead} still running after the recovery (${killName(kill)})`).toEqual([]);
  if (fig.killed && killedLog && log.heldLock(killedLog)) {
    expect(fig.took_over, again.stderr).toBe(true);
    const hist = JSON.parse((await cli(['history', '--json'])).stdout) as { run_id: string; outcome: string }[];
    expect(hist.some((r) => r.run_id === dead && r.outcome === 'crashed'), `run ${dead} not crashed in history (${killName(kill)})`).toBe(true);
  }
  return { fig, killedSteps: steps };
}

/** Steps and duration of one clean run of `args`, which must succeed. */
async function cleanRun(args: string[]): Promise<{ steps: string[]; ms: number }> {
  const before = new Set(log.names());
  const t0 = Date.now();
  const r = await cli(args);
  const ms = Date.now() - t0;
  expect(r.exitCode, r.stderr).toBe(0);
  return { steps: log.startedSteps(log.names().find((n) => !before.has(n))!), ms };
}

/** Whether a backup's dump of the demo database holds `text` (pg_restore of crr_items' data, in the db container). */
async function dumpHolds(id: string, text: string): Promise<boolean> {
  const m = JSON.parse(readFileSync(path.join(backupsDir, id, 'manifest.json'), 'utf8')) as { contents: { postgres: { databases: { name: string; file: string }[] } } };
  const db = m.contents.postgres.databases.find((d) => d.name === 'demo')!;
  const r = await execa('docker', ['exec', '-i', await container('db'), 'pg_restore', '--data-only', '-t', 'crr_items', '-f', '-'], { inputFile: path.join(backupsDir, id, db.file), reject: false });
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout.includes(text);
}

/** Backup T1 (release v1, 300 rows) and the releases to go back and forth between. */
const T1 = { backup: '', release: '', tables: '', hash: '' };
const releases: { run: string; version: string }[] = [];
let marker = 0;

/** A row and a table that the state T1 has not: a rollback to T1 must remove both, and its safety backup keep the row. */
async function addMarker(): Promise<string> {
  marker++;
  const text = `crr-marker-${marker}-${Date.now()}`;
  await sql(`INSERT INTO crr_items VALUES (${100_000 + marker}, '${text}'); CREATE TABLE crr_m${marker} (id int)`);
  return text;
}

/** `killed` (default: rollback <T1>) killed per `kill`, then rollback <T1>: the end state is exactly T1, the marker kept in a safety backup. */
async function rollbackDataPoint(kill: Kill, killed = ['rollback', T1.backup, '--yes']): Promise<void> {
  const text = await addMarker();
  const before = new Set(await backupIds());
  const { fig } = await killThenRecover(killed, kill, ['rollback', T1.backup, '--yes']);
  const where = `${killed[0]} killed at ${killName(kill)} (${fig.step}), then rollback ${T1.backup}`;
  expect(await itemsHash(), where).toBe(T1.hash);
  expect(await tables(), where).toBe(T1.tables);
  serving = 'v1';
  await checkClean();
  // no data lost: a safety backup taken since holds the marker row, and verifies (checkClean)
  const fresh = (await backupList()).filter((b) => !before.has(b.id) && b.tag === 'pre-rollback');
  expect(fresh.length, where).toBeGreaterThan(0);
  const holding = [];
  for (const b of fresh) if (await dumpHolds(b.id, text)) holding.push(b.id);
  expect(holding.length, `${where}: no safety backup holds the marker row ${text}`).toBeGreaterThan(0);
  fig.recovered = true;
  writeFigures();
}

/** rollback --release of the release not serving, killed per `kill`: that version serves, the data untouched. */
async function rollbackReleasePoint(kill: Kill): Promise<void> {
  // between the first release and the newest (the ones backups are known to hold)
  const to = serving === releases[0].version ? releases.at(-1)! : releases[0];
  await addMarker();
  const [hash, tbl] = [await itemsHash(), await tables()];
  const { fig } = await killThenRecover(['rollback', '--release', to.run, '--yes'], kill);
  const where = `rollback --release ${to.run} killed at ${killName(kill)} (${fig.step})`;
  expect(await itemsHash(), where).toBe(hash);
  expect(await tables(), where).toBe(tbl);
  serving = to.version;
  await checkClean();
  fig.recovered = true;
  writeFigures();
}

/**
 * `args` (a rollback) sent SIGINT or SIGTERM as its step k starts (the test-only
 * hook LIFEOPS_TEST_SIGNAL_AT_STEP): it stops before its next step, undoes and
 * exits 130/143, the state before it back (data, schema, version served); or,
 * signalled at its last step, it finishes with the state `done`. Never between.
 */
async function signalPoint(args: string[], k: number, sig: 'SIGINT' | 'SIGTERM', done: { hash: string; tables: string; version: string }): Promise<void> {
  const before = { hash: await itemsHash(), tables: await tables(), version: serving };
  const beforeLogs = new Set(log.names());
  const t0 = Date.now();
  const r = await lifeops([...base, ...args], { timeoutMs: 900_000, env: { LIFEOPS_TEST_SIGNAL_AT_STEP: `${k}:${sig}` } });
  const name = log.names().find((n) => !beforeLogs.has(n));
  const step = (name ? log.startedSteps(name) : [])[k - 1] ?? '?';
  const fig: Figure = { command: `signal ${args.slice(0, 2).join(' ')}`, kill: `${sig} at step ${k}`, step, killed: r.exitCode !== 0, recovered: false, recovery_ms: Date.now() - t0, took_over: false, clients_left: 0 };
  figures.push(fig);
  const where = `${args.join(' ')} sent ${sig} at step ${k} (${step}), exit ${r.exitCode}`;
  expect([0, sig === 'SIGINT' ? 130 : 143], `${where}:\n${r.stderr}`).toContain(r.exitCode);
  expect(r.stderr, where).not.toMatch(/\n\s+at /);
  expect(existsSync(path.join(stack.stateDir, 'locks', 'local.lock')), `${where}: the lock is still held`).toBe(false);
  const want = r.exitCode === 0 ? done : before;
  expect(await itemsHash(), `${where}: the data`).toBe(want.hash);
  expect(await tables(), `${where}: the schema`).toBe(want.tables);
  serving = want.version;
  await checkClean();
  fig.recovered = true;
  writeFigures();
}
const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
/** the steps a rollback is signalled at: all in a full sweep, else one rotating with the day */
const signalPoints = (total: number, salt: number) => (FULL ? Array.from({ length: total }, (_, i) => i + 1) : killPoints(total, salt, 1));

/** A deploy that sets the scene (not under test): tried twice, as a busy shared machine can time out a first health check. */
async function setupDeploy(version: string): Promise<void> {
  let r = await cli(['deploy', 'local', '--version', version]);
  if (r.exitCode !== 0) r = await cli(['deploy', 'local', '--version', version]);
  if (r.exitCode !== 0) throw new Error(`deploy ${version} failed twice:\n${r.stderr}`);
}

/** The figures so far, per command, into .tmp-tests/crash-rollback-figures.json (after every kill: a stopped sweep keeps them); printed at the end. */
function writeFigures(print = false): void {
  const kindOf = (f: Figure) => (f.command.startsWith('signal') ? `${f.command.startsWith('signal rollback --release') ? 'signal rollback --release' : 'signal rollback <backup>'}` : f.command.startsWith('rollback --release') ? 'rollback --release' : f.command.startsWith('rollback') ? 'rollback <backup>' : f.command.split(' ')[0]);
  const kinds = [...new Set(figures.map(kindOf))];
  const summary = kinds.map((k) => {
    const f = figures.filter((x) => kindOf(x) === k);
    const ms = f.filter((x) => x.recovered).map((x) => x.recovery_ms).sort((a, b) => a - b);
    return { command: k, kill_points: f.length, killed: f.filter((x) => x.killed).length, clients_alive_at_recovery: f.filter((x) => x.clients_left > 0).length, recovered: f.filter((x) => x.recovered).length, failed: f.filter((x) => !x.recovered).length, recovery_ms_median: ms[Math.floor(ms.length / 2)] ?? 0, recovery_ms_max: Math.max(0, ...ms) };
  });
  const out = path.join(ROOT, '.tmp-tests', 'crash-rollback-figures.json');
  writeFileSync(out, JSON.stringify({ mode: FULL ? 'full' : 'sample', day: DAY, summary, figures }, null, 2) + '\n');
  if (print)
    console.log(
      `crash tests of rollback, down and backup (${FULL ? 'full' : `sample of day ${DAY}`}):\n${summary.map((s) => `  ${s.command}: ${s.kill_points} kills, ${s.killed} killed (${s.clients_alive_at_recovery} with clients still running), ${s.recovered} recovered, ${s.failed} failed; recovering run median ${s.recovery_ms_median} ms, max ${s.recovery_ms_max} ms`).join('\n')}\n  details: ${out}`,
    );
}

/** Run `f`, naming the kill point (and its seed) in any failure. */
async function named(what: string, f: () => Promise<void>): Promise<void> {
  try {
    await f();
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
}

/** Steps of a clean `rollback <backup>` and `rollback --release` (the kill tests count them; the signal tests reuse the count). */
const stepCount: { rollback?: number; release?: number } = {};

/** Two releases to go between, the newer one held by a backup (T1 holds v1's): deployed here unless the down case did. */
let releaseBackup = false;
async function twoReleases(): Promise<void> {
  if (releases.length < 2) {
    const v = nextVersion();
    await setupDeploy(v.version);
    releases.push({ run: await lastSuccess(), version: v.version });
    serving = v.version;
    releaseBackup = false;
  }
  if (releaseBackup) return;
  if (serving !== releases.at(-1)!.version) {
    // the newest release is not in force (a rollback since): bring it back to back it up
    const r = await cli(['rollback', '--release', releases.at(-1)!.run, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    serving = releases.at(-1)!.version;
  }
  const b = await cli(['backup', '--tag', `release-${serving}`]);
  expect(b.exitCode, b.stderr).toBe(0);
  releaseBackup = true;
}

// -------------------------------------------------------------------- tests
// The cases, and which run today. All six together take 19-24 min at load
// 13-62 here (five rollbacks, two deploys, six verified backups), too long for
// `make test`'s engine lane: it runs one heavy and one light case a day,
// rotating with the day of the year (all nine pairs in nine days).
// LIFEOPS_SWEEP (sample or full: `make sweep`) runs them all;
// LIFEOPS_CRASH_CASES=a,b picks some by name.
const HEAVY = ['rollback-backup', 'down', 'release'] as const;
const LIGHT = ['backup-random', 'postgres-killed', 'disk-full'] as const;
type Case = (typeof HEAVY)[number] | (typeof LIGHT)[number];
const CASES: Set<Case> = process.env.LIFEOPS_CRASH_CASES
  ? new Set(process.env.LIFEOPS_CRASH_CASES.split(',') as Case[])
  : process.env.LIFEOPS_SWEEP
    ? new Set([...HEAVY, ...LIGHT])
    : new Set([HEAVY[DAY % 3], LIGHT[Math.floor(DAY / 3) % 3]]);
const runs = (c: Case) => CASES.has(c);
/** What recovers from a killed `down`: a deploy of a new version, or a rollback <backup> (both in turn in a sweep; by the day in a sample). */
const downRecovery = (i: number): 'deploy' | 'rollback' => ((process.env.LIFEOPS_SWEEP ? i : Math.floor(DAY / 3)) % 2 === 0 ? 'deploy' : 'rollback');

describe('crash tests of rollback, down and backup (real engine)', () => {
  beforeAll(async () => {
    cpSync(path.join(ROOT, 'demo', 'app'), path.join(stack.dir, 'app'), { recursive: true, filter: (src) => !src.includes('__pycache__') });
    await cli(['down', '--volumes', '--yes', '--skip-backup']);
    await setupDeploy('v1');
    await sql('CREATE TABLE IF NOT EXISTS crr_items(id int PRIMARY KEY, v text); INSERT INTO crr_items SELECT g, md5(g::text) FROM generate_series(1, 300) g ON CONFLICT DO NOTHING');
    const b1 = await cli(['backup', '--tag', 'target-v1', '--json']);
    if (b1.exitCode !== 0) throw new Error(`backup failed:\n${b1.stderr}`);
    Object.assign(T1, { backup: (JSON.parse(b1.stdout) as { id: string }).id, release: await lastSuccess(), tables: await tables(), hash: await itemsHash() });
    releases.push({ run: T1.release, version: 'v1' });
    console.log(`crash tests of rollback, down and backup: ${FULL ? 'full sweep' : `sample of day ${DAY}`}; cases: ${[...CASES].join(', ')}`);
  }, SLOW);

  afterAll(async () => {
    writeFigures(true);
    await execa('umount', [fullDir], { reject: false });
    await cli(['down', '--volumes', '--yes', '--skip-backup']);
    await execa('docker', ['rmi', '-f', ...Array.from({ length: versionNo }, (_, i) => `${APP}:v${i + 1}`)], { reject: false });
  }, SLOW);

  it.skipIf(!runs('rollback-backup'))('rollback <backup> killed at step boundaries and at seeded random times: the same rollback again ends exactly at the backup, the safety backup keeps what was there', async () => {
    await addMarker();
    const { steps, ms } = await cleanRun(['rollback', T1.backup, '--yes']);
    expect(await itemsHash()).toBe(T1.hash);
    expect(await tables()).toBe(T1.tables);
    await checkClean();
    // the sample: a step boundary on even days, a random time on odd ones (both with LIFEOPS_SWEEP_SAMPLE above 1)
    const both = FULL || SAMPLE > 1;
    const points = both || DAY % 2 === 0 ? killPoints(steps.length, 0, SAMPLE) : [];
    const times = both || DAY % 2 === 1 ? seeds(1, 1).map((seed) => ({ seed, afterMs: Math.floor(rng(seed)() * ms) })) : [];
    console.log(`rollback <backup>: ${steps.length} steps in ${ms} ms; killing at steps [${points.join(', ')}], at times [${times.map((t) => `${t.afterMs} ms (seed ${t.seed})`).join(', ')}]`);
    for (const k of points) await named(`rollback <backup> killed at step ${k}`, () => rollbackDataPoint({ atStep: k }));
    for (const t of times) await named(`seed ${t.seed} (rollback <backup> killed ${t.afterMs} ms after start)`, () => rollbackDataPoint(t));
    stepCount.rollback = steps.length;
  }, LONG);

  it.skipIf(!runs('rollback-backup'))('rollback <backup> sent SIGINT or SIGTERM at step boundaries: undone (the safety backup restored, the apps started again), exit 130/143; or, at its last step, finished', async () => {
    stepCount.rollback ??= (await addMarker(), (await cleanRun(['rollback', T1.backup, '--yes'])).steps.length);
    serving = 'v1';
    await checkClean();
    const sigs = signalPoints(stepCount.rollback, 6);
    console.log(`rollback <backup> signalled at steps [${sigs.join(', ')}]`);
    for (const [i, k] of sigs.entries()) {
      await addMarker();
      await named(`rollback <backup> sent a signal at step ${k}`, () => signalPoint(['rollback', T1.backup, '--yes'], k, SIGNALS[(DAY + i) % 2], { hash: T1.hash, tables: T1.tables, version: 'v1' }));
    }
  }, LONG);

  it.skipIf(!runs('backup-random'))('backup killed at seeded random times: the next backup recovers, the data untouched', async () => {
    const { ms } = await cleanRun(['backup']);
    for (const seed of seeds(1, 2)) {
      const afterMs = Math.floor(rng(seed)() * ms);
      await named(`seed ${seed} (backup killed ${afterMs} ms after start)`, async () => {
        const hash = await itemsHash();
        const { fig } = await killThenRecover(['backup'], { afterMs, seed });
        expect(await itemsHash()).toBe(hash);
        await checkClean();
        fig.recovered = true;
        writeFigures();
      });
    }
  }, LONG);

  it.skipIf(!runs('down'))('down killed half-way through compose down (and at each step boundary): the next command, a deploy of a new version or a rollback <backup>, starts the datastores it left down and recovers, nothing lost', async () => {
    // the kill lands while compose down is stopping and removing containers: as soon as the db
    // container stopped (the datastores go last: the next command finds them stopped or removed, their
    // volumes kept), or up to 3 s after the first container stopped (the apps half gone); the sample takes the first
    const running = async () => (await dockerIds(`label=com.docker.compose.project=${PROJECT}`, 'status=running')).length;
    const all = (await dockerIds(`label=com.docker.compose.project=${PROJECT}`)).length;
    const dbState = async (id: string) => (await execa('docker', ['inspect', '-f', '{{.State.Status}}', id], { reject: false })).stdout.trim() || 'gone';
    const dbStopped = () => {
      let id = ''; // the db container as compose down starts (the first look: the apps go first)
      return { what: 'the db stopped', within: 0, test: async () => (await dbState((id ||= await container('db')) || 'none')) !== 'running' };
    };
    const firstStopped = { what: 'a first container stopped', within: 3000, test: async () => (await running()) < all };
    const kills: Kill[] = seeds(1, 4).map((seed, i) => {
      const acting = i % 2 === 0 ? dbStopped() : firstStopped;
      return { duringStep: /^compose down/, afterMs: Math.floor(rng(seed)() * acting.within), seed, acting };
    });
    /** the next deploy (a new version with a migration) after the killed down: the data kept, the migration applied */
    const deployAfter = async (kill: Kill) => {
      const hash = await itemsHash();
      const v = nextVersion();
      // every migration the database has not seen yet (after a rollback to T1: the later versions' too)
      const migrated = Array.from({ length: versionNo - 1 }, (_, i) => `crr_v${i + 2}`);
      const want = [...new Set([...(await tables()).split(','), ...migrated])].sort().join(',');
      const { fig } = await killThenRecover(['down'], kill, ['deploy', 'local', '--version', v.version]);
      serving = v.version;
      expect(await itemsHash()).toBe(hash);
      expect(await tables()).toBe(want);
      await checkClean();
      releases.push({ run: await lastSuccess(), version: v.version });
      fig.recovered = true;
      writeFigures();
    };
    if (FULL) {
      // every step boundary too (before compose down starts nothing has changed: the next command finds the stack running)
      const { steps } = await cleanRun(['down']);
      expect(await dockerIds(`label=com.docker.compose.project=${PROJECT}`)).toEqual([]);
      await setupDeploy(nextVersion().version);
      kills.push(...steps.map((_, i) => ({ atStep: i + 1 })));
    }
    for (const [i, kill] of kills.entries()) {
      const by = downRecovery(i);
      await named(`down killed at ${killName(kill)}, then ${by}`, () => (by === 'deploy' ? deployAfter(kill) : rollbackDataPoint(kill, ['down'])));
    }
  }, LONG);

  it.skipIf(!runs('postgres-killed'))('Postgres killed during a backup: that backup fails cleanly, earlier ones intact; once the db is back the next backup succeeds', async () => {
    const before = await backupIds();
    // hold a lock on crr_items so that pg_dump waits inside its step: the kill lands mid-dump, every time
    const holder = execa('docker', ['exec', await container('db'), 'psql', '-X', '-U', 'demo', '-d', 'demo', '-c', 'BEGIN; LOCK TABLE crr_items IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);'], { reject: false });
    for (let i = 0; i < 100 && (await sql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'crr_items' AND l.mode = 'AccessExclusiveLock' AND l.granted")) !== '1'; i++) await new Promise((r) => setTimeout(r, 100));
    const beforeLogs = new Set(log.names());
    const child = cli(['backup']);
    // wait until pg_dump is blocked on the lock inside the server
    let waiting = false;
    for (const t0 = Date.now(); !waiting && Date.now() - t0 < 120_000; ) {
      const name = log.names().find((n) => !beforeLogs.has(n));
      waiting = Boolean(name && log.startedSteps(name).some((s) => /pg_dump/.test(s))) && Number(await sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")) > 0;
      if (!waiting) await new Promise((r) => setTimeout(r, 100));
    }
    expect(waiting, 'pg_dump never waited on the held lock').toBe(true);
    // (a) docker kill: the engine leaves a killed container stopped (a manual stop)
    const db = await container('db');
    await execa('docker', ['kill', db]);
    const r = await child;
    await holder;
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await backupIds()).toEqual(before);
    expect(readdirSync(backupsDir).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect(existsSync(path.join(stack.stateDir, 'locks', 'local.lock'))).toBe(false);
    // the db is down: a backup now says so and writes nothing
    const down = await cli(['backup']);
    expect(down.exitCode).toBe(1);
    expect(down.stderr).toMatch(/db .*no running container/);
    expect(await backupIds()).toEqual(before);
    // the operator (or the next deploy) starts it; the backup waits for its health check
    await execa('docker', ['start', db]);
    const ok = await cli(['backup', '--json']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const id = (JSON.parse(ok.stdout) as { id: string }).id;
    // (b) the server process crashes (as the kernel's OOM killer would do it): the engine restarts
    // the container by its restart policy, and a backup started at once waits for it
    const inspect = async (f: string) => (await execa('docker', ['inspect', '-f', f, db])).stdout.trim();
    const restarts = Number(await inspect('{{.RestartCount}}'));
    process.kill(Number(await inspect('{{.State.Pid}}')), 'SIGKILL');
    // the engine has seen it die (and is restarting it) before the backup starts, as for a cron job that comes later
    for (let i = 0; i < 300 && Number(await inspect('{{.RestartCount}}')) === restarts; i++) await new Promise((r) => setTimeout(r, 100));
    expect(Number(await inspect('{{.RestartCount}}'))).toBe(restarts + 1);
    const again = await cli(['backup', '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    const after = await backupIds();
    expect(after).toEqual([...before, id, (JSON.parse(again.stdout) as { id: string }).id]);
    await checkClean();
    expect(await itemsHash()).toBeTruthy();
  }, SLOW);

  it.skipIf(!runs('release'))('rollback --release killed at step boundaries: the same rollback again serves that release, the data untouched', async () => {
    await twoReleases();
    const to = serving === releases[0].version ? releases.at(-1)! : releases[0];
    const { steps } = await cleanRun(['rollback', '--release', to.run, '--yes']);
    serving = to.version;
    stepCount.release = steps.length;
    await checkClean();
    const points = killPoints(steps.length, 3, SAMPLE);
    console.log(`rollback --release: ${steps.length} steps; killing at ${points.join(', ')}`);
    for (const k of points) await named(`rollback --release killed at step ${k}`, () => rollbackReleasePoint({ atStep: k }));
  }, LONG);

  it.skipIf(!runs('release'))('rollback --release sent SIGINT or SIGTERM at step boundaries: the release in force before is back (files, image tags), exit 130/143; or, at its last step, finished; the data untouched either way', async () => {
    await twoReleases();
    const other = () => (serving === releases[0].version ? releases.at(-1)! : releases[0]);
    if (stepCount.release === undefined) {
      const to = other();
      stepCount.release = (await cleanRun(['rollback', '--release', to.run, '--yes'])).steps.length;
      serving = to.version;
      await checkClean();
    }
    const sigs = signalPoints(stepCount.release, 7);
    console.log(`rollback --release signalled at steps [${sigs.join(', ')}]`);
    for (const [i, k] of sigs.entries()) {
      const to = other();
      const same = { hash: await itemsHash(), tables: await tables(), version: to.version };
      await named(`rollback --release sent a signal at step ${k}`, () => signalPoint(['rollback', '--release', to.run, '--yes'], k, SIGNALS[(DAY + i) % 2], same));
    }
  }, LONG);

  it.skipIf(!runs('disk-full'))('the disk fills during a rollback (backup folder on a small tmpfs): it stops before touching live data, nothing lost, a clear error', async () => {
    const text = await addMarker();
    const [hash, tbl] = [await itemsHash(), await tables()];
    mkdirSync(fullDir, { recursive: true });
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', fullDir]);
    try {
      cpSync(path.join(backupsDir, T1.backup), path.join(fullDir, T1.backup), { recursive: true });
      // fill what is left but a few KiB: the safety backup cannot fit
      const fd = openSync(path.join(fullDir, 'filler'), 'w');
      const chunk = Buffer.alloc(64 * 1024, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        closeSync(fd);
      }
      await execa('truncate', ['-s', `-${8 * 1024}`, path.join(fullDir, 'filler')]);
      editStack(stack.file, (d) => (at(d, 'backup').dir = fullDir));
      const r = await cli(['rollback', T1.backup, '--yes']);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/no space left on device/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      // live data untouched, the apps running again, the target intact, nothing half-written
      expect(await itemsHash()).toBe(hash);
      expect(await tables()).toBe(tbl);
      expect(await sql(`SELECT count(*) FROM crr_items WHERE v = '${text}'`)).toBe('1');
      expect(readdirSync(fullDir).sort()).toEqual([T1.backup, 'filler'].sort());
      const v = await cli(['backups', 'verify', T1.backup]);
      expect(v.exitCode, v.stderr).toBe(0);
      expect(existsSync(path.join(stack.stateDir, 'locks', 'local.lock'))).toBe(false);
    } finally {
      editStack(stack.file, (d) => delete at(d, 'backup').dir);
      await execa('umount', [fullDir], { reject: false });
      rmSync(fullDir, { recursive: true, force: true });
    }
    await checkClean();
    expect(await itemsHash()).toBe(hash);
  }, SLOW);
});
