// `lifeops prune` and the step after each deploy: remove the stack's images
// and stopped containers that no kept release or backup refers to (decided by
// plan/prune.ts from what the engine and the state dir hold), and the
// rendered-file archives of releases beyond deploy.keep_releases. Every
// removal goes through the run's effects port; an image the engine refuses to
// remove (a container took it meanwhile) is a warning, never a failure.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import type { Run } from './context.js';
import { readReleases } from '../state/ledger.js';
import { backupDir, backupImages } from '../backup/catalog.js';
import { buildInputs, containerRemoveArgv, diskRoom, finalBaseImage, imageRemoveArgv, mb, planPrune, type DiskRoom, type PruneImage, type PrunePlan } from '../plan/prune.js';
import type { PlannedBuild } from '../plan/deploy.js';
import { pullSizes } from './pull-room.js';

export interface PruneResult extends PrunePlan {
  dry_run: boolean;
  removed_images: string[];
  removed_containers: string[];
  failed: { what: string; error: string }[];
  /** free bytes on the engine's data root before and after (when it is a local path) */
  free_before?: number;
  free_after?: number;
}

const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);

async function readJson<T>(run: Run, argv: string[]): Promise<T> {
  const r = await run.effects.read(argv, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new OperationError(`${argv.slice(0, 3).join(' ')} failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').pop() ?? ''}`);
  return JSON.parse(r.stdout || '[]') as T;
}

/** The images carrying the stack's `lifeops.stack` label (what `deploy` builds), with their tags and sizes. */
export async function stackImages(run: Run, stackName: string): Promise<PruneImage[]> {
  const ids = lines((await run.effects.read(['docker', 'image', 'ls', '--quiet', '--no-trunc', '--filter', `label=lifeops.stack=${stackName}`], { timeoutMs: 60_000 })).stdout);
  if (!ids.length) return [];
  const info = await readJson<{ Id: string; RepoTags?: string[]; Size: number; Config?: { Labels?: Record<string, string> } }[]>(run, ['docker', 'image', 'inspect', ...new Set(ids)]);
  return info.map((i) => ({ id: i.Id, tags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'), size: i.Size, labels: i.Config?.Labels ?? {} }));
}

/** Image ids used by containers (any state) that are not in `project`. */
async function imagesUsedElsewhere(run: Run, project: string): Promise<string[]> {
  const ids = lines((await run.effects.read(['docker', 'container', 'ls', '--all', '--quiet', '--no-trunc'], { timeoutMs: 60_000 })).stdout);
  if (!ids.length) return [];
  // a container removed between the two calls makes inspect exit 1 while still printing the others
  const r = await run.effects.read(['docker', 'container', 'inspect', '--format', '{{.Image}} {{index .Config.Labels "com.docker.compose.project"}}', ...ids], { timeoutMs: 60_000 });
  return lines(r.stdout)
    .map((l) => l.split(' '))
    .filter(([, p]) => p !== project)
    .map(([img]) => img);
}

async function freeBytes(run: Run): Promise<number | undefined> {
  try {
    const root = await run.docker.dataRoot();
    if (!existsSync(root)) return undefined; // a remote engine: its disk is not ours to measure
    const s = await statfs(root);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

export async function planStackPrune(stack: Stack, run: Run, stateDir: string): Promise<PrunePlan> {
  // a release whose rendered files are gone cannot be rolled back to: it keeps nothing
  const releases = readReleases(stateDir).filter((r) => r.render_dir && existsSync(r.render_dir));
  const backups = backupImages(backupDir(stack, stateDir));
  const refs = new Set([...releases.flatMap((r) => Object.values(r.images ?? {})), ...backups.map((b) => b.image)]);
  const [images, containers, usedElsewhere, refPairs] = await Promise.all([
    stackImages(run, stack.name),
    run.docker.projectContainers(stack.project),
    imagesUsedElsewhere(run, stack.project),
    Promise.all([...refs].map(async (ref) => [ref, await run.docker.imageId(ref)] as const)),
  ]);
  return planPrune({
    stack: stack.name,
    keepReleases: stack.deploy.keep_releases,
    releases: releases.map((r) => ({ ...r, images: r.images ?? {} })),
    backupImages: backups,
    refIds: Object.fromEntries(refPairs),
    images,
    containers: containers.map((c) => ({ id: c.id, name: c.name, state: c.state, imageId: c.imageId, labels: c.labels })),
    usedElsewhere,
  });
}

export function describePrune(p: PrunePlan, dry: boolean): string[] {
  const verb = dry ? 'would remove' : 'remove';
  const out = [`kept releases: ${p.retained.map((r) => `${r.run_id} (${r.env} ${r.version})`).join(', ') || 'none'}`];
  for (const c of p.containers) out.push(`${verb} container ${c.name}: ${c.why}`);
  for (const i of p.images) out.push(`${verb} image ${i.tags.join(', ') || i.id.slice(0, 19)} (${mb(i.size)}): ${i.why}`);
  for (const r of p.dropReleases) out.push(`${verb} the rendered files of release ${r.run_id} (${r.env} ${r.version}): beyond deploy.keep_releases`);
  for (const k of p.kept) out.push(`keep image ${k.tags.join(', ') || k.id.slice(0, 19)}: ${k.why}`);
  return out;
}

/** Decide, then (unless dry) remove: containers first (so their images can go), then images, then old release archives. */
export async function prune(stack: Stack, run: Run, o: { stateDir: string; dryRun?: boolean }): Promise<PruneResult> {
  const plan = await run.step('prune: decide what no kept release or backup refers to', () => planStackPrune(stack, run, o.stateDir));
  const result: PruneResult = { ...plan, dry_run: Boolean(o.dryRun), removed_images: [], removed_containers: [], failed: [] };
  for (const l of describePrune(plan, Boolean(o.dryRun))) run.info('prune', l);
  if (o.dryRun || (!plan.containers.length && !plan.images.length && !plan.dropReleases.length)) return result;
  const before = await freeBytes(run);
  await run.step(`prune: remove ${plan.containers.length} container(s), ${plan.images.length} image(s) (${mb(plan.bytes)}), ${plan.dropReleases.length} release archive(s)`, async () => {
    for (const c of plan.containers) {
      try {
        await run.effects.change(containerRemoveArgv(c.id), { timeoutMs: 60_000 });
        result.removed_containers.push(c.name);
      } catch (e) {
        result.failed.push({ what: `container ${c.name}`, error: (e as Error).message.split('\n').slice(-1)[0] });
      }
    }
    for (const i of plan.images) {
      try {
        await run.effects.change(imageRemoveArgv(i), { timeoutMs: 120_000 });
        result.removed_images.push(i.tags.join(',') || i.id);
      } catch (e) {
        result.failed.push({ what: `image ${i.tags.join(',') || i.id}`, error: (e as Error).message.split('\n').filter(Boolean).slice(-1)[0] ?? '' });
      }
    }
    const releasesDir = path.resolve(o.stateDir, 'releases');
    for (const r of plan.dropReleases) {
      // only ever a folder under this state dir's releases/
      if (path.resolve(r.render_dir).startsWith(releasesDir + path.sep)) rmSync(r.render_dir, { recursive: true, force: true });
    }
  });
  const after = await freeBytes(run);
  if (before !== undefined && after !== undefined) Object.assign(result, { free_before: before, free_after: after });
  for (const f of result.failed) run.say(`warning: prune: could not remove ${f.what}: ${f.error}`);
  return result;
}

/**
 * Before a deploy builds or pulls images: the estimate of their size against
 * the free space on the engine's data root. A build is estimated at the image
 * its tag points at now, else the one the service runs, else the stack's
 * largest; a pull from its registry's manifest (flows/pull-room.ts). Read-only.
 */
export async function checkImageRoom(stack: Stack, run: Run, builds: Pick<PlannedBuild, 'image' | 'services' | 'argv'>[], runningImage: Record<string, string | undefined>, pulls: string[] = []): Promise<DiskRoom | undefined> {
  if (!builds.length && !pulls.length) return undefined;
  const free = await freeBytes(run);
  if (free === undefined) return undefined;
  const own = builds.length ? await stackImages(run, stack.name) : [];
  const sizeOf = (id?: string) => own.find((i) => i.id === id)?.size;
  const largest = Math.max(0, ...own.map((i) => i.size));
  const [estimates, pulled] = await Promise.all([
    Promise.all(
      builds.map(async (b) => {
        const base = await localBase(run, b.argv);
        // what the build adds: the reference image less the base the engine already holds
        const unique = (bytes: number, from: string) => ({ image: b.image, action: 'build' as const, estimate_bytes: Math.max(0, bytes - (base?.bytes ?? 0)), from: base ? `${from}, less its base ${base.image}` : from });
        const current = await run.docker.imageId(b.image);
        const byTag = current ? (sizeOf(current) ?? (await imageSize(run, current))) : undefined;
        if (byTag !== undefined) return unique(byTag, 'the image its tag points at now');
        const running = b.services.map((s) => runningImage[s]).find(Boolean);
        const byService = running ? (sizeOf(running) ?? (await imageSize(run, running))) : undefined;
        if (byService !== undefined) return unique(byService, `the image ${b.services[0]} runs now`);
        return unique(largest, largest ? "the stack's largest image" : 'no earlier image to go by');
      }),
    ),
    pullSizes(run, pulls),
  ]);
  return { ...diskRoom(free, [...estimates, ...pulled.estimates], stack.deploy.min_free_disk_mb * 1024 * 1024), unsized: pulled.unsized };
}

/** The final stage's base image of a build, with its size, when the engine holds it (the build then pulls nothing). */
async function localBase(run: Run, argv: string[]): Promise<{ image: string; bytes: number } | undefined> {
  const { context, dockerfile, target } = buildInputs(argv);
  let text: string;
  try {
    text = readFileSync(path.resolve(context, dockerfile), 'utf8');
  } catch {
    return undefined; // a remote context or a Dockerfile elsewhere: counted whole
  }
  const image = finalBaseImage(text, target);
  const bytes = image ? await imageSize(run, image) : undefined;
  return image && bytes !== undefined ? { image, bytes } : undefined;
}

async function imageSize(run: Run, id: string): Promise<number | undefined> {
  const r = await run.effects.read(['docker', 'image', 'inspect', '--format', '{{.Size}}', id], { timeoutMs: 30_000 });
  return r.exitCode === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : undefined;
}
