// Release-aware pruning decided from observations (plan/prune.ts): what goes,
// what stays and why; and the disk room decision before a deploy builds.
import { describe, it, expect } from 'vitest';
import { buildInputs, diskRoom, finalBaseImage, imageRemoveArgv, planPrune, retainedReleases, type PruneFacts, type PruneRelease } from '../../src/plan/prune.js';

const MB = 1024 * 1024;
const rel = (n: number, over: Partial<PruneRelease> = {}): PruneRelease => ({
  run_id: `r${n}`,
  env: 'local',
  kind: 'deploy',
  outcome: 'success',
  version: `v${n}`,
  images: { web: `shop/app:v${n}`, worker: `shop/app:v${n}`, db: 'postgres:16' },
  render_dir: `/state/releases/local/r${n}`,
  ...over,
});
const img = (n: number | string, over: Partial<PruneFacts['images'][number]> = {}) => ({ id: `sha256:app${n}`, tags: [`shop/app:v${n}`], size: 300 * MB, labels: { 'lifeops.stack': 'shop' }, ...over });

function facts(over: Partial<PruneFacts> = {}): PruneFacts {
  const releases = [1, 2, 3, 4, 5, 6, 7].map((n) => rel(n));
  return {
    stack: 'shop',
    keepReleases: 3,
    releases,
    backupImages: [],
    refIds: Object.fromEntries([1, 2, 3, 4, 5, 6, 7].map((n) => [`shop/app:v${n}`, `sha256:app${n}`])),
    images: [1, 2, 3, 4, 5, 6, 7].map((n) => img(n)),
    containers: [
      { id: 'c-web', name: 'shop-local-web-1', state: 'running', imageId: 'sha256:app7', labels: {} },
      { id: 'c-db', name: 'shop-local-db-1', state: 'running', imageId: 'sha256:pg', labels: {} },
    ],
    usedElsewhere: [],
    ...over,
  };
}

describe('planPrune', () => {
  it('keeps the images of the newest keep_releases successful releases and removes the older ones', () => {
    const p = planPrune(facts());
    expect(p.retained.map((r) => r.run_id)).toEqual(['r7', 'r6', 'r5']);
    expect(p.images.map((i) => i.tags[0])).toEqual(['shop/app:v1', 'shop/app:v2', 'shop/app:v3', 'shop/app:v4']);
    expect(p.kept.map((k) => k.tags[0]).sort()).toEqual(['shop/app:v5', 'shop/app:v6', 'shop/app:v7']);
    expect(p.kept.find((k) => k.id === 'sha256:app5')!.why).toBe('release r5 (local, version v5)');
    expect(p.dropReleases.map((r) => r.run_id)).toEqual(['r4', 'r3', 'r2', 'r1']);
    expect(p.bytes).toBe(4 * 300 * MB);
  });

  it('failed and rolled-back releases neither count towards keep_releases nor keep anything', () => {
    const releases = [rel(1), rel(2), rel(3, { outcome: 'failed' }), rel(4, { outcome: 'rolled-back' })];
    const p = planPrune(facts({ releases, keepReleases: 2, images: [1, 2, 3, 4].map((n) => img(n)), containers: [] }));
    expect(p.retained.map((r) => r.run_id)).toEqual(['r2', 'r1']);
    expect(p.images.map((i) => i.id)).toEqual(['sha256:app3', 'sha256:app4']);
  });

  it("never touches an image without the stack's own label (another project's, or a base image)", () => {
    const p = planPrune(facts({ images: [img(1), img(2, { labels: { 'lifeops.stack': 'other' } }), img('base', { labels: {} })] }));
    expect(p.images.map((i) => i.id)).toEqual(['sha256:app1']);
  });

  it('keeps what a backup names (by recorded id and by tag), what other containers use, and what a remaining container runs', () => {
    const p = planPrune(
      facts({
        backupImages: [{ image: 'shop/app:v1', id: 'sha256:old-build' }, { image: 'shop/app:v2' }],
        images: [img(1), img(2), img(3), img(4), img('x', { id: 'sha256:old-build', tags: [] })],
        usedElsewhere: ['sha256:app3'],
        containers: [{ id: 'c9', name: 'shop-local-worker-1', state: 'running', imageId: 'sha256:app4', labels: {} }],
      }),
    );
    expect(p.images).toEqual([]);
    const why = Object.fromEntries(p.kept.map((k) => [k.id, k.why]));
    expect(why['sha256:old-build']).toContain("a backup's release");
    expect(why['sha256:app2']).toContain("a backup's release");
    expect(why['sha256:app3']).toBe('used by a container outside this stack');
    expect(why['sha256:app4']).toBe('used by container shop-local-worker-1 (running)');
  });

  it('removes stopped containers whose image goes (so it can go) and stopped one-offs; keeps other stopped ones', () => {
    const p = planPrune(
      facts({
        containers: [
          { id: 'old', name: 'shop-local-web-3', state: 'exited', imageId: 'sha256:app2', labels: {} },
          { id: 'mig', name: 'shop-local-web-run-1', state: 'exited', imageId: 'sha256:app7', labels: { 'com.docker.compose.oneoff': 'True' } },
          { id: 'db', name: 'shop-local-db-1', state: 'exited', imageId: 'sha256:pg', labels: {} },
          { id: 'kept', name: 'shop-local-web-2', state: 'exited', imageId: 'sha256:app6', labels: {} },
        ],
      }),
    );
    expect(p.containers.map((c) => c.id)).toEqual(['old', 'mig']);
    expect(p.images.map((i) => i.id)).toContain('sha256:app2');
  });

  it('an untagged image of the stack (its tag moved to a newer build) goes when nothing names its id', () => {
    const p = planPrune(facts({ images: [img(7), img('dangling', { tags: [] })] }));
    expect(p.images).toEqual([{ id: 'sha256:appdangling', tags: [], size: 300 * MB, why: 'untagged (its tag moved to a newer build)' }]);
    expect(imageRemoveArgv(p.images[0])).toEqual(['docker', 'image', 'rm', 'sha256:appdangling']);
    expect(imageRemoveArgv(img(1, { tags: ['shop/app:v1', 'shop/app:latest'] }))).toEqual(['docker', 'image', 'rm', 'shop/app:v1', 'shop/app:latest']);
  });

  it('keeps keep_releases per environment', () => {
    const releases = [rel(1), rel(2, { env: 'staging' }), rel(3), rel(4, { env: 'staging' })];
    expect(retainedReleases(releases, 1).retained.map((r) => r.run_id).sort()).toEqual(['r3', 'r4']);
  });
});

describe('diskRoom', () => {
  const images = [{ image: 'shop/app:v8', action: 'build' as const, estimate_bytes: 300 * MB, from: 'the image its tag points at now' }];
  it('refuses when the images plus the margin do not fit, with the figures', () => {
    expect(diskRoom(1000 * MB, images, 1024 * MB)).toEqual({ ok: false, free_bytes: 1000 * MB, needed_bytes: 1324 * MB, images });
  });
  it('passes when they fit', () => {
    expect(diskRoom(2000 * MB, images, 1024 * MB).ok).toBe(true);
  });
  it('needs nothing when nothing is built', () => {
    expect(diskRoom(0, [], 1024 * MB)).toMatchObject({ ok: true, needed_bytes: 0 });
  });
});

describe('the base a build starts from (the room check counts only what a build adds to it)', () => {
  it('the final stage\'s FROM, through stages built from earlier ones, or up to --target', () => {
    expect(finalBaseImage('# app\nFROM lifeops/python:local\nRUN true\n')).toBe('lifeops/python:local');
    const multi = 'FROM node:20 AS build\nRUN make\nFROM --platform=linux/amd64 python:3.12-slim AS base\nFROM base AS final\nCOPY --from=build /out /app\n';
    expect(finalBaseImage(multi)).toBe('python:3.12-slim');
    expect(finalBaseImage(multi, 'build')).toBe('node:20');
    expect(finalBaseImage('FROM scratch\nCOPY app /\n')).toBeUndefined();
    expect(finalBaseImage('ARG BASE=debian\nFROM ${BASE}\n')).toBeUndefined();
    expect(finalBaseImage('RUN nothing')).toBeUndefined();
  });
  it('reads the context, -f and --target back from the build argv', () => {
    expect(buildInputs(['docker', 'build', '-t', 'a:1', '-f', '/s/app/Dockerfile.prod', '--target', 'web', '--label', 'x=y', '/s/app'])).toEqual({ context: '/s/app', dockerfile: '/s/app/Dockerfile.prod', target: 'web' });
    expect(buildInputs(['docker', 'build', '-t', 'a:1', '/s/app'])).toEqual({ context: '/s/app', dockerfile: 'Dockerfile' });
  });
});

