// The deploy's room check for images compose will pull, against a real
// registry: testbed/registry.mjs (the read side of the registry API v2 on
// 127.0.0.1, which the engine pulls from over plain HTTP), started here. Its
// `lifeops-test/tiny:1` is a manifest list (a 1 MB busybox layer for
// linux/amd64, a 5 GiB entry for arm64); `lifeops-test/large:1` claims 2 GiB.
//  - a margin (deploy.min_free_disk_mb) that leaves no room for the large
//    image, computed from statfs of the engine's data root: refused, exit 2,
//    the figures; the engine does not hold the image; no layer was downloaded;
//  - the tiny image: --dry-run prints its figure and pulls nothing; deploy
//    pulls it and runs it; the estimate is not below what it takes unpacked;
//  - the registry down: its size is unknown, a warning names the image and
//    why and the pre-flight passes even under that margin; the real deploy's
//    pull then fails naming the registry, and the running container stays.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { lifeops, ROOT } from '../helpers.js';

const base = path.join(ROOT, '.tmp-tests');
mkdirSync(base, { recursive: true });
const dir = mkdtempSync(path.join(base, 'pullroom-'));
const file = path.join(dir, 'stack.yaml');
const stateDir = path.join(dir, 'state');
const args = (...rest: string[]) => ['-f', file, '--state-dir', stateDir, ...rest];
const MB = 1024 * 1024;
const FACTOR = 4; // plan/pull-room.ts PULL_FACTOR

/** What testbed/registry.mjs made: the tiny image's layer and config blobs, and the large image's extra layer. */
interface Made {
  layer: { digest: string; size: number };
  config: { digest: string; size: number };
  largeBytes: number;
}
let made: Made;
const tinyBytes = () => made.layer.size + made.config.size;
const largeEstimateMb = () => Math.round(((tinyBytes() + made.largeBytes) * FACTOR) / MB);

let registry: ResultPromise<{ buffer: false; reject: false }> | undefined;
let port = 0;
const registryLog: string[] = [];
const image = (name: 'tiny' | 'large') => `127.0.0.1:${port}/lifeops-test/${name}:1`;

function writeStack(img: string, minFreeMb?: number): void {
  const doc = {
    name: 'pullroom',
    default_environment: 'local',
    services: { tiny: { image: img, stop_grace_period: '5s' } },
    deploy: { ...(minFreeMb !== undefined ? { min_free_disk_mb: minFreeMb } : {}), prune: false },
    environments: { local: {} },
  };
  writeFileSync(file, stringify(doc));
}

const held = async (ref: string) => (await execa('docker', ['image', 'inspect', ref], { reject: false })).exitCode === 0;
const containerId = async () => (await execa('docker', ['ps', '-q', '--no-trunc', '--filter', 'label=com.docker.compose.project=pullroom-local', '--filter', 'label=com.docker.compose.service=tiny'])).stdout.trim();

/** MB free on a path's filesystem, as the pre-flight measures it (statfs, blocks free to us). */
async function freeMb(p: string): Promise<number> {
  const s = await statfs(p);
  return Math.floor((Number(s.bavail) * Number(s.bsize)) / MB);
}

/** A margin that leaves the large image no room on the data root (its estimate is ~8 GB: half of it each way against other writers). */
async function tightMargin(): Promise<number> {
  const root = (await execa('docker', ['info', '--format', '{{.DockerRootDir}}'])).stdout.trim();
  const rootFree = await freeMb(root);
  const margin = Math.max(0, rootFree - Math.round(largeEstimateMb() / 2));
  // the state dir's own check wants the same margin free there: both are on one filesystem here
  const stateFree = await freeMb(dir);
  if (stateFree < margin) throw new Error(`test bed: the state dir has ${stateFree} MB free, less than the margin ${margin} MB the data root check needs`);
  return margin;
}

describe('room on the data root for the images a deploy pulls (real registry, real engine)', () => {
  beforeAll(async () => {
    const data = path.join(dir, 'registry');
    made = JSON.parse((await execa('node', [path.join(ROOT, 'testbed/registry.mjs'), 'make', data])).stdout) as Made;
    registry = execa('node', [path.join(ROOT, 'testbed/registry.mjs'), 'serve', data, '0'], { buffer: false as const, reject: false as const });
    port = await new Promise<number>((resolve, reject) => {
      registry!.stdout!.setEncoding('utf8');
      registry!.stdout!.on('data', (chunk: string) => {
        for (const line of chunk.split('\n').filter(Boolean)) {
          registryLog.push(line);
          const m = /^listening 127\.0\.0\.1:(\d+)$/.exec(line);
          if (m) resolve(Number(m[1]));
        }
      });
      registry!.once('exit', (code) => reject(new Error(`test registry exited (${code}) before listening`)));
    });
    // the engine pulls from it over plain HTTP (127.0.0.0/8 is an insecure registry to it)
    expect((await execa('curl', ['-fsS', `http://127.0.0.1:${port}/v2/`])).stdout).toBe('{}');
  });

  afterAll(async () => {
    const down = await lifeops(args('down', '--yes'));
    registry?.kill();
    if (down.exitCode !== 0) throw new Error(`down of pullroom-local failed:\n${down.stderr}`);
    for (const ref of [image('tiny'), image('large')]) if (await held(ref)) await execa('docker', ['image', 'rm', ref], { reject: false });
  });

  it('a margin that leaves no room for the image to pull: refused with its figure, exit 2, nothing pulled', async () => {
    const margin = await tightMargin();
    writeStack(image('large'), margin);
    const asked = registryLog.length;
    for (const dry of [['--dry-run'], []]) {
      const r = await lifeops(args('deploy', 'local', ...dry));
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`not enough room on the Docker data root to pull ${image('large')}:`);
      expect(r.stderr).toContain(`${image('large')} about ${largeEstimateMb()} MB, from the registry manifest (${((tinyBytes() + made.largeBytes) / MB).toFixed(1)} MB of compressed layers`);
      expect(r.stderr).toContain(`plus deploy.min_free_disk_mb ${margin} MB left over); nothing was changed`);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
    expect(await held(image('large'))).toBe(false);
    expect(await containerId()).toBe('');
    // the registry was asked for the manifest (and its config blob), never for a layer
    const since = registryLog.slice(asked);
    expect(since).toContain('GET /v2/lifeops-test/large/manifests/1 200');
    expect(since.filter((l) => l.includes('/blobs/') && !l.includes(made.config.digest))).toEqual([]);
  });

  it('--dry-run shows the pull figure and pulls nothing; deploy pulls the image from the registry and runs it', async () => {
    writeStack(image('tiny'));
    const dry = await lifeops(args('deploy', 'local', '--dry-run'));
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stderr).toContain(`pull ${image('tiny')}: about ${Math.round((tinyBytes() * FACTOR) / MB)} MB, from the registry manifest (${(tinyBytes() / MB).toFixed(1)} MB of compressed layers for linux/amd64`);
    expect(await held(image('tiny'))).toBe(false);

    const r = await lifeops(args('deploy', 'local'));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await held(image('tiny'))).toBe(true);
    expect(await containerId()).not.toBe('');
    expect(registryLog).toContain(`GET /v2/lifeops-test/tiny/blobs/${made.layer.digest} 200`);
    // the estimate (4x the compressed bytes) covers what the pulled image takes unpacked
    const unpacked = Number((await execa('docker', ['image', 'inspect', '--format', '{{.Size}}', image('tiny')])).stdout.trim());
    console.log(`pulled ${image('tiny')}: ${(tinyBytes() / MB).toFixed(2)} MB compressed, ${(unpacked / MB).toFixed(2)} MB unpacked; estimated ${((tinyBytes() * FACTOR) / MB).toFixed(2)} MB`);
    expect(unpacked).toBeLessThanOrEqual(tinyBytes() * FACTOR);
  });

  it('the registry down: a warning names the image and why, the pre-flight passes; the pull then fails naming the registry and the running container stays', async () => {
    const running = await containerId();
    registry!.kill();
    await registry!.catch(() => undefined);
    const margin = await tightMargin();
    writeStack(image('large'), margin);
    const dry = await lifeops(args('deploy', 'local', '--dry-run'));
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(new RegExp(`warning: the size of ${image('large').replace(/[.]/g, '\\.')} \\(to pull\\) is unknown, so it is not counted: the registry did not give its manifest: .*connection refused`));

    const r = await lifeops(args('deploy', 'local'));
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain('warning: the size of');
    expect(r.stderr).toMatch(new RegExp(`Get "http://127\\.0\\.0\\.1:${port}/v2/": .*connection refused`));
    expect(r.stderr).toContain('rolled back to the previous release');
    expect(await held(image('large'))).toBe(false);
    expect(await containerId()).toBe(running);
  });
});
