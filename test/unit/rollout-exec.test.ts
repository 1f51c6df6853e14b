// A compose command that fails once because the engine still holds a
// container's task from before a dockerd restart ("task <id>: already
// exists", seen in the crash bed after a SIGKILL) is run once more, 3 s
// later; any other failure is not retried, and a second failure stands.
import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { loadStack } from '../../src/config/load.js';
import type { DockerClient } from '../../src/clients/docker.js';
import { Run } from '../../src/flows/context.js';
import { RecordingEffects } from '../../src/flows/effects.js';
import { exec, type RolloutCtx } from '../../src/flows/rollout.js';
import { Redactor } from '../../src/util/redact.js';
import { ROOT } from '../helpers.js';

const STALE = 'Error response from daemon: task 7fd13e2d79da6bb6335f7492beb627677e92f7cb99137d8cb10b0e577a600567: already exists';
const UP = ['docker', 'compose', '-p', 'demo-local', 'up', '-d', '--remove-orphans'];

function setup(failures: string[]) {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  const stateDir = mkdtempSync(path.join(base, 'rollout-exec-'));
  const stack = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'local', processEnv: { POSTGRES_PASSWORD: 'pw-for-the-exec-test' } });
  const left = [...failures];
  const rec = new RecordingEffects((argv, kind) => (kind === 'change' && argv[1] === 'compose' && left.length ? { exitCode: 1, stderr: left.shift()! } : undefined));
  const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {}, now: () => new Date(), verbose: false, json: false };
  const run = new Run(io, stateDir, new Redactor([]), 'test');
  run.effects = rec;
  const docker = { projectContainers: async () => [] } as unknown as DockerClient;
  run.useEngine(docker);
  const ctx = { stack, run, docker, env: {} } as unknown as RolloutCtx;
  return { ctx, rec };
}

const composeCalls = (rec: RecordingEffects) => rec.calls.filter((c) => c.argv[1] === 'compose' || c.kind === 'sleep').map((c) => (c.kind === 'sleep' ? `sleep ${c.argv[0]}` : 'up'));

describe('compose commands and a stale containerd task', () => {
  it('"task … already exists" once: the same command again after 3 s, and the step succeeds', async () => {
    const t = setup([STALE]);
    await exec(t.ctx, 'compose up (project demo-local)', UP);
    expect(composeCalls(t.rec)).toEqual(['up', 'sleep 3000', 'up']);
  });

  it('twice: the second failure stands', async () => {
    const t = setup([STALE, STALE]);
    await expect(exec(t.ctx, 'compose up (project demo-local)', UP)).rejects.toThrow(/already exists/);
    expect(composeCalls(t.rec)).toEqual(['up', 'sleep 3000', 'up']);
  });

  it('any other failure is not retried', async () => {
    const t = setup(['Error response from daemon: driver failed programming external connectivity: port is already allocated']);
    await expect(exec(t.ctx, 'compose up (project demo-local)', UP)).rejects.toThrow(/port is already allocated/);
    expect(composeCalls(t.rec)).toEqual(['up']);
  });
});
