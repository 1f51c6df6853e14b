// Before a deploy pulls: the size of each image the engine does not hold yet,
// from its registry's manifest (plan/pull-room.ts decides; the questions go
// through the run's effects port as reads, so a dry run asks them too). A size
// that cannot be learned (no answer, refused, a registry the engine cannot
// reach) is not a refusal: the caller warns naming the image and why.
import type { Run } from './context.js';
import { engineTreatsInsecure, manifestBytes, manifestInspectArgv, pullEstimate, registryHost, type RegistryConfig } from '../plan/pull-room.js';

/** How long one registry may take to answer before its image counts as unsized. */
export const MANIFEST_TIMEOUT_MS = 5_000;

export interface PullSizes {
  estimates: ReturnType<typeof pullEstimate>[];
  unsized: { image: string; why: string }[];
}

const lastLine = (text: string) => text.trim().split('\n').filter(Boolean).pop() ?? '';

/** The images of `images` the engine does not hold (those compose will pull on `up`). */
export async function notHeld(run: Run, images: string[]): Promise<string[]> {
  const held = await Promise.all(images.map((i) => run.docker.imageExists(i)));
  return images.filter((_, n) => !held[n]);
}

/** The engine's platform (`linux/amd64`) and registry settings: which manifest of a list it pulls, and over what. */
async function engineFacts(run: Run): Promise<{ platform: string; registries: RegistryConfig } | { why: string }> {
  const [version, info] = await Promise.all([
    run.effects.read(['docker', 'version', '--format', '{{.Server.Os}}/{{.Server.Arch}}'], { timeoutMs: 30_000 }),
    run.effects.read(['docker', 'info', '--format', '{{json .RegistryConfig}}'], { timeoutMs: 30_000 }),
  ]);
  const platform = version.stdout.trim();
  if (version.exitCode !== 0 || !/^[a-z0-9]+\/[a-z0-9]+$/.test(platform)) return { why: `the engine's platform is unknown (docker version: ${lastLine(version.stderr) || platform || `exit ${version.exitCode}`})` };
  try {
    return { platform, registries: info.exitCode === 0 ? (JSON.parse(info.stdout) as RegistryConfig) : {} };
  } catch {
    return { platform, registries: {} };
  }
}

async function sizeOne(run: Run, image: string, platform: string, registries: RegistryConfig): Promise<ReturnType<typeof pullEstimate> | { image: string; why: string }> {
  const argv = manifestInspectArgv(image, engineTreatsInsecure(registryHost(image), registries));
  try {
    const r = await run.effects.read(argv, { timeoutMs: MANIFEST_TIMEOUT_MS });
    if (r.exitCode !== 0) return { image, why: `the registry did not give its manifest: ${lastLine(r.stderr) || `docker manifest inspect exit ${r.exitCode}`}` };
    const size = manifestBytes(r.stdout, platform);
    return 'why' in size ? { image, why: size.why } : pullEstimate(image, size.bytes, size.platform);
  } catch (e) {
    const msg = (e as Error).message;
    return { image, why: /timed out/i.test(msg) ? `the registry gave no answer within ${MANIFEST_TIMEOUT_MS / 1000} s` : lastLine(msg) };
  }
}

/** Every image's estimate, asked of the registries at once; what could not be sized, with why. */
export async function pullSizes(run: Run, images: string[]): Promise<PullSizes> {
  if (!images.length) return { estimates: [], unsized: [] };
  const facts = await engineFacts(run);
  if ('why' in facts) return { estimates: [], unsized: images.map((image) => ({ image, why: facts.why })) };
  const sized = await Promise.all(images.map((i) => sizeOne(run, i, facts.platform, facts.registries)));
  return {
    estimates: sized.filter((s): s is ReturnType<typeof pullEstimate> => 'estimate_bytes' in s),
    unsized: sized.filter((s): s is { image: string; why: string } => 'why' in s),
  };
}
