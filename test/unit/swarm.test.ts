// The Swarm target without an engine: the stack file for `docker stack deploy`
// (golden file, deterministic, checked by the docker CLI's own compose loader,
// secrets never in it, configs versioned by content), the pure deciders
// (placement, pre-flight, convergence) and the exact argv of the commands.
import { describe, it, expect } from 'vitest';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import { renderAll } from '../../src/render/index.js';
import { SWARM_STACK_FILE } from '../../src/render/swarm.js';
import { eligibleNodes, serviceConvergence, swarmPreflightProblems } from '../../src/plan/swarm.js';
import type { SwarmNode, SwarmTask } from '../../src/commands/swarm.js';
import { jobCreate, stackDeploy, taskContainer } from '../../src/commands/swarm.js';
import { ROOT, lifeops } from '../helpers.js';

const SECRET = 'Sw4rm-not-in-the-file-91c2';
const GOLDEN = path.join(ROOT, 'test', 'golden', 'swarm', 'demo-swarm', SWARM_STACK_FILE);
const demo = (env: string, processEnv: Record<string, string> = {}) =>
  loadStack({ file: path.join(ROOT, 'stacks', 'demo.yaml'), env, processEnv: { POSTGRES_PASSWORD: SECRET, VERSION: 'sw1', ...processEnv } });
const renderSwarmFile = (processEnv: Record<string, string> = {}) => {
  const files = renderAll(demo('swarm', processEnv), { renderDir: path.join(ROOT, 'stacks', '.lifeops', 'render', 'swarm') });
  return { files, stackFile: files.find((f) => f.path === SWARM_STACK_FILE)!.content };
};

describe('render: target swarm', () => {
  it('the demo swarm environment renders docker-stack.yml byte-identically twice, equal to its golden file', () => {
    const a = renderSwarmFile().stackFile;
    expect(renderSwarmFile().stackFile).toBe(a);
    if (process.env.UPDATE_GOLDEN === '1') {
      mkdirSync(path.dirname(GOLDEN), { recursive: true });
      writeFileSync(GOLDEN, a);
    }
    expect(a, 'differs from test/golden/swarm/demo-swarm/docker-stack.yml (UPDATE_GOLDEN=1 to accept)').toBe(readFileSync(GOLDEN, 'utf8'));
  });

  it('a compose environment renders no stack file', () => {
    expect(renderAll(demo('local'), { renderDir: '/tmp/x' }).map((f) => f.path)).not.toContain(SWARM_STACK_FILE);
  });

  it('secret values never enter the file: they stay ${VAR} for docker stack deploy to fill', () => {
    const { stackFile } = renderSwarmFile();
    expect(stackFile).not.toContain(SECRET);
    expect(stackFile).toContain('POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}');
  });

  it('rolling policy, placement, overlay networks and host-mode publishing as the environment asks', () => {
    const doc = parse(renderSwarmFile().stackFile) as { services: Record<string, any>; networks: Record<string, any> };
    const web = doc.services.web.deploy;
    expect(web).toMatchObject({ replicas: 2, endpoint_mode: 'dnsrr', update_config: { order: 'start-first', failure_action: 'rollback', monitor: '10s' }, rollback_config: { order: 'start-first' } });
    expect(web.placement).toBeUndefined();
    for (const s of ['db', 'cache']) expect(doc.services[s].deploy).toMatchObject({ replicas: 1, update_config: { order: 'stop-first' }, placement: { constraints: ['node.labels.lifeops.role == data'] } });
    expect(doc.services.front.ports).toEqual([{ target: 80, published: 8080, protocol: 'tcp', mode: 'host' }]);
    expect(doc.services.front.deploy.update_config.order).toBe('stop-first'); // a host-mode port cannot be bound twice on one node
    expect(doc.networks).toEqual({ default: { driver: 'overlay' }, backend: { driver: 'overlay', internal: true } });
    for (const s of Object.values(doc.services)) {
      expect(s.depends_on).toBeUndefined();
      expect((s.volumes ?? []).filter((v: string) => v.startsWith('./'))).toEqual([]); // rendered files travel as configs
    }
  });

  it('real servers get the defaults: virtual IPs and the ingress routing mesh', () => {
    const stack = demo('swarm');
    stack.swarm = { ...stack.swarm!, endpoint_mode: 'vip', publish_mode: 'ingress' };
    const doc = parse(renderAll(stack, { renderDir: '/tmp/x' }).find((f) => f.path === SWARM_STACK_FILE)!.content) as { services: Record<string, any> };
    expect(doc.services.front.ports[0].mode).toBe('ingress');
    expect(doc.services.front.deploy.update_config.order).toBe('start-first');
    expect(doc.services.web.deploy.endpoint_mode).toBe('vip');
  });

  it('configs carry a content hash in their name: a changed file is a new config, an unchanged one keeps its name', () => {
    const a = parse(renderSwarmFile().stackFile).configs as Record<string, { name: string }>;
    const stack = demo('swarm');
    stack.front!.rate_limits!.general!.rate = '100r/s';
    const b = parse(renderAll(stack, { renderDir: path.join(ROOT, 'stacks', '.lifeops', 'render', 'swarm') }).find((f) => f.path === SWARM_STACK_FILE)!.content).configs as Record<string, { name: string }>;
    const changed = Object.keys(a).filter((k) => !(k in b));
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.every((k) => k.startsWith('nginx_'))).toBe(true); // the rate limit is in the front's config only
    expect(a).toHaveProperty(Object.keys(a).find((k) => k.startsWith('postgres_'))!);
    expect(Object.keys(b).find((k) => k.startsWith('postgres_'))).toBe(Object.keys(a).find((k) => k.startsWith('postgres_')));
    for (const [k, v] of Object.entries(a)) expect(v.name).toBe(`demo-swarm_${k}`);
  });

  it('the docker CLI\'s own loader accepts the file (docker stack config, no engine needed)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-swarm-'));
    try {
      const { files } = renderSwarmFile();
      for (const f of files) {
        mkdirSync(path.dirname(path.join(dir, f.path)), { recursive: true });
        writeFileSync(path.join(dir, f.path), f.content);
      }
      const r = await execa('docker', ['stack', 'config', '-c', SWARM_STACK_FILE], { cwd: dir, reject: false, env: { POSTGRES_PASSWORD: 'x' } });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/endpoint_mode: dnsrr/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad swarm key is refused with file, line, key and what would be valid', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-swarm-'));
    try {
      const text = readFileSync(path.join(ROOT, 'stacks', 'demo.yaml'), 'utf8').replace('publish_mode: host', 'publish_mode: mesh');
      writeFileSync(path.join(dir, 'demo.yaml'), text);
      writeFileSync(path.join(dir, 'demo.local.env'), 'POSTGRES_PASSWORD=x\n');
      const r = await lifeops(['-f', path.join(dir, 'demo.yaml'), 'render', '--env', 'swarm', '--out', path.join(dir, 'out')]);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/demo\.yaml:\d+/);
      expect(r.stderr).toMatch(/publish_mode/);
      expect(r.stderr).toMatch(/ingress/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const node = (hostname: string, labels: Record<string, string> = {}, extra: Partial<SwarmNode> = {}): SwarmNode => ({ id: hostname, hostname, role: 'worker', state: 'ready', availability: 'active', labels, ...extra });

describe('plan: swarm', () => {
  const nodes = [node('n1', { 'lifeops.role': 'data' }, { role: 'manager' }), node('n2', { 'lifeops.role': 'app' }), node('n3', {}, { availability: 'drain' })];

  it('placement: labels, role and hostname; drained and down nodes never qualify', () => {
    expect(eligibleNodes(nodes, ['node.labels.lifeops.role == data']).map((n) => n.hostname)).toEqual(['n1']);
    expect(eligibleNodes(nodes, ['node.labels.lifeops.role != data']).map((n) => n.hostname)).toEqual(['n2']);
    expect(eligibleNodes(nodes, ['node.role == manager']).map((n) => n.hostname)).toEqual(['n1']);
    expect(eligibleNodes(nodes, []).map((n) => n.hostname)).toEqual(['n1', 'n2']);
  });

  it('pre-flight: not a manager, a node down, a label nobody carries, an image missing where it may run', () => {
    expect(swarmPreflightProblems({ isManager: false, nodes, services: [], images: {} })[0]).toMatch(/not a Swarm manager/);
    const problems = swarmPreflightProblems({
      isManager: true,
      nodes: [...nodes, node('n4', {}, { state: 'down' })],
      services: [
        { name: 'db', image: 'pg', constraints: ['node.labels.lifeops.role == data'] },
        { name: 'web', image: 'app:2', constraints: [] },
        { name: 'gpu', image: 'x', constraints: ['node.labels.gpu == yes'] },
      ],
      images: { n1: { pg: true, 'app:2': true, x: true }, n2: { pg: false, 'app:2': false, x: true } },
    });
    expect(problems).toEqual([
      'node n4 is down',
      expect.stringMatching(/^image app:2 \(service web\) is missing on node n2: load it there/),
      expect.stringMatching(/^no ready node satisfies the placement of gpu .*--label-add gpu=yes/),
    ]);
  });

  it('pre-flight: a node lifeops cannot reach is named, not skipped', () => {
    const p = swarmPreflightProblems({ isManager: true, nodes, services: [{ name: 'web', image: 'a', constraints: [] }], images: { n1: { a: true } } });
    expect(p).toEqual([expect.stringMatching(/node n2 may run web but swarm.nodes names no engine for it/)]);
  });

  const task = (image: string, current: string, desired = 'Running', err = ''): SwarmTask => ({ ID: 'x', Name: 's.1', Image: image, Node: 'n1', DesiredState: desired, CurrentState: current, Error: err });
  const spec = (updateState = '', replicas = 2) => ({ name: 's', replicas, image: 'app:2@sha256:abc', updateState, updateMessage: '', constraints: [], labels: {} });

  it('convergence: every replica running the new image, and the update completed', () => {
    expect(serviceConvergence(spec('completed'), [task('app:2', 'Running 3 seconds ago'), task('app:2', 'Running 1 second ago')])).toEqual({ state: 'converged' });
    expect(serviceConvergence(spec(''), [task('app:2', 'Running 3 seconds ago'), task('app:2', 'Starting 1 second ago')]).state).toBe('pending');
    expect(serviceConvergence(spec('updating'), [task('app:2', 'Running 3 seconds ago'), task('app:2', 'Running 1 second ago')]).state).toBe('pending');
    expect(serviceConvergence(spec('completed'), [task('app:2', 'Running 3 seconds ago'), task('app:1', 'Running 1 minute ago')]).state).toBe('pending');
    expect(serviceConvergence(spec('', 1), [task('app:2', 'Assigned 1 second ago', 'Running', 'no suitable node')])).toEqual({ state: 'pending', why: 's: 0/1 running (no suitable node)' });
  });

  it('convergence: Swarm rolling the update back itself is a failure', () => {
    for (const s of ['rollback_started', 'rollback_completed', 'paused']) expect(serviceConvergence(spec(s), []).state).toBe('failed');
  });
});

describe('commands: swarm', () => {
  it('argv, exactly', () => {
    expect(stackDeploy('unix:///run/m.sock', '/r/docker-stack.yml', 'demo-swarm')).toEqual(['docker', '-H', 'unix:///run/m.sock', 'stack', 'deploy', '--prune', '--resolve-image', 'never', '-c', '/r/docker-stack.yml', 'demo-swarm']);
    expect(taskContainer('ssh://ops@n2', 'abc')).toEqual(['docker', '-H', 'ssh://ops@n2', 'ps', '-q', '--filter', 'label=com.docker.swarm.task.id=abc']);
    expect(
      jobCreate('unix:///m', { name: 'p_migrate', image: 'app:2', command: ['python3', 'migrate.py'], networks: ['p_backend'], constraints: ['node.labels.lifeops.role == data'], envFile: '/tmp/e', labels: { 'lifeops.oneoff': 'migrate' } }),
    ).toEqual([
      'docker', '-H', 'unix:///m', 'service', 'create', '--detach', '--mode', 'replicated-job', '--restart-condition', 'none', '--name', 'p_migrate',
      '--network', 'p_backend', '--constraint', 'node.labels.lifeops.role == data', '--env-file', '/tmp/e', '--label', 'lifeops.oneoff=migrate', 'app:2', 'python3', 'migrate.py',
    ]);
  });
});
