// Rollback, backups verify and down on a remote environment over SSH (issue
// 26), on the test bed's namespace server (testbed/remote-host.sh) shared with
// remote.test.ts; its own project (rrb-remote) and port. This side is the
// operator: its DOCKER_HOST points nowhere.
//   - a backup, then a new version and a data change on the server; `rollback
//     <backup>` brings the data (Postgres rows, a Redis key) and the backup's
//     release back: its version serves through the front, `current` on the
//     server is a new release folder; the safety backup holds the changed
//     data; one SSH connection; no secret on any command line (the server's
//     processes share this machine's process table, so one `ps` sampler sees
//     both sides) nor in any file of the server's releases;
//   - `rollback --release previous`: the version before, the data untouched;
//   - `backups verify` of the backup and of the safety backup;
//   - `down --volumes`: a last backup taken and verified first, then nothing
//     of the project is left on the server's engine; a deploy brings it back.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import path from 'node:path';
import { ROOT, demoCopy, lifeops, psWhile, type CliResult } from '../helpers.js';
import { runLogs } from './crash-kit.js';
import { acceptedConnections, bedFor, cleanServer, onServer, serverContainers, type RemoteBed } from './remote-kit.js';

const PORT = 18517;
const PROJECT = 'rrb-remote';
const PASSWORD = 'demo-local-password-not-secret';
let bed: RemoteBed;
// the demo stack's own `remote` environment (ssh://root@10.238.1.2, the local images)
const stack = demoCopy('rrb', PORT);

const cli = (args: string[]) =>
  lifeops(['-f', stack.file, '--state-dir', stack.stateDir, ...args], {
    env: { LIFEOPS_COMPOSE: 'v2', LIFEOPS_SSH_IDENTITY: bed.key, LIFEOPS_SSH_KNOWN_HOSTS: bed.knownHosts, DOCKER_HOST: 'unix:///nonexistent/operator-has-no-engine.sock' },
    timeoutMs: 400_000,
  });
const ok = async (args: string[]): Promise<CliResult> => {
  const r = await cli(args);
  expect(r.exitCode, `lifeops ${args.join(' ')}:\n${r.stderr}`).toBe(0);
  return r;
};

/** psql / redis-cli in the server's containers (checks only: lifeops' own work goes over SSH) */
const sql = async (q: string) => (await onServer(['docker', 'exec', (await serverContainers(PROJECT)).db, 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-U', 'demo', '-d', 'demo', '-c', q])).stdout.trim();
const redis = async (...a: string[]) => (await onServer(['docker', 'exec', (await serverContainers(PROJECT)).cache, 'redis-cli', ...a])).stdout.trim();
const tableHash = () => sql("SELECT count(*) || ':' || md5(string_agg(id || '=' || v, ',' ORDER BY id)) FROM items");
const serving = async () => JSON.parse((await onServer(['curl', '-fsS', `http://127.0.0.1:${PORT}/ready`])).stdout || '{}').version as string | undefined;
const webImage = async () => (await onServer(['docker', 'inspect', (await serverContainers(PROJECT)).web, '--format', '{{.Config.Image}}'])).stdout.trim();
const current = async () => (await onServer(['readlink', `/srv/lifeops/${PROJECT}/current`])).stdout.trim();
const manifestRows = async (id: string) => {
  const m = JSON.parse((await ok(['backups', 'show', id, '--env', 'remote'])).stdout);
  const rows = m.contents.postgres.databases.find((d: { name: string }) => d.name === 'demo').rows as Record<string, number>;
  return Object.entries(rows).find(([t]) => t.endsWith('items'))?.[1];
};

const state: { backup?: string; safety?: string; changed?: string; before?: string; steps?: string[] } = {};
const logs = () => runLogs(path.join(stack.stateDir, 'logs'));

beforeAll(async () => {
  bed = await bedFor(PROJECT);
  await ok(['deploy', 'remote']);
  await sql('CREATE TABLE items(id int PRIMARY KEY, v text); INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 2000) g');
  await redis('SET', 'k1', 'one');
}, 600_000);
// the server's engine is shared with the rest of the lane: nothing of this project stays running
afterAll(() => cleanServer(PROJECT), 120_000);

describe('rollback, backups verify and down on a remote environment', () => {
  it("rollback <backup>: the data and the backup's release come back; the safety backup holds the changed data", async () => {
    state.before = await tableHash();
    state.backup = JSON.parse((await ok(['backup', '--env', 'remote', '--json'])).stdout).id;
    await ok(['deploy', 'remote', '--version', 'v2']);
    await sql("DELETE FROM items WHERE id > 1500; INSERT INTO items VALUES (9001, 'after the backup')");
    await redis('SET', 'k1', 'two');
    state.changed = await tableHash();
    expect(await serving()).toBe('v2');
    const releaseBefore = await current();

    const logsBefore = new Set(logs().names());
    const connectionsBefore = acceptedConnections(bed.sshdLog);
    const { result: r, lines } = await psWhile(cli(['rollback', state.backup!, '--env', 'remote', '--yes', '--json']));
    const connections = acceptedConnections(bed.sshdLog) - connectionsBefore;
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ backup: state.backup, data: true });
    state.safety = out.safety_backup;
    state.steps = logs().startedSteps(logs().names().find((n) => !logsBefore.has(n))!);
    console.log(`remote rollback: ${connections} ssh connection(s), ${lines.size} distinct command lines sampled`);
    expect(connections).toBe(1);

    expect(await tableHash()).toBe(state.before);
    expect(await redis('GET', 'k1')).toBe('one');
    expect(await webImage()).toBe('lifeops/demo-app:dev');
    expect(await serving()).toBe('dev');
    // the backup's release went to the server as a new release folder, switched in
    const after = await current();
    expect(after).toMatch(/^releases\/\d{8}T\d{6}Z-\w+$/);
    expect(after).not.toBe(releaseBefore);
    const mounts = (await onServer(['docker', 'inspect', (await serverContainers(PROJECT)).cache, '--format', '{{range .Mounts}}{{.Source}} {{end}}'])).stdout;
    expect(mounts).toContain(`/srv/lifeops/${PROJECT}/current/`);
    // the state before is in the safety backup: the changed rows
    expect(await manifestRows(state.safety!)).toBe(1501);
    // no secret on a command line (operator and server), nor in the server's files
    // (the sampler sees the whole machine: another checkout's lifeops tests, which may pass the demo's password on purpose, are not this run)
    const otherCheckout = (l: string) => /\/bin\/lifeops\.js /.test(l) && !l.includes(`${ROOT}/bin/lifeops.js`);
    expect([...lines].filter((l) => l.includes(PASSWORD) && !otherCheckout(l))).toEqual([]);
    expect((await onServer(['grep', '-rl', PASSWORD, `/srv/lifeops/${PROJECT}`])).exitCode).toBe(1);
    const history = await ok(['history', '--env', 'remote']);
    expect(history.stdout + history.stderr).toContain('rollback');
  });

  it('rollback --release previous: the version before comes back, the data stays', async () => {
    await ok(['rollback', '--release', 'previous', '--env', 'remote', '--yes']);
    expect(await webImage()).toBe('lifeops/demo-app:v2');
    expect(await serving()).toBe('v2');
    expect(await tableHash()).toBe(state.before);
    expect(await redis('GET', 'k1')).toBe('one');
  });

  it('a rollback sent SIGTERM once the data and release are switched: undone, the state before it back, the lock free', async () => {
    await sql("INSERT INTO items VALUES (9002, 'before the signalled rollback')");
    await redis('SET', 'k1', 'three');
    const before = await tableHash();
    // the backup's compose up (the data restored and its release published by then); the signal stops the run before the next step
    const k = state.steps!.findIndex((t) => t.startsWith('compose up (')) + 1;
    expect(k).toBeGreaterThan(5);
    const r = await lifeops(['-f', stack.file, '--state-dir', stack.stateDir, 'rollback', state.backup!, '--env', 'remote', '--yes'], {
      env: { LIFEOPS_COMPOSE: 'v2', LIFEOPS_SSH_IDENTITY: bed.key, LIFEOPS_SSH_KNOWN_HOSTS: bed.knownHosts, DOCKER_HOST: 'unix:///nonexistent/operator-has-no-engine.sock', LIFEOPS_TEST_SIGNAL_AT_STEP: `${k}:SIGTERM` },
      timeoutMs: 400_000,
    });
    expect(r.exitCode, r.stderr).toBe(143);
    expect(r.stderr).toContain('undone: the data and release in force before this rollback are back');
    expect(await tableHash()).toBe(before);
    expect(await redis('GET', 'k1')).toBe('three');
    expect(await serving()).toBe('v2');
    expect(await current()).toMatch(/-undo$/);
    // the server's lock went with the command's SSH session
    expect((await onServer(['flock', '-n', `/srv/lifeops/${PROJECT}/locks/remote.lock`, 'true'])).exitCode).toBe(0);
  });

  it('backups verify restores the backup and the safety backup through the server engine', async () => {
    for (const id of [state.backup!, state.safety!]) {
      const v = await ok(['backups', 'verify', id, '--env', 'remote', '--json']);
      const j = JSON.parse(v.stdout);
      expect(j.ok).toBe(true);
      expect(j.databases.find((d: { name: string }) => d.name === 'demo').rows).toBeGreaterThan(1500);
    }
    // the scratch databases are gone again
    expect(await sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'lifeops_verify_%'")).toBe('0');
    const list = await ok(['backups', 'list', '--env', 'remote']);
    expect(list.stdout.split('\n').find((l) => l.startsWith(state.backup!))).toContain('verified');
  });

  it('down --volumes: a verified last backup first, then nothing left on the server; deploy brings it back', async () => {
    const d = await ok(['down', '--env', 'remote', '--volumes', '--yes', '--json']);
    const last = JSON.parse(d.stdout).last_backup;
    expect(last.kind).toBe('taken');
    expect(await manifestRows(last.id)).toBe(2001);
    expect(await serverContainers(PROJECT)).toEqual({});
    const vols = await onServer(['docker', 'volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`]);
    expect(vols.stdout.trim()).toBe('');
    await ok(['deploy', 'remote', '--version', 'v2']);
    expect(Object.keys(await serverContainers(PROJECT)).sort()).toEqual(['cache', 'db', 'front', 'web', 'worker']);
    expect(await serving()).toBe('v2');
    expect((await onServer(['grep', '-rl', PASSWORD, `/srv/lifeops/${PROJECT}`])).exitCode).toBe(1);
  });
});
