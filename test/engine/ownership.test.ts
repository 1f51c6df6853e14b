// Two state dirs for one compose project (a CI workspace and a manual clone,
// say): the containers carry the identity of the state dir that deployed them,
// a mutating run from the other one is refused (exit 2, naming the one in
// charge), status from it says who is in charge, and runs from both serialize
// on the project's engine-wide lock. Project own-local, host port 19445.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { lifeops, demoCopy, demoProject } from '../helpers.js';

const PORT = 19445;
const PROJECT = 'own-local';
const stack = demoCopy('own', PORT);
const A = stack.stateDir;
const B = path.join(stack.dir, 'clone-state');
const LOCKS = path.join(stack.dir, 'locks');
const ENV = { POSTGRES_PASSWORD: 'demo-local-password-not-secret', LIFEOPS_LOCK_DIR: LOCKS };
const from = (stateDir: string, args: string[], env: Record<string, string> = {}) => lifeops(['-f', stack.file, '--state-dir', stateDir, ...args], { env: { ...ENV, ...env } });

const containers = async () => {
  const ids = (await execa('docker', ['ps', '-aq', '--no-trunc', '--filter', `label=com.docker.compose.project=${PROJECT}`])).stdout.split('\n').filter(Boolean).sort();
  const labels = ids.length ? (JSON.parse((await execa('docker', ['inspect', ...ids])).stdout) as { Id: string; Config: { Labels: Record<string, string> } }[]) : [];
  return labels.map((c) => ({ id: c.Id, labels: c.Config.Labels }));
};

/** The engine-wide lock file of the project once a run holds it (polled), and its content. */
async function engineLockHeld(timeoutMs: number): Promise<{ file: string; text: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const f = existsSync(LOCKS) ? readdirSync(LOCKS).find((n) => n.startsWith(`${PROJECT}.`) && n.endsWith('.lock')) : undefined;
    if (f) {
      try {
        return { file: path.join(LOCKS, f), text: readFileSync(path.join(LOCKS, f), 'utf8') };
      } catch {
        /* released meanwhile */
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no engine-wide lock of ${PROJECT} appeared in ${LOCKS} within ${timeoutMs} ms`);
}

describe('the state dir in charge of a project (real engine)', () => {
  let realA: string;
  beforeAll(async () => {
    mkdirSync(B, { recursive: true });
    const r = await from(A, ['deploy', 'local', '--version', 'v1']);
    if (r.exitCode !== 0) throw new Error(`deploy from A failed:\n${r.stderr}`);
    realA = realpathSync(A);
  });
  afterAll(async () => {
    // whichever state dir ended in charge
    for (const s of [B, A]) if ((await from(s, ['down', '--volumes', '--yes', '--skip-backup'])).exitCode === 0) break;
  });

  it('a deploy labels every container with the state dir that made it', async () => {
    const cs = await containers();
    expect(cs.length).toBeGreaterThanOrEqual(4);
    for (const c of cs) {
      expect(c.labels['lifeops.state_dir'], c.id).toBe(realA);
      expect(c.labels['lifeops.state'], c.id).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(new Set(cs.map((c) => c.labels['lifeops.state'])).size).toBe(1);
    // the lock files are let go when the run ends
    expect(readdirSync(LOCKS).filter((n) => n.endsWith('.lock'))).toEqual([]);
  });

  it('deploy, backup, down and cron --install from another state dir are refused with exit 2 naming the one in charge; nothing changes', async () => {
    const before = await containers();
    for (const args of [['deploy', 'local', '--version', 'v2'], ['backup'], ['down', '--yes'], ['cron', '--install', '--cron-dir', path.join(stack.dir, 'cron.d')]]) {
      const r = await from(B, args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`project "${PROJECT}" is managed by the state dir ${realA}`);
      expect(r.stderr).toContain(`lifeops --state-dir ${realA} `);
      if (args[0] === 'deploy') console.log(`refused from B:\n${r.stderr.trim().split('\n').slice(-3).join('\n')}`);
    }
    expect(existsSync(path.join(stack.dir, 'cron.d', `lifeops-${PROJECT}`))).toBe(false);
    expect(await containers()).toEqual(before);
    // B recorded no release and no backup
    expect(JSON.parse((await from(B, ['history', '--json'])).stdout)).toEqual([]);
  });

  it('status from the other state dir says which one is in charge instead of judging its own ledger; from A it judges as before', async () => {
    const b = await from(B, ['status', '--env', 'local']);
    expect(b.exitCode, b.stdout + b.stderr).toBe(1); // WARNING
    expect(b.stdout).toContain(`state dir in charge`);
    expect(b.stdout).toContain(`managed by the state dir ${realA}, not this one (${realpathSync(B)})`);
    expect(b.stdout).not.toContain('backup freshness');
    // the other read-only commands work from B as from anywhere
    for (const args of [['health-check', '--env', 'local'], ['logs', 'web', '--env', 'local'], ['backups', 'list', '--env', 'local'], ['history', '--env', 'local']]) {
      const r = await from(B, args);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      if (args[0] === 'logs') expect(r.stdout).toMatch(/web[-_]1\s+\|/); // the web container's lines
    }
    const a = await from(A, ['status', '--env', 'local']);
    expect(a.stdout).not.toContain('state dir in charge');
    expect(a.stdout).toContain('backup freshness');
  });

  it('a deploy from A and a backup from B at once: B is refused on the shared lock, naming A\'s run; with --wait it waits, then is refused for not being in charge', async () => {
    const deploying = from(A, ['deploy', 'local', '--version', 'v2']);
    const held = await engineLockHeld(120_000);
    expect(JSON.parse(held.text).command).toContain(`(state dir ${path.resolve(A)})`);
    const b = await from(B, ['backup']);
    expect(b.exitCode, b.stderr).toBe(1);
    expect(b.stderr).toMatch(new RegExp(`project "${PROJECT}" on this engine \\(.*\\) is locked by another run: pid \\d+ on \\S+, \`lifeops -f \\S+ --state-dir ${A.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} deploy local --version v2 \\(state dir `));
    const d = await deploying;
    expect(d.exitCode, d.stderr).toBe(0);

    const again = from(A, ['deploy', 'local', '--version', 'v3']);
    await engineLockHeld(120_000);
    const t0 = Date.now();
    const waited = await from(B, ['backup', '--wait', '5m']);
    const dA = await again;
    expect(dA.exitCode, dA.stderr).toBe(0);
    expect(waited.stderr).toMatch(new RegExp(`project ${PROJECT} on this engine is locked by pid \\d+ .*: waiting up to 5m`));
    expect(waited.exitCode, waited.stderr).toBe(2);
    expect(waited.stderr).toContain(`managed by the state dir ${realA}`);
    console.log(`backup from B waited ${Date.now() - t0} ms for A's deploy, then was refused`);
  });

  it('a deploy killed with -9 while it holds both locks: the next deploy takes both over and succeeds; SIGINT there lets both go', async () => {
    const logs = path.join(A, 'logs');
    const newest = () => readdirSync(logs).filter((n) => n.endsWith('.jsonl')).sort().at(-1)!;
    const started = (name: string) => readFileSync(path.join(logs, name), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: string; event: string }).filter((e) => e.event === 'start').map((e) => e.step);
    // the step number at which both locks are held: the ownership check starts
    const k = started(newest()).findIndex((s) => s.startsWith('check that this state dir is in charge')) + 1;
    expect(k).toBeGreaterThan(2);
    const killed = await from(A, ['deploy', 'local', '--version', 'v3'], { LIFEOPS_TEST_KILL_AT_STEP: String(k) });
    expect(killed.exitCode).not.toBe(0);
    const left = readdirSync(LOCKS).filter((n) => n.endsWith('.lock'));
    expect(left, 'the engine-wide lock the killed run left').toHaveLength(1);
    expect(existsSync(path.join(A, 'locks', 'local.lock')), "the state dir's lock the killed run left").toBe(true);
    const next = await from(A, ['deploy', 'local', '--version', 'v3']);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr.match(/took over the stale lock of run /g), next.stderr).toHaveLength(2);
    expect(readdirSync(LOCKS).filter((n) => n.endsWith('.lock'))).toEqual([]);

    const signalled = await from(A, ['deploy', 'local', '--version', 'v3'], { LIFEOPS_TEST_SIGNAL_AT_STEP: `${k}:SIGINT` });
    expect(signalled.exitCode, signalled.stderr).toBe(130);
    expect(readdirSync(LOCKS).filter((n) => n.endsWith('.lock'))).toEqual([]);
    expect(existsSync(path.join(A, 'locks', 'local.lock'))).toBe(false);
  });

  it(`LIFEOPS_TAKE_OVER=<A's id>: a deploy from B takes the project over (containers relabelled, data kept); then A is refused`, async () => {
    const idA = (await containers())[0].labels['lifeops.state'];
    const db = demoProject(PROJECT);
    await db.sql("CREATE TABLE own_kept(v text); INSERT INTO own_kept VALUES ('from A')");
    const r = await from(B, ['deploy', 'local', '--version', 'v3'], { LIFEOPS_TAKE_OVER: idA });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`taking project ${PROJECT} over from the state dir ${realA}`);
    const cs = await containers();
    for (const c of cs) expect(c.labels['lifeops.state_dir'], c.id).toBe(realpathSync(B));
    expect(await db.sql('SELECT v FROM own_kept')).toBe('from A');
    const a = await from(A, ['backup']);
    expect(a.exitCode, a.stderr).toBe(2);
    expect(a.stderr).toContain(`managed by the state dir ${realpathSync(B)}`);
  });
});
