// The plan is what runs: the deploy executor, driven without Docker through
// the recording effects port and a scripted engine, makes exactly the
// changing calls the printed plan lists, in order, for a first deploy, a
// version change, a config change and an adoption, on compose v1 and v2;
// a failure mid-way undoes; a dry-run port refuses the first change.
import { describe, it, expect, vi } from 'vitest';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { loadStack } from '../../src/config/load.js';
import { planDeploy, type DeployFacts, type DeployPlan } from '../../src/plan/deploy.js';
import type { ComposeCli } from '../../src/commands/compose.js';
import type { ContainerState, DockerClient } from '../../src/clients/docker.js';
import { Run } from '../../src/flows/context.js';
import { RecordingEffects, dryRunEffects, DryRunMutationError, crashTestEffects } from '../../src/flows/effects.js';
import { execute } from '../../src/flows/deploy-execute.js';
import { configHash, composePaths, renderStack, writeRendered } from '../../src/flows/render.js';
import { mapImage } from '../../src/config/images.js';
import { Redactor } from '../../src/util/redact.js';
import { readReleases } from '../../src/state/ledger.js';
import { ROOT } from '../helpers.js';

const V2: ComposeCli = { kind: 'v2', argv: ['docker', 'compose'], version: '2.26.1' };
const V1: ComposeCli = { kind: 'v1', argv: ['docker-compose'], version: '1.29.2' };
const SERVICES = ['db', 'cache', 'web', 'worker', 'front'];

/** A scripted engine: containers appear when compose scales or ups, go when docker rm runs. */
class ScriptedEngine {
  containers: ContainerState[];
  private seq = 0;
  constructor(project: string, running: string[], private readonly all: string[] = SERVICES) {
    this.containers = running.map((s) => this.make(project, s));
  }
  make(project: string, service: string): ContainerState {
    const n = ++this.seq;
    return { id: `c${n}-${service}`, name: `${project}-${service}-${n}`, service, number: n, image: `img-${service}`, imageId: `sha256:${service}`, state: 'running', health: 'healthy', restarts: 0, ports: {}, labels: { 'com.docker.compose.config-hash': `old-${service}`, 'com.docker.compose.version': '2.26.1' } };
  }
  /** what the compose command just recorded does to the containers */
  apply(project: string, argv: string[]): void {
    const scale = argv.indexOf('--scale');
    if (scale >= 0) {
      const [svc, count] = argv[scale + 1].split('=');
      while (this.containers.filter((c) => c.service === svc).length < Number(count)) this.containers.push(this.make(project, svc));
      return;
    }
    if (argv[0] === 'docker' && argv[1] === 'rm') this.containers = this.containers.filter((c) => c.id !== argv[2]);
    const up = argv.indexOf('up');
    if (up >= 0 && (argv[0] === 'docker-compose' || argv[1] === 'compose')) {
      const named = argv.slice(up + 1).filter((a) => !a.startsWith('-'));
      for (const s of named.length ? named : this.all) if (!this.containers.some((c) => c.service === s)) this.containers.push(this.make(project, s));
    }
  }
  asClient(): DockerClient {
    return {
      projectContainers: async () => this.containers.map((c) => ({ ...c })),
      inspect: async (id: string) => ({ ...this.containers.find((c) => c.id === id)! }),
      // the checks' probes: psql SELECT 1, redis-cli PING, and the HTTP probe's "ok N" lines
      exec: async (_id: string, cmd: string[]) => ({ exitCode: 0, output: cmd.includes('psql') ? '1\n' : cmd.includes('redis-cli') ? 'PONG\n' : 'ok 0\nok 1\nok 2\n' }),
      imageId: async (ref: string) => `sha256:${ref}`,
      logs: async () => '',
    } as unknown as DockerClient;
  }
}

function setup(compose: ComposeCli, running: string[], failOn?: RegExp, env = 'local') {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  const stateDir = mkdtempSync(path.join(base, 'execute-'));
  const stack = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env, processEnv: { POSTGRES_PASSWORD: 'pw-for-the-execute-test' } });
  // the scripted engine answers instantly; the front-settle pause is recorded, not waited
  const all = env === 'monitored' ? [...SERVICES, 'prometheus', 'alertmanager'] : SERVICES;
  const engine = new ScriptedEngine(stack.project, running, all);
  let failed = false;
  const rec = new RecordingEffects((argv, kind) => {
    if (kind === 'read') return argv.includes('--hash=*') ? { stdout: all.map((s) => `${s} new-${s}`).join('\n') } : undefined;
    // the scripted failure happens once: the undo's own commands succeed
    if (failOn?.test(argv.join(' ')) && !failed) {
      failed = true;
      return { exitCode: 1, stderr: 'scripted failure' };
    }
    engine.apply(stack.project, argv);
    return undefined;
  });
  const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {}, now: () => new Date(), verbose: false, json: false };
  const run = new Run(io, stateDir, new Redactor([]), 'test');
  run.effects = rec;
  run.useEngine(engine.asClient());
  const renderDir = path.join(stateDir, 'render', 'local');
  const files = renderStack(stack, renderDir);
  const target = { project: stack.project, files: composePaths(files, renderDir) };
  const d = {
    stack,
    run,
    opts: { stateDir, commandLine: 'test', skipBackup: true },
    files,
    renderDir,
    hash: configHash(files),
    target,
    version: 'v9',
    images: Object.fromEntries(Object.entries(stack.services).map(([n, s]) => [n, mapImage(s.image, stack.images)])),
  };
  const facts = (over: Partial<DeployFacts>): DeployFacts => ({
    stack,
    version: 'v9',
    configHash: d.hash,
    renderDir,
    fileCount: files.length,
    compose,
    target,
    containers: engine.containers.map((c) => ({ id: c.id, name: c.name, service: c.service, state: c.state, health: c.health, imageId: c.imageId, labels: c.labels })),
    hashes: Object.fromEntries(all.map((s) => [s, `old-${s}`])),
    hashesFrom: 'compose',
    imageIds: Object.fromEntries(all.map((s) => [s, `sha256:${s}`])),
    builds: [],
    frontChanged: false,
    newMigrations: [],
    options: { skipBackup: true },
    ...over,
  });
  return { stack, engine, rec, run, d, facts, compose };
}

/** Every changing command of the plan, in the order the executor must run them. */
function plannedChanges(plan: DeployPlan): string[][] {
  return plan.steps.flatMap((s): string[][] => {
    if (s.kind === 'roll') return [s.argv, ...s.retire.flatMap((c) => [c.stop, c.rm]), ...(s.scaleBack ? [s.scaleBack] : [])];
    if (s.kind === 'build' || s.kind === 'up-infra' || s.kind === 'up-apps' || s.kind === 'migrate' || s.kind === 'start-data' || s.kind === 'up-monitoring' || s.kind === 'reload-monitoring') return [s.argv];
    return [];
  });
}

const result = (outcome: 'success' | 'failed' | 'planned') => ({ run_id: 'r', env: 'local', version: 'v9', outcome, duration_ms: 0, config_hash: '', images: {}, log: '' });

describe('the executor runs exactly the plan (recording port)', () => {
  for (const compose of [V2, V1]) {
    const lane = `compose ${compose.kind}`;
    it(`${lane}: a version change: web rolls (scale up, stop and remove the old, scale back), worker recreated, migrations run`, async () => {
      const t = setup(compose, SERVICES);
      const plan = planDeploy(t.facts({ hashes: { ...Object.fromEntries(SERVICES.map((s) => [s, `old-${s}`])), web: 'new-web', worker: 'new-worker' }, imageIds: { ...Object.fromEntries(SERVICES.map((s) => [s, `sha256:${s}`])), web: 'sha256:v9', worker: 'sha256:v9' }, newMigrations: ['0002_referrer.sql'] }));
      expect(plan.steps.map((s) => s.kind)).toEqual(expect.arrayContaining(['migrate', 'roll', 'up-apps', 'prune']));
      // the worker depends on no rolling service: it is recreated while web rolls
      expect(plan.steps.find((s) => s.kind === 'up-apps')).toMatchObject({ besideRoll: true, title: 'compose up --no-deps worker (while web rolls)' });
      await execute(t.d, plan, compose, undefined, new Date(), result);
      // every planned change made once; each step's own commands in their order
      const key = (a: string[]) => a.join(' ');
      expect(t.rec.changes().map(key).sort()).toEqual(plannedChanges(plan).map(key).sort());
      for (const step of plan.steps) {
        const own = plannedChanges({ ...plan, steps: [step] }).map(key);
        expect(t.rec.changes().map(key).filter((c) => own.includes(c))).toEqual(own);
      }
      // the old web container is gone, a new one serves
      expect(t.engine.containers.filter((c) => c.service === 'web').map((c) => c.id)).not.toContain('c3-web');
      expect(t.rec.calls.some((c) => c.kind === 'sleep')).toBe(true);
    });

    it(`${lane}: a first deploy: datastores first, then one compose up`, async () => {
      const t = setup(compose, []);
      const plan = planDeploy(t.facts({ containers: [], prev: undefined, frontChanged: 'unknown' }));
      expect(plan.rollout.fresh).toBe(true);
      await execute(t.d, plan, compose, undefined, new Date(), result);
      expect(t.rec.changes()).toEqual(plannedChanges(plan));
      expect(t.rec.changes().length).toBeGreaterThanOrEqual(2);
    });

    it(`${lane}: a config change of the worker only: one up --no-deps, nothing else changes`, async () => {
      const t = setup(compose, SERVICES);
      const plan = planDeploy(t.facts({ hashes: { ...Object.fromEntries(SERVICES.map((s) => [s, `old-${s}`])), worker: 'new-worker' }, newMigrations: undefined }));
      await execute(t.d, plan, compose, undefined, new Date(), result);
      expect(t.rec.changes()).toEqual(plannedChanges(plan));
      expect(t.rec.changes().some((a) => a.includes('worker'))).toBe(true);
      expect(t.rec.changes().some((a) => a.includes('web'))).toBe(false);
    });
  }

  it('adoption: containers a plain compose started are kept where the plain form matches; only what differs changes', async () => {
    const t = setup(V2, SERVICES);
    for (const c of t.engine.containers) delete (c.labels as Record<string, string>)['lifeops.stack'];
    const plain = Object.fromEntries(SERVICES.map((s) => [s, `old-${s}`]));
    const plan = planDeploy(t.facts({ plainHashes: plain, hashes: { ...plain, web: 'new-web' } }));
    await execute(t.d, plan, V2, undefined, new Date(), result);
    expect(t.rec.changes()).toEqual(plannedChanges(plan));
  });

  it('a failure removing the old web container: the error is reported, and nothing after it in the plan runs', async () => {
    const t = setup(V2, SERVICES, /^docker rm c3-web$/);
    const plan = planDeploy(t.facts({ hashes: { ...Object.fromEntries(SERVICES.map((s) => [s, `old-${s}`])), web: 'new-web' } }));
    await expect(execute(t.d, plan, V2, undefined, new Date(), result)).rejects.toThrow(/scripted failure|no earlier release/);
    const planned = plannedChanges(plan);
    const cut = planned.findIndex((a) => a.join(' ') === 'docker rm c3-web');
    expect(cut).toBeGreaterThan(0);
    expect(t.rec.changes().slice(0, cut + 1)).toEqual(planned.slice(0, cut + 1));
  });

  it('monitoring: a changed rule file reloads Prometheus in place (check inside its container, then the planned HUP), a changed exporter config recreates it', async () => {
    const t = setup(V2, [...SERVICES, 'prometheus', 'alertmanager'], undefined, 'monitored');
    const all = [...SERVICES, 'prometheus', 'alertmanager'];
    const plan = planDeploy(t.facts({ hashes: { ...Object.fromEntries(all.map((s) => [s, `old-${s}`])), alertmanager: 'new-alertmanager' }, newMigrations: undefined, monitoringChanged: { prometheus: true, alertmanager: true } }));
    expect(plan.steps.filter((s) => s.kind === 'up-monitoring' || s.kind === 'reload-monitoring').map((s) => s.kind)).toEqual(['up-monitoring', 'reload-monitoring']);
    const promId = t.engine.containers.find((c) => c.service === 'prometheus')!.id;
    await execute(t.d, plan, V2, undefined, new Date(), result);
    expect(t.rec.changes()).toEqual(plannedChanges(plan));
    expect(t.rec.changes()).toContainEqual(['docker', 'kill', '--signal', 'HUP', promId]);
    expect(t.rec.changes().find((a) => a.includes('up'))).toEqual(expect.arrayContaining(['up', '-d', 'alertmanager']));
  });

  it('monitoring: the check refusing the new files stops the deploy before the reload (no HUP sent)', async () => {
    const t = setup(V2, [...SERVICES, 'prometheus', 'alertmanager'], undefined, 'monitored');
    const client = t.engine.asClient();
    t.run.useEngine({ ...client, exec: async (id: string, cmd: string[]) => (cmd[0] === 'promtool' ? { exitCode: 1, output: 'FAILED: parsing YAML file rules/alerts.yml' } : client.exec(id, cmd)) } as typeof client);
    const plan = planDeploy(t.facts({ newMigrations: undefined, monitoringChanged: { prometheus: true, alertmanager: false } }));
    const err = await execute(t.d, plan, V2, undefined, new Date(), result).catch((e: Error) => e);
    expect(String((err as Error).message)).toMatch(/prometheus refuses the new configuration .*promtool check config/);
    expect(t.rec.changes().some((a) => a.includes('kill'))).toBe(false);
  });

  it('the dry-run port refuses the first change, with an error that names the command', async () => {
    const t = setup(V2, SERVICES);
    t.run.effects = dryRunEffects;
    const plan = planDeploy(t.facts({ hashes: { ...Object.fromEntries(SERVICES.map((s) => [s, `old-${s}`])), worker: 'new-worker' }, newMigrations: undefined }));
    const err = await execute(t.d, plan, V2, undefined, new Date(), result).catch((e) => e);
    expect(String(err.message)).toMatch(/dry run: refused to run a command that changes the target: .*up -d .*worker/);
    expect(err).toBeInstanceOf(Error);
    void DryRunMutationError;
  });

  it('a failure after the roll with an earlier release kept: the undo rolls web back through the port, and the release is recorded rolled-back', async () => {
    const t = setup(V2, SERVICES, /^docker rm c3-web$/);
    // an earlier release whose rendered files are kept: the undo returns to them
    const prevDir = path.join(t.d.opts.stateDir, 'releases', 'local', 'R0');
    writeRendered(t.d.files, prevDir);
    const d = { ...t.d, prev: { run_id: 'R0', kind: 'deploy', env: 'local', time: new Date(0).toISOString(), duration_ms: 1, version: 'v8', user: 'test', images: {}, config_hash: 'cfg0', outcome: 'success', render_dir: prevDir } } as typeof t.d & { prev: never };
    const plan = planDeploy(t.facts({ hashes: { ...Object.fromEntries(SERVICES.map((s) => [s, `old-${s}`])), web: 'new-web' }, prev: { run_id: 'R0', version: 'v8', config_hash: 'cfg0' } }));
    const err = await execute(d, plan, V2, undefined, new Date(), result).catch((e) => e);
    expect(String(err.message)).toMatch(/rolled back to the previous release R0/);
    const planned = plannedChanges(plan);
    const cut = planned.findIndex((a) => a.join(' ') === 'docker rm c3-web');
    // the plan up to the failure, then the undo: compose's hashes read again, and changes made by the undo
    expect(t.rec.changes().slice(0, cut + 1)).toEqual(planned.slice(0, cut + 1));
    expect(t.rec.calls.filter((c) => c.kind === 'read' && c.argv.includes('--hash=*')).length).toBeGreaterThanOrEqual(1);
    // the undo changed what runs again (the previous release's compose files, web back in service)
    const undo = t.rec.changes().slice(cut + 1);
    expect(undo.length).toBeGreaterThan(0);
    expect(undo.every((a) => a.join(' ').includes(prevDir) || a[0] === 'docker')).toBe(true);
    const ledger = readReleases(t.d.opts.stateDir, 'local');
    expect(ledger[ledger.length - 1]).toMatchObject({ run_id: t.run.id, outcome: 'rolled-back' });
  });

  it('the crash tests\' kill points are an effects implementation chosen only when their variable is set', () => {
    expect(crashTestEffects({})).toBeUndefined();
    const fx = crashTestEffects({ LIFEOPS_TEST_SIGNAL_AT_STEP: '3:SIGTERM' })!;
    // process.kill is watched, not run: the worker must not get the signal
    const kill = vi.spyOn(process, 'kill').mockImplementation(() => true);
    try {
      fx.stepStarting!(2, 'a step');
      expect(kill).not.toHaveBeenCalled();
      fx.stepStarting!(3, 'a step');
      expect(kill).toHaveBeenCalledWith(process.pid, 'SIGTERM');
      crashTestEffects({ LIFEOPS_TEST_KILL_AT_STEP: '1' })!.stepStarting!(1, 'a step');
      expect(kill).toHaveBeenLastCalledWith(process.pid, 'SIGKILL');
    } finally {
      kill.mockRestore();
    }
  });
});
