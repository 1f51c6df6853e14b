// What a stack file's text alone decides, kept between runs: the YAML parsed
// to plain data, the environment names, and for which chosen environments
// the other environments' overlays were found free of unknown keys. All of it
// is a function of the file's bytes (and of the lifeops build), so an entry
// is found by the hash of both, and it holds nothing the file does not:
// variables and env_file values, secrets among them, are never in it. The
// storage (the state folder's cache/) lives in src/state; this is the shape.
import { createHash } from 'node:crypto';

export interface ParsedStackFile {
  /** the YAML document as plain data (aliases and merge keys resolved, x- keys still in) */
  value: Record<string, unknown>;
  environments: string[];
  /** chosen environments for which every other environment's overlay passed the unknown-key check */
  othersChecked: string[];
}

export interface StackParseCache {
  /** identifies the lifeops build: a new build never trusts an entry of an older one */
  build: string;
  get(stackFile: string, key: string): ParsedStackFile | undefined;
  put(stackFile: string, key: string, entry: ParsedStackFile): void;
}

export const parseCacheKey = (build: string, bytes: Buffer): string => createHash('sha256').update(`lifeops-stack-parse-1\0${build}\0`).update(bytes).digest('hex');

/**
 * True when JSON keeps `v` exactly: strings, finite numbers (not -0),
 * booleans, null, lists and plain mappings. YAML can say more (.inf, .nan);
 * a file that does is parsed every time rather than cached wrong.
 */
export function jsonExact(v: unknown, depth = 0): boolean {
  if (depth > 200) return false;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v) && !Object.is(v, -0);
  if (Array.isArray(v)) return v.every((x) => jsonExact(x, depth + 1));
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.keys(v).every((k) => k !== '__proto__' && jsonExact((v as Record<string, unknown>)[k], depth + 1));
  }
  return false;
}
