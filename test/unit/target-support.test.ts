// A flag the stack's target cannot honour is refused before anything runs
// (exit 2): on swarm, `deploy --dry-run` once deployed for real.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { refusedOptions } from '../../src/plan/target-support.js';
import { ROOT, lifeops } from '../helpers.js';

describe('refusedOptions', () => {
  it('refuses nothing on compose', () => {
    expect(refusedOptions('compose', 'deploy', { dryRun: true, build: true })).toEqual([]);
    expect(refusedOptions('compose', 'down', { volumes: true })).toEqual([]);
  });
  it('names each flag swarm cannot honour, and only those', () => {
    expect(refusedOptions('swarm', 'deploy', { dryRun: true, build: true, yes: true, skipBackup: true }).map((r) => r.flag)).toEqual(['--build']);
    expect(refusedOptions('swarm', 'deploy', { yes: true, allowDangerousMigrations: true, json: true, wait: '1m' })).toEqual([]);
    expect(refusedOptions('swarm', 'deploy', { dryRun: false })).toEqual([]);
  });
  it('refuses no status format: swarm has text, JSON, Nagios, Prometheus and the textfile', () => {
    expect(refusedOptions('swarm', 'status', { format: 'nagios' })).toEqual([]);
    expect(refusedOptions('swarm', 'status', { format: 'prometheus', textfile: '/tmp/x' })).toEqual([]);
    expect(refusedOptions('swarm', 'status', { format: 'json', quiet: true })).toEqual([]);
  });
  it('refuses whole commands swarm cannot run', () => {
    expect(refusedOptions('swarm', 'down', {}).map((r) => r.flag)).toEqual(['down']);
    expect(refusedOptions('swarm', 'backups verify', { latest: true }).map((r) => r.flag)).toEqual(['backups verify']);
    expect(refusedOptions('swarm', 'rollback', { release: 'x', id: '20261207T120000-abcdef' }).map((r) => r.flag)).toEqual(['--release']);
    expect(refusedOptions('swarm', 'rollback', {}).map((r) => r.flag)).toEqual(['rollback without a backup id']);
    expect(refusedOptions('swarm', 'rollback', { id: '20261207T120000-abcdef' })).toEqual([]);
  });
});

describe('the CLI on a swarm environment (no engine: the refusal comes first)', () => {
  const demo = path.join(ROOT, 'stacks/demo.yaml');
  const cases: [string, string[]][] = [
    ['deploy --dry-run --build', ['deploy', 'swarm', '--dry-run', '--build', '--version', 'sw2']],
    ['deploy --build', ['deploy', 'swarm', '--build']],
    ['down', ['down', '--env', 'swarm', '--yes']],
    ['backups verify', ['backups', 'verify', '--latest', '--env', 'swarm']],
    ['rollback --release', ['rollback', '--release', 'x', '--env', 'swarm']],
    ['rollback without a backup id', ['rollback', '--env', 'swarm']],
    ['logs --follow', ['logs', '--follow', '--env', 'swarm']],
  ];
  for (const [name, args] of cases)
    it(`${name}: exit 2, a message naming it, no state written`, async () => {
      const stateDir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-swarm-refuse-'));
      const r = await lifeops(['-f', demo, '--state-dir', stateDir, ...args], { env: { DOCKER_HOST: 'unix:///nonexistent' } });
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/target swarm/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      // nothing was started: no run log, no lock, no ledger (the stack parse cache may be written)
      expect(readdirSync(stateDir, { recursive: true }).filter((f) => !/^(render|cache)/.test(String(f)))).toEqual([]);
    });
});
