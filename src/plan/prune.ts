// Release-aware pruning, decided from what was observed (pure): which of the
// stack's own images (those carrying its `lifeops.stack` label, never another
// project's, never build cache) and which stopped containers can go, because
// no kept release, no backup and no remaining container refers to them.
// Kept releases: per environment, the newest `deploy.keep_releases` successful
// ones (the one in force among them). flows/prune.ts runs the result.

/** What pruning needs of a release record (state/ledger.ts ReleaseRecord). */
export interface PruneRelease {
  run_id: string;
  env: string;
  kind: string;
  outcome: string;
  version: string;
  /** service -> image reference */
  images: Record<string, string>;
  render_dir?: string;
}

export interface PruneImage {
  id: string;
  tags: string[];
  size: number;
  labels: Record<string, string>;
}

export interface PruneContainer {
  id: string;
  name: string;
  state: string;
  imageId: string;
  labels: Record<string, string>;
}

export interface PruneFacts {
  /** the stack's name: images labelled lifeops.stack=<name> are its own */
  stack: string;
  keepReleases: number;
  /** every release of this state dir, oldest first */
  releases: PruneRelease[];
  /** the images and image ids the retained backups' manifests name */
  backupImages: { image: string; id?: string }[];
  /** image reference -> the id it points at now (undefined: absent) */
  refIds: Record<string, string | undefined>;
  /** the images that carry the stack's label */
  images: PruneImage[];
  /** the containers of the stack's compose projects (every state) */
  containers: PruneContainer[];
  /** image ids used by any container on the engine outside those projects */
  usedElsewhere: string[];
}

export interface PrunePlan {
  retained: { run_id: string; env: string; version: string }[];
  /** releases beyond keep_releases whose rendered-file archive goes */
  dropReleases: { run_id: string; env: string; version: string; render_dir: string }[];
  containers: { id: string; name: string; why: string }[];
  images: { id: string; tags: string[]; size: number; why: string }[];
  kept: { id: string; tags: string[]; why: string }[];
  /** sum of the removed images' sizes (shared layers counted once per image, so an upper bound) */
  bytes: number;
}

const STOPPED = new Set(['exited', 'created', 'dead']);

/** Per environment, the newest `keep` successful releases that kept their rendered files, newest first. */
export function retainedReleases(releases: PruneRelease[], keep: number): { retained: PruneRelease[]; dropped: PruneRelease[] } {
  const good = releases.filter((r) => r.outcome === 'success' && (r.kind === 'deploy' || r.kind === 'rollback'));
  const byEnv = new Map<string, PruneRelease[]>();
  for (const r of good) byEnv.set(r.env, [...(byEnv.get(r.env) ?? []), r]);
  const retained: PruneRelease[] = [];
  const dropped: PruneRelease[] = [];
  for (const list of byEnv.values()) {
    const newestFirst = [...list].reverse();
    retained.push(...newestFirst.slice(0, keep));
    dropped.push(...newestFirst.slice(keep));
  }
  return { retained, dropped };
}

export function planPrune(f: PruneFacts): PrunePlan {
  const { retained, dropped } = retainedReleases(f.releases, f.keepReleases);
  // why each image id is kept: the first reason found
  const keepWhy = new Map<string, string>();
  const keep = (id: string | undefined, why: string) => {
    if (id && !keepWhy.has(id)) keepWhy.set(id, why);
  };
  for (const r of retained) for (const ref of Object.values(r.images)) keep(f.refIds[ref], `release ${r.run_id} (${r.env}, version ${r.version})`);
  for (const b of f.backupImages) {
    keep(b.id, `a backup's release (${b.image})`);
    keep(f.refIds[b.image], `a backup's release (${b.image})`);
  }
  for (const id of f.usedElsewhere) keep(id, 'used by a container outside this stack');
  const own = new Map(f.images.filter((i) => i.labels['lifeops.stack'] === f.stack).map((i) => [i.id, i]));

  // stopped containers: one-off ones (a migrations run left behind), and those whose image goes
  const containers: PrunePlan['containers'] = [];
  for (const c of f.containers) {
    if (!STOPPED.has(c.state)) continue;
    if (c.labels['com.docker.compose.oneoff'] === 'True') containers.push({ id: c.id, name: c.name, why: `stopped one-off container (${c.state})` });
    else if (own.has(c.imageId) && !keepWhy.has(c.imageId)) containers.push({ id: c.id, name: c.name, why: `stopped (${c.state}); its image belongs to no kept release` });
  }
  const removed = new Set(containers.map((c) => c.id));
  for (const c of f.containers) if (!removed.has(c.id)) keep(c.imageId, `used by container ${c.name} (${c.state})`);

  const images: PrunePlan['images'] = [];
  const kept: PrunePlan['kept'] = [];
  for (const img of own.values()) {
    const why = keepWhy.get(img.id);
    if (why) kept.push({ id: img.id, tags: img.tags, why });
    else images.push({ id: img.id, tags: img.tags, size: img.size, why: img.tags.length ? 'no kept release or backup refers to it' : 'untagged (its tag moved to a newer build)' });
  }
  return {
    retained: retained.map((r) => ({ run_id: r.run_id, env: r.env, version: r.version })),
    dropReleases: dropped.filter((r) => r.render_dir).map((r) => ({ run_id: r.run_id, env: r.env, version: r.version, render_dir: r.render_dir! })),
    containers,
    images,
    kept,
    bytes: images.reduce((n, i) => n + i.size, 0),
  };
}

/** The command that removes one image: by its tags (a multi-tagged id is refused without -f, and -f is never used), else by id. */
export function imageRemoveArgv(img: { id: string; tags: string[] }): string[] {
  return ['docker', 'image', 'rm', ...(img.tags.length ? img.tags : [img.id])];
}

export function containerRemoveArgv(id: string): string[] {
  return ['docker', 'container', 'rm', id];
}

/** Before a deploy builds or pulls: is there room on the engine's data root? Pure; the sizes are estimates. */
export interface DiskRoom {
  ok: boolean;
  free_bytes: number;
  needed_bytes: number;
  /** what each image to build or pull is estimated at, and from what */
  images: { image: string; action: 'build' | 'pull'; estimate_bytes: number; from: string }[];
  /** images to pull whose size could not be learned (not counted: a warning, never a refusal) */
  unsized?: { image: string; why: string }[];
}

export function diskRoom(freeBytes: number, images: DiskRoom['images'], marginBytes: number): DiskRoom {
  const needed = images.reduce((n, i) => n + i.estimate_bytes, 0) + (images.length ? marginBytes : 0);
  return { ok: freeBytes >= needed, free_bytes: freeBytes, needed_bytes: needed, images };
}

export const mb = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MB`;

/** What the room check found, for the person deploying (a dry run shows the same lines). */
export function describeRoom(room: DiskRoom, minFreeMb: number): string[] {
  return [
    `room on the Docker data root: ${mb(room.free_bytes)} free, ${mb(room.needed_bytes)} needed${room.images.length ? ` (deploy.min_free_disk_mb ${minFreeMb} MB left over)` : ''}`,
    ...room.images.map((i) => `  ${i.action} ${i.image}: about ${mb(i.estimate_bytes)}, from ${i.from}`),
    ...(room.unsized ?? []).map((u) => `warning: the size of ${u.image} (to pull) is unknown, so it is not counted: ${u.why}`),
  ];
}

/** The refusal when the room is short: every image with its figure and where it came from. */
export function roomRefusal(room: DiskRoom, minFreeMb: number): string {
  const names = (action: 'build' | 'pull') => room.images.filter((i) => i.action === action).map((i) => i.image);
  const what = [names('build').length ? `build ${names('build').join(', ')}` : '', names('pull').length ? `pull ${names('pull').join(', ')}` : ''].filter(Boolean).join(' and ');
  const figures = room.images.map((i) => `${i.image} about ${mb(i.estimate_bytes)}, from ${i.from}`).join('; ');
  return `not enough room on the Docker data root to ${what}: ${mb(room.free_bytes)} free, ${mb(room.needed_bytes)} needed (${figures}; plus deploy.min_free_disk_mb ${minFreeMb} MB left over); nothing was changed`;
}

/**
 * The image the final stage of a Dockerfile starts FROM, following stages
 * built FROM earlier ones; undefined for scratch or a name a build argument
 * makes. A rebuild on a base the engine already holds adds only its own
 * layers: the room check counts those, not the base again.
 */
export function finalBaseImage(dockerfile: string, target?: string): string | undefined {
  const stageBase = new Map<string, string | undefined>();
  let base: string | undefined;
  for (const line of dockerfile.split('\n')) {
    const m = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!m) continue;
    const from = m[1].toLowerCase();
    base = stageBase.has(from) ? stageBase.get(from) : from.includes('$') || from === 'scratch' ? undefined : m[1];
    if (m[2]) stageBase.set(m[2].toLowerCase(), base);
    // --target: the build stops at that stage
    if (target && m[2]?.toLowerCase() === target.toLowerCase()) return base;
  }
  return base;
}

/** The context folder, Dockerfile and target stage of a `docker build` argv (commands/compose.ts dockerBuild: -f FILE, --target, the context last). */
export function buildInputs(argv: string[]): { context: string; dockerfile: string; target?: string } {
  const context = argv[argv.length - 1];
  const f = argv.indexOf('-f');
  const t = argv.indexOf('--target');
  return { context, dockerfile: f >= 0 ? argv[f + 1] : 'Dockerfile', ...(t >= 0 ? { target: argv[t + 1] } : {}) };
}

