// The walking skeleton on a real Docker engine: deploy the demo, status OK,
// a stopped database is CRITICAL, a service that never gets healthy fails the
// deploy naming it, a second concurrent deploy is refused naming the holder.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lifeops, demoCopy, at } from '../helpers.js';

const PORT = 18181;
// A pre-deploy hook (run inside the lock) holds it as long as the test asks, so
// the concurrent-deploy test overlaps for sure instead of by timing.
const stack = demoCopy('skel', PORT, (d) => {
  at(d, 'deploy').hooks = { pre_deploy: ['sleep ${LIFEOPS_TEST_HOLD_LOCK:-0}'] };
});
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];

async function containerOf(project: string, service: string): Promise<string> {
  const r = await execa('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`]);
  return r.stdout.trim().split('\n')[0];
}

describe('walking skeleton (real engine)', () => {
  beforeAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup')); // a fixed project name: start from no data
    const r = await lifeops(args('deploy', 'local'));
    if (r.exitCode !== 0) throw new Error(`deploy failed:\n${r.stderr}`);
  });

  afterAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup'));
  });

  it('serves the app through the front on 127.0.0.1', async () => {
    const res = await fetch(`http://127.0.0.1:${PORT}/`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ app: 'lifeops-demo', version: 'dev' });
    const ready = await fetch(`http://127.0.0.1:${PORT}/ready`);
    expect(ready.status).toBe(200);
  });

  it('status --json is OK with exit 0 and lists every service', async () => {
    const r = await lifeops(args('status', '--json'));
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.level).toBe('OK');
    expect(doc.services.map((s: { service: string }) => s.service).sort()).toEqual(['cache', 'db', 'front', 'web', 'worker']);
    expect(doc.checks.map((c: { check: string }) => c.check)).toEqual(expect.arrayContaining(['postgres SELECT 1', 'redis PING', 'web ready /ready']));
    expect(r.stdout).not.toContain('demo-local-password-not-secret');
  });

  it('status --quiet prints nothing when OK', async () => {
    const r = await lifeops(args('status', '--quiet'));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('');
  });

  it('health-check passes', async () => {
    const r = await lifeops(args('health-check', '--retries', '1'));
    expect(r.exitCode).toBe(0);
  });

  it('writes a step log and a release record; logs --run replays it', async () => {
    const h = await lifeops(args('history', '--json'));
    const records = JSON.parse(h.stdout);
    expect(records.at(-1)).toMatchObject({ kind: 'deploy', env: 'local', outcome: 'success' });
    const replay = await lifeops(args('logs', '--run', records.at(-1).run_id));
    expect(replay.exitCode).toBe(0);
    expect(replay.stdout).toMatch(/✔ compose up/);
  });

  it('two deploys at once: one runs, the other is refused naming the holder', async () => {
    const lockFile = path.join(stack.stateDir, 'locks', 'local.lock');
    const first = lifeops(args('deploy', 'local'), { env: { LIFEOPS_TEST_HOLD_LOCK: '15' } });
    const deadline = Date.now() + 120_000;
    while (!existsSync(lockFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(lockFile)).toBe(true);
    const second = await lifeops(args('deploy', 'local'));
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toMatch(/locked by another run: pid \d+ on \S+, `lifeops -f \S+ --state-dir \S+ deploy local`, since 20\d\d-/);
    const done = await first;
    expect(done.exitCode, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/hook pre-deploy 1\/1: sleep 15/);
  });

  it('a lock held by a live process is never taken; a dead one is taken over and its run marked crashed', async () => {
    const holder = execa('sleep', ['30']);
    const lockFile = path.join(stack.stateDir, 'locks', 'local.lock');
    mkdirSync(path.dirname(lockFile), { recursive: true });
    const info = { id: 'feedbeef', pid: holder.pid, host: os.hostname(), command: 'lifeops deploy local', since: new Date().toISOString(), env: 'local' };
    writeFileSync(lockFile, JSON.stringify(info));
    try {
      const r = await lifeops(args('deploy', 'local'));
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain(`locked by another run: pid ${holder.pid} on ${os.hostname()}, \`lifeops deploy local\``);
      const rel = await lifeops(args('lock', 'release', 'feedbeef'));
      expect(rel.exitCode).toBe(1);
      expect(existsSync(lockFile)).toBe(true);
    } finally {
      holder.kill();
      await holder.catch(() => {});
    }
    const stale = await lifeops(args('deploy', 'local'));
    expect(stale.exitCode, stale.stderr).toBe(0);
    expect(stale.stderr).toContain(`took over the stale lock of lock feedbeef (pid ${holder.pid} on ${os.hostname()}`);
    expect(existsSync(lockFile)).toBe(false);
    const h = JSON.parse((await lifeops(args('history', '--json'))).stdout) as { run_id: string; outcome: string; kind: string }[];
    expect(h.filter((r) => r.outcome === 'crashed')).toEqual([expect.objectContaining({ run_id: 'lock-feedbeef', kind: 'deploy' })]);
  });

  it('a stopped database makes status CRITICAL (exit 2) naming it', async () => {
    const db = await containerOf('skel-local', 'db');
    await execa('docker', ['stop', db]);
    try {
      const r = await lifeops(args('status'));
      expect(r.exitCode).toBe(2);
      expect(r.stdout).toMatch(/CRITICAL\s+db\s+exited/);
      const j = await lifeops(args('status', '--json'));
      expect(JSON.parse(j.stdout).services.find((s: { service: string }) => s.service === 'db').level).toBe('CRITICAL');
    } finally {
      await execa('docker', ['start', db]);
    }
  });

  it('logs shows a service log', async () => {
    const r = await lifeops(args('logs', 'web', '--tail', '5'));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/web/);
  });
});

describe('a service whose health never passes', () => {
  const bad = demoCopy('sick', 18182, (d) => {
    at(d, 'services.web.healthcheck').test = 'exit 1';
    at(d, 'services.web').health_timeout = '20s';
  });
  const badArgs = (...rest: string[]) => ['-f', bad.file, '--state-dir', bad.stateDir, ...rest];
  afterAll(async () => {
    await lifeops(badArgs('down', '--volumes', '--yes', '--skip-backup'));
  });

  it('fails the deploy with exit 1 naming the service (it gives up by itself: no test timeout)', async () => {
    const r = await lifeops(badArgs('deploy', 'local'));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/service web (is unhealthy|did not become healthy within 20s)/);
    expect(r.stderr).toContain('last log lines');
    const h = JSON.parse((await lifeops(badArgs('history', '--json'))).stdout);
    expect(h.at(-1).outcome).toBe('failed');
    // the lock was released on failure
    expect(JSON.parse((await lifeops(badArgs('lock', 'status', '--json'))).stdout || '[]')).toEqual([]);
  });
});
