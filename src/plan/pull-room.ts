// The images a deploy will pull, and what each needs on the engine's data
// root, decided from the rendered compose files and the registry's manifest
// (pure: the flow asks the engine and the registry, flows/pull-room.ts).
// Compose pulls, on `up`, every image of a service it starts that the engine
// does not hold and that no `build` makes; lifeops builds its images itself
// (docker build) before that, so those are not pulled.
import { parse } from 'yaml';

/**
 * The distinct images of the rendered compose files' services that are not
 * built here, in order of first mention; a later file (an override) changes
 * the keys it names of a service, as compose merges them.
 */
export function pulledImages(composeTexts: string[], built: Iterable<string>): string[] {
  type Svc = { image?: unknown; build?: unknown; profiles?: unknown[] };
  const merged = new Map<string, Svc>();
  for (const text of composeTexts) {
    const doc = parse(text) as { services?: Record<string, Svc | null> } | null;
    for (const [name, svc] of Object.entries(doc?.services ?? {})) merged.set(name, { ...merged.get(name), ...svc });
  }
  const skip = new Set(built);
  const out: string[] = [];
  for (const svc of merged.values()) {
    // a service under a profile is not started by a plain `up`, so its image is not pulled
    if (typeof svc.image !== 'string' || svc.build !== undefined || svc.profiles?.length) continue;
    if (!skip.has(svc.image) && !out.includes(svc.image)) out.push(svc.image);
  }
  return out;
}

/** The registry host of an image reference as the engine reads it: the first path part when it names a host, else Docker Hub. */
export function registryHost(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io';
}

/** What the engine's `docker info` says of registries (RegistryConfig). */
export interface RegistryConfig {
  IndexConfigs?: Record<string, { Secure?: boolean }>;
  InsecureRegistryCIDRs?: string[];
}

function ipv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function inCidr(ip: number, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const start = ipv4(base);
  const len = Number(bits);
  if (start === undefined || !Number.isInteger(len) || len < 0 || len > 32) return false;
  const size = 2 ** (32 - len);
  return Math.floor(ip / size) === Math.floor(start / size);
}

/**
 * Does the engine pull from this registry over plain HTTP (or HTTPS without
 * verification)? Then the manifest is asked for the same way (`--insecure`):
 * the registries the daemon names insecure, and the addresses in its
 * insecure CIDRs (127.0.0.0/8 by default; `localhost` is 127.0.0.1 there).
 */
export function engineTreatsInsecure(host: string, config: RegistryConfig): boolean {
  const named = config.IndexConfigs?.[host];
  if (named) return named.Secure === false;
  const name = host.replace(/:\d+$/, '');
  const ip = ipv4(name === 'localhost' ? '127.0.0.1' : name);
  return ip !== undefined && (config.InsecureRegistryCIDRs ?? []).some((c) => inCidr(ip, c));
}

/**
 * `docker manifest inspect -v`: the manifest (for a list or index, every
 * platform's) with its layer sizes. The CLI finds the credentials itself
 * (~/.docker/config.json and its helpers, Docker Hub's anonymous token), so
 * none ever reaches a command line.
 */
export function manifestInspectArgv(image: string, insecure: boolean): string[] {
  return ['docker', 'manifest', 'inspect', '-v', ...(insecure ? ['--insecure'] : []), image];
}

interface InspectedManifest {
  Descriptor?: { platform?: { os?: string; architecture?: string; variant?: string } };
  SchemaV2Manifest?: { config?: { size?: number }; layers?: { size?: number }[] };
  OCIManifest?: { config?: { size?: number }; layers?: { size?: number }[] };
}

/** The compressed bytes an image's pull downloads for `platform` ("linux/amd64"), or why that cannot be told from the inspect output. */
export function manifestBytes(inspectJson: string, platform: string): { bytes: number; platform?: string } | { why: string } {
  let doc: InspectedManifest | InspectedManifest[];
  try {
    doc = JSON.parse(inspectJson) as InspectedManifest | InspectedManifest[];
  } catch {
    return { why: 'the registry answer is not JSON' };
  }
  const [os, arch] = platform.split('/');
  let pick: InspectedManifest | undefined;
  let picked: string | undefined;
  if (Array.isArray(doc)) {
    const matches = doc.filter((m) => m.Descriptor?.platform?.os === os && m.Descriptor?.platform?.architecture === arch);
    // several variants of one architecture (arm v6/v7): the one without a variant, else arm64's v8, else the first
    pick = matches.find((m) => !m.Descriptor?.platform?.variant) ?? matches.find((m) => m.Descriptor?.platform?.variant === 'v8') ?? matches[0];
    if (!pick) return { why: `the manifest list has no ${platform} image (it has ${doc.map((m) => [m.Descriptor?.platform?.os, m.Descriptor?.platform?.architecture].join('/')).join(', ') || 'none'})` };
    picked = [os, arch, pick.Descriptor?.platform?.variant].filter(Boolean).join('/');
  } else {
    pick = doc;
  }
  const m = pick.SchemaV2Manifest ?? pick.OCIManifest;
  if (!m?.layers || !m.layers.every((l) => Number.isSafeInteger(l.size) && l.size! >= 0)) return { why: 'the manifest gives no layer sizes (an old schema 1 manifest?)' };
  const bytes = m.layers.reduce((n, l) => n + l.size!, 0) + (m.config?.size ?? 0);
  return picked ? { bytes, platform: picked } : { bytes };
}

/**
 * What a pull of `compressed` bytes takes on the data root: the compressed
 * download, held until its layer is unpacked (three layers download at a
 * time), plus the unpacked layer, counted at three times the compressed size
 * (gzip of binaries and text usually shrinks them by half to two thirds; the
 * test registry's busybox layer: 1.0 MB compressed, 1.9 MB unpacked). Every
 * layer is counted, also those the engine may already hold from another
 * image: it keys layers by their unpacked digest, which a manifest does not
 * carry, so which are shared cannot be told before the pull; a pull on a
 * base the engine has is overestimated.
 */
export const PULL_FACTOR = 4;

export function pullEstimate(image: string, compressed: number, platform?: string): { image: string; action: 'pull'; estimate_bytes: number; from: string } {
  const mbText = (compressed / (1024 * 1024)).toFixed(1);
  return { image, action: 'pull', estimate_bytes: compressed * PULL_FACTOR, from: `the registry manifest (${mbText} MB of compressed layers${platform ? ` for ${platform}` : ''}, counted ${PULL_FACTOR}x: the download plus about 3x unpacked)` };
}
