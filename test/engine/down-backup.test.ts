// The last backup before deletion, on a deployed copy of the demo stack
// (project dnb-local): `down --volumes` takes a backup, verifies it (a real
// restore into a scratch database) and pins it BEFORE compose removes
// anything; `rollback <it>` brings the data back. A backup that fails leaves
// the stack and its data as they were (exit 1). In a production environment
// the name must be typed (a real terminal, through script(1)) or given with
// --yes-delete-data; a wrong name exits 2.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, ROOT, demoCopy, demoProject, editStack, at, lifeops } from '../helpers.js';

const stack = demoCopy('dnb', 18743);
const base = ['-f', stack.file, '--state-dir', stack.stateDir];
const cli = (args: string[]) => lifeops([...base, ...args]);
const { sql, redis, tableHash, seed, container } = demoProject('dnb-local');
const backupsDir = path.join(stack.stateDir, 'backups');

type Listed = { id: string; tag?: string; verified?: string; pinned?: string };
const list = async (env = 'local') => JSON.parse((await cli(['backups', 'list', '--json', '--env', env])).stdout || '[]') as Listed[];
const volumes = async (project: string) => (await execa('docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`])).stdout.split('\n').filter(Boolean);

/** the steps of the newest run log holding `step`, in the order they were written */
function stepsOfRunWith(step: string): { step: string; event: string; outcome?: string }[] {
  const dir = path.join(stack.stateDir, 'logs');
  for (const f of readdirSync(dir).sort().reverse()) {
    const events = readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: string; event: string; outcome?: string });
    if (events.some((e) => e.step === step)) return events;
  }
  return [];
}

/** the CLI on a real terminal (script(1) gives it one), `typed` written to it */
async function onTerminal(args: string[], typed: string) {
  const cmd = ['node', BIN, ...base, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = await execa('script', ['-qec', cmd, '/dev/null'], { input: typed, reject: false, cwd: ROOT, env: { CI: '1' }, timeout: 300_000 });
  return { exitCode: r.exitCode ?? -1, out: String(r.stdout) };
}

let hash = '';
let id = '';

beforeAll(async () => {
  await seed(cli);
  hash = await tableHash();
}, 600_000);

afterAll(async () => {
  await cli(['down', '--volumes', '--yes', '--skip-backup']);
  await cli(['down', '--volumes', '--yes-delete-data', 'production', '--env', 'production', '--skip-backup']);
}, 180_000);

describe('down --volumes: the last backup before deletion', () => {
  it('a backup that fails removes nothing: exit 1, the stack running and its data in place', async () => {
    // a further database that does not exist on the server: pg_dump of it fails half-way through the backup
    editStack(stack.file, (d) => (at(d, 'postgres').databases = ['nosuchdb']));
    try {
      const before = await list();
      const r = await cli(['down', '--volumes', '--yes']);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/the last backup before deleting the volumes failed, so nothing was removed: .*nosuchdb/);
      expect(await volumes('dnb-local')).not.toEqual([]);
      expect(await container('db')).not.toBe('');
      expect(await tableHash()).toBe(hash);
      expect(await redis('GET', 'k1')).toBe('one');
      expect(await list()).toEqual(before);
      expect(readdirSync(backupsDir).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    } finally {
      editStack(stack.file, (d) => delete at(d, 'postgres').databases);
    }
  });

  it('takes a verified backup before it removes anything (the datastores a plain down removed started for it), names it, and backups list shows it verified and pinned', async () => {
    // a plain down first: containers gone, volumes kept
    const plain = await cli(['down']);
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(await container('db')).toBe('');
    expect(await volumes('dnb-local')).not.toEqual([]);
    const r = await cli(['down', '--volumes', '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/start db, cache for the last backup \(db: no container, its volume kept; cache: no container, its volume kept\)/);
    const named = /last backup before deletion: (\S+) \(verified; demo: (\d+) rows/.exec(r.stderr);
    expect(named, r.stderr).not.toBeNull();
    id = named![1];
    expect(Number(named![2])).toBeGreaterThanOrEqual(2000);
    expect(r.stderr).toContain(`lifeops rollback ${id}`);
    expect(await volumes('dnb-local')).toEqual([]);
    const b = (await list()).find((x) => x.id === id);
    expect(b).toEqual(expect.objectContaining({ id, tag: 'last before down --volumes', verified: expect.any(String), pinned: expect.stringMatching(/^last before down --volumes/) }));
    // in the run's log: the manifest written and the dump restored and counted, all before compose down started
    const steps = stepsOfRunWith('compose down --volumes');
    const idx = (step: RegExp, event: string) => steps.findIndex((e) => step.test(e.step) && e.event === event && (event === 'start' || e.outcome === 'ok'));
    const manifest = idx(/^checksums, manifest, rename into place$/, 'end');
    const restored = idx(/^restore postgres\/demo\.dump into a scratch database/, 'end');
    const removal = idx(/^compose down --volumes$/, 'start');
    expect(manifest).toBeGreaterThan(-1);
    expect(restored).toBeGreaterThan(manifest);
    expect(removal).toBeGreaterThan(restored);
  });

  it('with no volume left there is nothing to back up: it says so and goes on', async () => {
    const n = (await list()).length;
    const r = await cli(['down', '--volumes', '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/nothing to back up before deleting the volumes: no volume of db, cache exists/);
    expect((await list()).length).toBe(n);
  });

  it('rollback to that backup brings the data back', async () => {
    expect(id).not.toBe('');
    const r = await cli(['rollback', id, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await tableHash()).toBe(hash);
    expect(await redis('GET', 'k1')).toBe('one');
    expect(await sql('SELECT count(*) FROM items')).toBe('2000');
  });

  it('production: plain --yes is not enough, a wrong name exits 2, the right name (typed or --yes-delete-data) goes on', async () => {
    const prod = ['down', '--volumes', '--env', 'production'];
    const yes = await cli([...prod, '--yes']);
    expect(yes.exitCode).toBe(2);
    expect(yes.stderr).toMatch(/production environment: deleting its data needs its name \(--yes is not enough\)/);
    expect(yes.stderr).toContain('--yes-delete-data production');
    const wrong = await cli([...prod, '--yes-delete-data', 'local']);
    expect(wrong.exitCode).toBe(2);
    expect(wrong.stderr).toMatch(/--yes-delete-data names "local" but the environment is "production": nothing was deleted/);
    const typedWrong = await onTerminal(prod, 'prod\n');
    expect(typedWrong.exitCode, typedWrong.out).toBe(2);
    expect(typedWrong.out).toMatch(/type its name to confirm/);
    expect(typedWrong.out).toMatch(/"prod" is not "production": nothing was deleted/);
    // the local stack was never touched by any of these
    expect(await tableHash()).toBe(hash);
    // typed right: the production project has no volume here, so nothing to back up, and down goes on
    const typed = await onTerminal(prod, 'production\n');
    expect(typed.exitCode, typed.out).toBe(0);
    expect(typed.out).toMatch(/nothing to back up before deleting the volumes/);
    // in a script: the name given, the result on stdout as JSON
    const scripted = await cli([...prod, '--yes-delete-data', 'production', '--json']);
    expect(scripted.exitCode, scripted.stderr).toBe(0);
    expect(JSON.parse(scripted.stdout)).toEqual({ project: expect.stringMatching(/^dnb/), env: 'production', volumes_deleted: true, last_backup: { kind: 'nothing', why: expect.stringMatching(/^no volume of db, cache exists/) } });
    expect(await tableHash()).toBe(hash);
  });
});
