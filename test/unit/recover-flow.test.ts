// Recovery after a crash, without Docker: a scripted engine shows what a
// dead run left (a one-off container, a web service scaled to two by a
// rollout that never finished), and the recording effects port takes the
// changes recovery makes: each leftover stopped and removed, the serving
// container kept. A removal the engine refuses fails the recovery by name;
// on a port that refuses changes (a dry run) the first removal is refused.
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { loadStack } from '../../src/config/load.js';
import type { ContainerState, DockerClient } from '../../src/clients/docker.js';
import { dockerStop } from '../../src/commands/compose.js';
import { Run } from '../../src/flows/context.js';
import { DryRunMutationError, RecordingEffects, refusingChanges } from '../../src/flows/effects.js';
import { recover } from '../../src/flows/recover.js';
import { Redactor } from '../../src/util/redact.js';
import { ROOT } from '../helpers.js';

const container = (id: string, service: string, over: Partial<ContainerState> = {}): ContainerState => ({
  id,
  name: `demo-local-${service}-${id}`,
  service,
  number: Number(id.replace(/\D/g, '')) || 1,
  image: `img-${service}`,
  imageId: `sha256:${service}`,
  state: 'running',
  health: 'healthy',
  restarts: 0,
  ports: {},
  labels: { 'com.docker.compose.service': service },
  ...over,
});

function setup(answer?: (argv: string[]) => { exitCode: number; stderr: string } | undefined) {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  const stateDir = mkdtempSync(path.join(base, 'recover-'));
  const stack = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'local', processEnv: { POSTGRES_PASSWORD: 'pw-for-the-recover-test' } });
  const containers = [
    container('c1', 'db'),
    container('c2', 'cache'),
    container('c3', 'web', { created: '2026-01-01T00:00:00Z' }),
    // the dead rollout's new container, not yet healthy
    container('c9', 'web', { created: '2026-01-01T00:05:00Z', health: 'starting' }),
    container('c4', 'worker'),
    container('c5', 'front'),
  ];
  const oneOff = container('c7', 'web', { state: 'exited', name: 'demo-local_web_run_1', labels: { 'com.docker.compose.service': 'web', 'com.docker.compose.oneoff': 'True' } });
  const engine = {
    projectContainers: async () => containers,
    oneOffContainers: async () => [oneOff],
    inspect: async (id: string) => [...containers, oneOff].find((c) => c.id === id),
  } as unknown as DockerClient;
  const rec = new RecordingEffects((argv) => answer?.(argv));
  const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {}, now: () => new Date(), verbose: false, json: false };
  const run = new Run(io, stateDir, new Redactor([]), 'test');
  run.effects = rec;
  run.useEngine(engine);
  return { stack, stateDir, rec, run };
}

describe('recovery through the recording port', () => {
  it('a one-off container and the surplus web container a dead rollout left: each stopped and removed; the serving web container kept', async () => {
    const t = setup();
    const actions = await recover(t.stack, t.run, { stateDir: t.stateDir });
    expect(actions.map((a) => a.kind)).toEqual(['remove-oneoff', 'remove-surplus']);
    const grace = Math.ceil(Number((t.stack.services.web.stop_grace_period ?? '10s').replace(/s$/, '')));
    expect(t.rec.changes()).toEqual([dockerStop('c7', 10), ['docker', 'rm', '-f', 'c7'], dockerStop('c9', grace), ['docker', 'rm', '-f', 'c9']]);
    expect(t.rec.changes().flat()).not.toContain('c3');
  });

  it('a removal the engine refuses fails the recovery, naming the container; "no such container" counts as removed', async () => {
    const gone = setup((argv) => (argv[1] === 'rm' && argv[3] === 'c7' ? { exitCode: 1, stderr: 'Error: No such container: c7' } : undefined));
    await expect(recover(gone.stack, gone.run, { stateDir: gone.stateDir })).resolves.toHaveLength(2);
    const refused = setup((argv) => (argv[1] === 'rm' && argv[3] === 'c9' ? { exitCode: 1, stderr: 'Error: permission denied' } : undefined));
    await expect(recover(refused.stack, refused.run, { stateDir: refused.stateDir })).rejects.toThrow(/docker rm c9 failed: Error: permission denied/);
  });

  it('on a port that refuses changes, the first removal is refused loudly and nothing is removed', async () => {
    const t = setup();
    t.run.effects = refusingChanges(t.rec);
    await expect(recover(t.stack, t.run, { stateDir: t.stateDir })).rejects.toBeInstanceOf(DryRunMutationError);
    expect(t.rec.changes()).toEqual([]);
  });
});
