// Swarm `status` in the compose target's report shape (plan/swarm.ts
// swarmStatusReport): levels of services and nodes, the ledger's checks,
// and the same Nagios and Prometheus outputs (promtool checks the metrics).
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { statusSchema } from '../../src/config/schema.js';
import { swarmNodeCheck, swarmServiceFact, swarmStatusReport, type SwarmStatusFacts } from '../../src/plan/swarm.js';
import { LEVEL_EXIT } from '../../src/plan/status.js';
import { formatNagios } from '../../src/cli/status-nagios.js';
import { formatPrometheus } from '../../src/cli/status-prometheus.js';
import type { SwarmTask } from '../../src/commands/swarm.js';

const NOW = '2026-12-07T05:00:00.000Z';
const task = (node: string, state: string, error = ''): SwarmTask => ({ ID: `t-${node}-${state}`, Name: 'x', Image: 'lifeops/demo-app:sw1', Node: node, DesiredState: 'Running', CurrentState: state, Error: error });
const thresholds = statusSchema.parse({});

function facts(edit: (f: SwarmStatusFacts) => void = () => undefined): SwarmStatusFacts {
  const f: SwarmStatusFacts = {
    project: 'demo-swarm',
    env: 'swarm',
    now: NOW,
    duration_ms: 120,
    nodes: [
      { hostname: 'lsw1', role: 'manager', state: 'ready', availability: 'active' },
      { hostname: 'lsw2', role: 'worker', state: 'ready', availability: 'active' },
    ],
    services: [
      { service: 'demo-swarm_web', running: 2, expected: 2, image: 'lifeops/demo-app:sw1', convergence: { state: 'converged' }, tasks: [task('lsw1', 'Running 5 minutes ago'), task('lsw2', 'Running 5 minutes ago')] },
      { service: 'demo-swarm_db', running: 1, expected: 1, image: 'lifeops/postgres:15', convergence: { state: 'converged' }, tasks: [task('lsw1', 'Running 6 minutes ago')] },
    ],
    release: { kind: 'deploy', outcome: 'success', time: '2026-12-07T04:50:00.000Z', version: 'sw1', run_id: 'r1' },
    due_since: '2026-12-07T04:50:00.000Z',
    backups: { count: 1, newest: { id: 'b1', time: '2026-12-07T04:55:00.000Z', size: 1234 }, duration_ms: 0 },
    lock: { held: false },
  };
  edit(f);
  return f;
}

describe('swarm status mapping', () => {
  it('a converged stack on ready nodes is OK, with one check per node and the ledger checks', () => {
    const r = swarmStatusReport(facts(), thresholds);
    expect(r.level).toBe('OK');
    expect(r.services.map((s) => [s.service, s.level, s.containers, s.expected, s.state])).toEqual([
      ['demo-swarm_web', 'OK', 2, 2, 'running'],
      ['demo-swarm_db', 'OK', 1, 1, 'running'],
    ]);
    expect(r.checks.map((c) => c.check)).toEqual(['node lsw1', 'node lsw2', 'backup freshness', 'last deploy', 'lock']);
    expect(r.summary).toBe('demo-swarm: 2/2 services converged on 2 nodes, 5 checks OK');
    expect(r.services[0].message).toBe('2/2 tasks running on lsw1, lsw2');
  });

  it('levels: pending WARNING, failed or none running CRITICAL, node drained WARNING, node down CRITICAL', () => {
    expect(swarmServiceFact({ ...facts().services[0], running: 1, convergence: { state: 'pending', why: 'web: 1/2 running' } }).level).toBe('WARNING');
    expect(swarmServiceFact({ ...facts().services[0], convergence: { state: 'failed', why: 'web: update rollback started' } }).level).toBe('CRITICAL');
    const none = swarmServiceFact({ ...facts().services[0], running: 0, convergence: { state: 'pending', why: 'web: 0/2 running (no suitable node)' }, tasks: [task('lsw2', 'Rejected 3 seconds ago', 'no suitable node')] });
    expect([none.level, none.state, none.restarts, none.message]).toEqual(['CRITICAL', 'missing', 1, 'no task running (web: 0/2 running (no suitable node))']);
    expect(swarmNodeCheck({ hostname: 'lsw2', role: 'worker', state: 'ready', availability: 'drain' }).level).toBe('WARNING');
    expect(swarmNodeCheck({ hostname: 'lsw2', role: 'worker', state: 'down', availability: 'active' })).toMatchObject({ level: 'CRITICAL', message: 'worker node is down' });
    const r = swarmStatusReport(facts((f) => (f.nodes[1].state = 'down')), thresholds);
    expect(r.level).toBe('CRITICAL');
    expect(r.summary).toMatch(/^demo-swarm: CRITICAL node lsw2: worker node is down/);
  });

  it('no services: CRITICAL; a rolled-back deploy and an old backup: WARNING or worse from the shared checks', () => {
    expect(swarmStatusReport(facts((f) => (f.services = [])), thresholds).checks[0]).toMatchObject({ check: 'swarm stack', level: 'CRITICAL' });
    const rolled = swarmStatusReport(facts((f) => (f.release = { kind: 'deploy', outcome: 'rolled-back', time: NOW, version: 'sw2', run_id: 'r2' })), thresholds);
    expect(rolled.checks.find((c) => c.check === 'last deploy')?.level).toBe('WARNING');
    const old = swarmStatusReport(facts((f) => (f.backups.newest!.time = '2026-11-01T00:00:00.000Z')), thresholds);
    expect(old.checks.find((c) => c.check === 'backup freshness')?.level).toBe('CRITICAL');
    expect(LEVEL_EXIT[old.level]).toBe(2);
  });

  it('renders the same Nagios and Prometheus outputs as compose (promtool checks the metrics)', async () => {
    const r = swarmStatusReport(facts((f) => (f.services[0] = { ...f.services[0], running: 1, convergence: { state: 'pending', why: 'web: 1/2 running' } })), thresholds);
    const nagios = formatNagios(r);
    expect(nagios.split('\n')[0]).toMatch(/^WARNING: demo-swarm: WARNING demo-swarm_web: web: 1\/2 running \| /);
    expect(nagios).toMatch(/\nOK node lsw1: manager node ready and active\n/);
    const prom = formatPrometheus(r);
    expect(prom).toMatch(/^lifeops_status\{project="demo-swarm",env="swarm"\} 1$/m);
    expect(prom).toMatch(/^lifeops_service_containers_running\{project="demo-swarm",env="swarm",service="demo-swarm_web"\} 1$/m);
    expect(prom).toMatch(/^lifeops_check_status\{project="demo-swarm",env="swarm",check="node lsw2"\} 0$/m);
    // promtool (Debian's prometheus package, installed by testbed/setup.sh) lints the exposition format
    const check = await execa('promtool', ['check', 'metrics'], { input: prom, reject: false });
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
  });
});
