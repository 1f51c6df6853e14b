// Going back to another release's files (a failed deploy's undo, a rollback)
// reloads a kept Prometheus or Alertmanager whose files differ, through the
// recording port: the program's own check first, then SIGHUP. A container
// compose recreated (not kept) reads its files as it starts; unchanged files
// need nothing; a check that refuses stops before any reload.
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { loadStack } from '../../src/config/load.js';
import type { DockerClient } from '../../src/clients/docker.js';
import { Run } from '../../src/flows/context.js';
import { RecordingEffects } from '../../src/flows/effects.js';
import { reloadMonitoringBack } from '../../src/flows/monitoring-reload.js';
import { dockerHup } from '../../src/plan/monitoring.js';
import type { RenderedFile } from '../../src/render/types.js';
import { Redactor } from '../../src/util/redact.js';
import { ROOT } from '../helpers.js';

const file = (p: string, content: string) => ({ path: p, content }) as RenderedFile;
const OLD = [file('prometheus/prometheus.yml', 'scrape_interval: 5s'), file('alertmanager/alertmanager.yml', 'route: a')];
const NEW = [file('prometheus/prometheus.yml', 'scrape_interval: 10s'), file('alertmanager/alertmanager.yml', 'route: a')];

function setup(checkExit = 0) {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  const stateDir = mkdtempSync(path.join(base, 'mon-back-'));
  const stack = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'monitored', processEnv: { POSTGRES_PASSWORD: 'pw-for-the-monitoring-test' } });
  const checks: string[][] = [];
  const c = (id: string, service: string) => ({ id, name: `demo-monitored-${service}-1`, service, state: 'running', health: 'none', imageId: 'sha256:x', labels: {} });
  const docker = {
    projectContainers: async () => [c('p1', 'prometheus'), c('a1', 'alertmanager'), c('w1', 'web')],
    exec: async (_id: string, argv: string[]) => (checks.push(argv), { exitCode: checkExit, output: checkExit ? 'FAILED: parsing YAML' : 'SUCCESS' }),
  } as unknown as DockerClient;
  const rec = new RecordingEffects();
  const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {}, now: () => new Date(), verbose: false, json: false };
  const run = new Run(io, stateDir, new Redactor([]), 'test');
  run.effects = rec;
  run.useEngine(docker);
  return { ctx: { stack, run, docker }, rec, checks };
}

describe('monitoring back to the previous files', () => {
  it('Prometheus kept and its files differ: promtool check, then SIGHUP; Alertmanager (same files) untouched', async () => {
    const t = setup();
    await reloadMonitoringBack(t.ctx, NEW, OLD, new Set(['p1', 'a1', 'w1']), 'back to the previous configuration');
    expect(t.checks).toEqual([['promtool', 'check', 'config', '/etc/prometheus/prometheus.yml']]);
    expect(t.rec.changes()).toEqual([dockerHup('p1')]);
  });

  it('a Prometheus compose recreated (not kept) is left to read its files at start', async () => {
    const t = setup();
    await reloadMonitoringBack(t.ctx, NEW, OLD, new Set(['a1', 'w1']), 'back');
    expect(t.rec.changes()).toEqual([]);
  });

  it('the same files on both sides: nothing', async () => {
    const t = setup();
    await reloadMonitoringBack(t.ctx, OLD, OLD, new Set(['p1', 'a1']), 'back');
    expect(t.checks).toEqual([]);
    expect(t.rec.changes()).toEqual([]);
  });

  it("the program's check refuses: no reload, an error naming the service", async () => {
    const t = setup(1);
    await expect(reloadMonitoringBack(t.ctx, NEW, OLD, new Set(['p1']), 'back')).rejects.toThrow(/prometheus refuses the new configuration/);
    expect(t.rec.changes()).toEqual([]);
  });
});
