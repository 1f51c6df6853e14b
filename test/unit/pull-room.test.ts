// The room check before a deploy pulls (plan/pull-room.ts, flows/pull-room.ts):
// which images compose will pull, how their registry is asked (argv), what
// the manifest says they weigh (the fixtures are real `docker manifest inspect
// -v` output, CLI 28.2, from testbed/registry.mjs), and the figures a refusal
// gives. The registry questions here go to a RecordingEffects (no registry
// runs in the unit lane); test/engine/pull-room.test.ts asks a real one.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { engineTreatsInsecure, manifestBytes, manifestInspectArgv, pulledImages, pullEstimate, registryHost, PULL_FACTOR } from '../../src/plan/pull-room.js';
import { describeRoom, diskRoom, roomRefusal } from '../../src/plan/prune.js';
import { MANIFEST_TIMEOUT_MS, pullSizes } from '../../src/flows/pull-room.js';
import { Run } from '../../src/flows/context.js';
import { RecordingEffects } from '../../src/flows/effects.js';
import { OperationError } from '../../src/errors.js';
import { Redactor } from '../../src/util/redact.js';
import { ROOT } from '../helpers.js';

const MB = 1024 * 1024;
const fixture = (name: string) => readFileSync(path.join(ROOT, 'test/fixtures/manifest-inspect', name), 'utf8');
const TINY_LAYERS = 1051067 + 353; // the amd64 image's one layer and its config blob

describe('the images compose will pull', () => {
  const base = `services:
  db: { image: postgres:16 }
  web: { image: "shop/web:1.2" }
  worker: { image: "shop/web:1.2", command: [python3, worker.py] }
  debug: { image: busybox, profiles: [debug] }
  front: { image: "nginx:1.25" }
`;
  it('every service image not built here, once, in order; a profiled service is not started, so not pulled', () => {
    expect(pulledImages([base], ['shop/web:1.2'])).toEqual(['postgres:16', 'nginx:1.25']);
  });
  it('an override file changes the image of the service it names', () => {
    const override = 'services:\n  front: { image: "127.0.0.1:5000/nginx:1.27" }\n  exporter: { image: "prom/statsd-exporter:v0.26.1" }\n';
    expect(pulledImages([base, override], ['shop/web:1.2'])).toEqual(['postgres:16', '127.0.0.1:5000/nginx:1.27', 'prom/statsd-exporter:v0.26.1']);
  });
  it('a service compose builds itself is not pulled', () => {
    expect(pulledImages(['services:\n  app: { image: "a:1", build: { context: . } }\n'], [])).toEqual([]);
  });
});

describe('which registry, over what', () => {
  it('the registry host as the engine reads a reference', () => {
    expect(registryHost('postgres:16')).toBe('docker.io');
    expect(registryHost('prom/prometheus:v2.53.0')).toBe('docker.io');
    expect(registryHost('gcr.io/cadvisor/cadvisor:v0.49.1')).toBe('gcr.io');
    expect(registryHost('127.0.0.1:5000/team/app:1')).toBe('127.0.0.1:5000');
    expect(registryHost('localhost:5000/app@sha256:' + 'a'.repeat(64))).toBe('localhost:5000');
  });
  const engine = { IndexConfigs: { 'docker.io': { Secure: true }, 'reg.lan:5000': { Secure: false } }, InsecureRegistryCIDRs: ['127.0.0.0/8'] };
  it('insecure (asked with --insecure) exactly where the engine pulls without TLS verification', () => {
    expect(engineTreatsInsecure('127.0.0.1:5000', engine)).toBe(true);
    expect(engineTreatsInsecure('localhost:5000', engine)).toBe(true);
    expect(engineTreatsInsecure('reg.lan:5000', engine)).toBe(true);
    expect(engineTreatsInsecure('docker.io', engine)).toBe(false);
    expect(engineTreatsInsecure('10.1.2.3:5000', engine)).toBe(false);
    expect(engineTreatsInsecure('10.1.2.3:5000', { InsecureRegistryCIDRs: ['10.0.0.0/8'] })).toBe(true);
  });
  it('the manifest is asked for with no credential on the command line', () => {
    expect(manifestInspectArgv('postgres:16', false)).toEqual(['docker', 'manifest', 'inspect', '-v', 'postgres:16']);
    expect(manifestInspectArgv('127.0.0.1:5000/app:1', true)).toEqual(['docker', 'manifest', 'inspect', '-v', '--insecure', '127.0.0.1:5000/app:1']);
  });
});

describe('what the manifest says an image weighs', () => {
  it("a manifest list: the engine's platform's layers (not the 5 GiB arm64 entry listed first)", () => {
    expect(manifestBytes(fixture('list.json'), 'linux/amd64')).toEqual({ bytes: TINY_LAYERS, platform: 'linux/amd64' });
    expect(manifestBytes(fixture('list.json'), 'linux/arm64')).toEqual({ bytes: 5 * 1024 ** 3 + 353, platform: 'linux/arm64/v8' });
  });
  it('a single manifest: its layers and config', () => {
    expect(manifestBytes(fixture('single.json'), 'linux/amd64')).toEqual({ bytes: 1051067 + 2 * 1024 ** 3 + 353 });
  });
  it('an OCI manifest counts the same way', () => {
    const oci = JSON.stringify({ Descriptor: {}, OCIManifest: { config: { size: 10 }, layers: [{ size: 100 }, { size: 200 }] } });
    expect(manifestBytes(oci, 'linux/amd64')).toEqual({ bytes: 310 });
  });
  it('no answer it can use: why, never a guess', () => {
    expect(manifestBytes(fixture('list.json'), 'linux/s390x')).toEqual({ why: 'the manifest list has no linux/s390x image (it has linux/arm64, linux/amd64)' });
    expect(manifestBytes('{"Descriptor":{},"Raw":"x"}', 'linux/amd64')).toMatchObject({ why: expect.stringMatching(/no layer sizes/) });
    expect(manifestBytes('not json', 'linux/amd64')).toEqual({ why: 'the registry answer is not JSON' });
  });
  it(`a pull is counted at ${PULL_FACTOR}x its compressed bytes, saying so`, () => {
    expect(pullEstimate('a:1', 100 * MB, 'linux/amd64')).toEqual({
      image: 'a:1',
      action: 'pull',
      estimate_bytes: 400 * MB,
      from: 'the registry manifest (100.0 MB of compressed layers for linux/amd64, counted 4x: the download plus about 3x unpacked)',
    });
  });
});

describe('the figures a refusal and a dry run give', () => {
  const room = {
    ...diskRoom(900 * MB, [{ image: 'shop/web:2', action: 'build' as const, estimate_bytes: 50 * MB, from: 'the image its tag points at now' }, pullEstimate('127.0.0.1:5000/big:1', 300 * MB)], 1024 * MB),
    unsized: [{ image: 'gcr.io/x/y:1', why: 'the registry gave no answer within 5 s' }],
  };
  it('refused: each image with its figure and source, the margin, nothing changed', () => {
    expect(room.ok).toBe(false);
    expect(roomRefusal(room, 1024)).toBe(
      'not enough room on the Docker data root to build shop/web:2 and pull 127.0.0.1:5000/big:1: 900 MB free, 2274 MB needed (shop/web:2 about 50 MB, from the image its tag points at now; 127.0.0.1:5000/big:1 about 1200 MB, from the registry manifest (300.0 MB of compressed layers, counted 4x: the download plus about 3x unpacked); plus deploy.min_free_disk_mb 1024 MB left over); nothing was changed',
    );
  });
  it('the lines a deploy (and a dry run) prints, an unsized image as a warning', () => {
    expect(describeRoom(room, 1024)).toEqual([
      'room on the Docker data root: 900 MB free, 2274 MB needed (deploy.min_free_disk_mb 1024 MB left over)',
      '  build shop/web:2: about 50 MB, from the image its tag points at now',
      '  pull 127.0.0.1:5000/big:1: about 1200 MB, from the registry manifest (300.0 MB of compressed layers, counted 4x: the download plus about 3x unpacked)',
      'warning: the size of gcr.io/x/y:1 (to pull) is unknown, so it is not counted: the registry gave no answer within 5 s',
    ]);
  });
});

describe('asking the registries (through the port)', () => {
  function runWith(answer: (argv: string[]) => { exitCode?: number; stdout?: string; stderr?: string } | 'timeout' | undefined) {
    const rec = new RecordingEffects();
    const io = { stdout: new PassThrough(), stderr: new PassThrough(), env: {}, now: () => new Date(), verbose: false, json: false };
    const run = new Run(io, path.join(ROOT, '.tmp-tests', 'pull-room-unit'), new Redactor([]), 'test');
    const timeouts: (number | undefined)[] = [];
    run.effects = Object.assign(rec, {
      read: async (argv: string[], opts?: { timeoutMs?: number }) => {
        rec.calls.push({ kind: 'read', argv });
        if (argv[1] === 'manifest') timeouts.push(opts?.timeoutMs);
        const a = answer(argv);
        // what the real runner throws when the timeout kills the command
        if (a === 'timeout') throw new OperationError(`could not run docker manifest inspect: Command timed out after ${opts?.timeoutMs} milliseconds`);
        return { exitCode: 0, stdout: '', stderr: '', ...a };
      },
    });
    return { run, rec, timeouts };
  }
  const engine = (argv: string[]) =>
    argv[1] === 'version' ? { stdout: 'linux/amd64' } : argv[1] === 'info' ? { stdout: JSON.stringify({ IndexConfigs: { 'docker.io': { Secure: true } }, InsecureRegistryCIDRs: ['127.0.0.0/8'] }) } : undefined;

  it('sizes each image from its manifest; a refused or silent registry leaves that one unsized, with why', async () => {
    const t = runWith((argv) => {
      const e = engine(argv);
      if (e) return e;
      const image = argv[argv.length - 1];
      if (image.startsWith('127.0.0.1')) return { stdout: fixture('list.json') };
      if (image === 'private/app:1') return { exitCode: 1, stderr: 'errors:\nunauthorized: authentication required' };
      return 'timeout';
    });
    const sizes = await pullSizes(t.run, ['127.0.0.1:5000/lifeops-test/tiny:1', 'private/app:1', 'postgres:16']);
    expect(sizes.estimates).toEqual([pullEstimate('127.0.0.1:5000/lifeops-test/tiny:1', TINY_LAYERS, 'linux/amd64')]);
    expect(sizes.unsized).toEqual([
      { image: 'private/app:1', why: 'the registry did not give its manifest: unauthorized: authentication required' },
      { image: 'postgres:16', why: 'the registry gave no answer within 5 s' },
    ]);
    expect(t.rec.calls.map((c) => c.argv).filter((a) => a[1] === 'manifest')).toEqual([
      manifestInspectArgv('127.0.0.1:5000/lifeops-test/tiny:1', true),
      manifestInspectArgv('private/app:1', false),
      manifestInspectArgv('postgres:16', false),
    ]);
    expect(t.timeouts).toEqual([MANIFEST_TIMEOUT_MS, MANIFEST_TIMEOUT_MS, MANIFEST_TIMEOUT_MS]);
  });

  it("an engine that does not say its platform: every image unsized (the room check then counts none of them)", async () => {
    const t = runWith((argv) => (argv[1] === 'version' ? { exitCode: 1, stderr: 'Cannot connect to the Docker daemon' } : engine(argv)));
    const sizes = await pullSizes(t.run, ['postgres:16']);
    expect(sizes).toEqual({ estimates: [], unsized: [{ image: 'postgres:16', why: "the engine's platform is unknown (docker version: Cannot connect to the Docker daemon)" }] });
    expect(t.rec.calls.some((c) => c.argv[1] === 'manifest')).toBe(false);
  });

  it('nothing to pull: no question asked', async () => {
    const t = runWith(() => undefined);
    expect(await pullSizes(t.run, [])).toEqual({ estimates: [], unsized: [] });
    expect(t.rec.calls).toEqual([]);
  });
});
