// Release-aware pruning on the real engine: ten deploys of versions pile up
// ten app images; `prune` removes those no kept release (deploy.keep_releases)
// or backup refers to, leaves other projects' images alone, and `rollback
// --release` to the oldest release a kept backup holds still works after it.
// Then a deploy with pruning on runs it as its own logged step.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { lifeops, demoCopy, at, editStack } from '../helpers.js';

const PORT = 18761;
const APP = 'lifeops/prn-app';
const OTHER = 'lifeops/prn-other-project:1';
const stack = demoCopy('prn', PORT, (d) => {
  for (const svc of ['web', 'worker']) at(d, `services.${svc}`).image = `${APP}:\${VERSION}`;
  at(d, 'backup').keep_last = 3;
  at(d, 'deploy').keep_releases = 3;
  at(d, 'deploy').prune = false; // the ten deploys pile images up; pruning is then asked for
});
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];
const ENV = { POSTGRES_PASSWORD: 'demo-local-password-not-secret' };
const SLOW = 900_000;
const tags = async (ref: string) => (await execa('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', ref])).stdout.split('\n').filter(Boolean).sort();
const served = async () => ((await (await fetch(`http://127.0.0.1:${PORT}/`, { signal: AbortSignal.timeout(5000) })).json()) as { version: string }).version;
const history = async () => JSON.parse((await lifeops(args('history', '--json'), { env: ENV })).stdout) as { run_id: string; version: string; outcome: string; kind: string }[];

interface PruneJson {
  dry_run: boolean;
  images: { tags: string[]; size: number }[];
  kept: { tags: string[]; why: string }[];
  removed_images: string[];
  bytes: number;
  free_before?: number;
  free_after?: number;
  retained: { version: string }[];
}

describe('prune (real engine)', () => {
  beforeAll(async () => {
    // another project's image, built from the same base and carrying another stack's label: never touched
    await execa('docker', ['build', '-q', '-t', OTHER, '--label', 'lifeops.stack=prn-someone-else', '-'], { input: 'FROM lifeops/python:local\nLABEL purpose=prune-test\n' });
    for (let v = 1; v <= 10; v++) {
      const r = await lifeops(args('deploy', 'local', '--version', `v${v}`), { env: ENV, timeoutMs: SLOW });
      if (r.exitCode !== 0) throw new Error(`deploy v${v} failed:\n${r.stderr}`);
    }
  }, SLOW * 2);
  afterAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup'), { env: ENV });
    const left = (await tags(APP)).concat(await tags(OTHER));
    if (left.length) await execa('docker', ['image', 'rm', ...left], { reject: false });
  }, SLOW);

  it('ten deploys left ten app images', async () => {
    expect(await tags(APP)).toHaveLength(10);
    expect(await served()).toBe('v10');
  });

  it('--dry-run lists what would go and changes nothing', async () => {
    const r = await lifeops(args('prune', '--dry-run', '--json'), { env: ENV });
    expect(r.exitCode, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as PruneJson;
    expect(p.dry_run).toBe(true);
    expect(p.images.length).toBeGreaterThan(0);
    expect(await tags(APP)).toHaveLength(10);
  });

  it('prune removes the images no kept release or backup refers to, and nothing of another project', async () => {
    const r = await lifeops(args('prune', '--json'), { env: ENV, timeoutMs: SLOW });
    expect(r.exitCode, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout) as PruneJson;
    // releases v8..v10 kept (keep_releases 3); backups (keep_last 3) hold the releases v7..v9
    expect(p.retained.map((x) => x.version)).toEqual(['v10', 'v9', 'v8']);
    expect(await tags(APP)).toEqual([`${APP}:v10`, `${APP}:v7`, `${APP}:v8`, `${APP}:v9`]);
    expect(p.removed_images.sort()).toEqual([1, 2, 3, 4, 5, 6].map((v) => `${APP}:v${v}`).sort());
    expect(p.kept.find((k) => k.tags.includes(`${APP}:v7`))!.why).toMatch(/a backup's release/);
    expect(await tags(OTHER)).toEqual([OTHER]);
    expect(await tags('lifeops/postgres:15')).toEqual(['lifeops/postgres:15']);
    const freed = p.free_before !== undefined && p.free_after !== undefined ? `${Math.round((p.free_after - p.free_before) / 1048576)} MB more free on the data root` : 'data root not measured';
    console.log(`prune after ten deploys: ${p.removed_images.length} images removed, their sizes ${Math.round(p.bytes / 1048576)} MB (shared layers counted per image); ${freed}`);
    expect(await served()).toBe('v10');
  }, SLOW);

  it('rollback --release to the oldest release a kept backup holds (v7) works after the prune', async () => {
    const v7 = (await history()).find((h) => h.kind === 'deploy' && h.version === 'v7' && h.outcome === 'success')!;
    const r = await lifeops(args('rollback', '--release', v7.run_id, '--yes'), { env: ENV, timeoutMs: SLOW });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await served()).toBe('v7');
  }, SLOW);

  it('a deploy with pruning on prunes as its own logged step, after the release is recorded', async () => {
    editStack(stack.file, (d) => {
      at(d, 'deploy').prune = true;
    });
    const r = await lifeops(args('deploy', 'local', '--version', 'v11'), { env: ENV, timeoutMs: SLOW });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/prune: decide what no kept release or backup refers to/);
    expect(r.stderr.indexOf('record the release')).toBeLessThan(r.stderr.indexOf('prune: decide'));
    expect(await served()).toBe('v11');
    expect(await tags(OTHER)).toEqual([OTHER]);
    // the releases kept now (v11, the rollback to v7, v10) and the backups' releases keep their images
    expect(await tags(APP)).toEqual(expect.arrayContaining([`${APP}:v11`, `${APP}:v7`, `${APP}:v10`]));
    expect(await tags(APP)).not.toContain(`${APP}:v1`);
  }, SLOW);
});
