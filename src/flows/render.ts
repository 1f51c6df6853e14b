// Writing rendered files: into a fresh temporary folder first, then swapped
// into place, so a failed render never leaves a half-written config behind.
import { chmodSync, mkdirSync, writeFileSync, rmSync, renameSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdirPrivate, PRIVATE_FILE } from '../util/private-files.js';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Stack } from '../config/schema.js';
import { renderAll, composeFiles, type RenderedFile } from '../render/index.js';
import { alertmanagerSecretFiles } from '../render/alertmanager.js';
import { chownSync } from 'node:fs';
import { MAINTENANCE_SUBDIR } from '../state/paths.js';


/** `certified`: with front.tls.acme, the domains whose certificate is installed (flows/certs.ts); the others are rendered HTTP-only. */
export function renderStack(stack: Stack, renderDir: string, certified?: string[]): RenderedFile[] {
  return renderAll(stack, { renderDir: path.resolve(renderDir), ...(certified ? { certified } : {}) });
}

/** sha256 over every rendered file's path and bytes. */
export function configHash(files: RenderedFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(f.path).update('\0').update(f.content).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** the list of files lifeops rendered into a folder: the next render removes those it no longer renders */
export const RENDER_MANIFEST = '.lifeops-rendered.json';
const MANIFEST = RENDER_MANIFEST;

/**
 * Who reads a folder of rendered files. `containers`: the render folder in
 * force, whose files and subfolders are bind-mounted into containers that run
 * as other users (postgres, redis, nobody, ...): files 0644 (or the file's own
 * mode), subfolders 0755, set after writing so a strict umask cannot take them
 * away. The folder itself is not mounted and is private (0700), like the state
 * folder above it: other users of the host cannot reach any of it.
 * `private`: a release archive, read back only by lifeops: 0700/0600.
 */
export type RenderedAccess = 'containers' | 'private';

/** mkdir -p, the folders it creates 0755 whatever the umask (existing ones are left as they are). */
function mkdirReadable(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (!first) return;
  for (let p = path.resolve(dir); ; p = path.dirname(p)) {
    chmodSync(p, 0o755);
    if (p === path.resolve(first) || p === path.dirname(p)) break;
  }
}

/**
 * Write every file to a temporary name then rename it over the old one, so a
 * reader never sees half a file; files lifeops rendered last time and no
 * longer renders are removed. Anything else in the folder (certificates,
 * an htpasswd) is left alone.
 */
export function writeRendered(files: RenderedFile[], dir: string, access: RenderedAccess = 'containers'): void {
  const target = path.resolve(dir);
  const mkdir = (d: string) => (access === 'private' ? mkdirPrivate(d) : mkdirReadable(d));
  // the folder itself is never mounted: a new one is private (an existing one, e.g. `render --out .`, is left as it is)
  if (access === 'private' || !existsSync(target)) mkdirPrivate(target);
  let previous: string[] = [];
  try {
    previous = JSON.parse(readFileSync(path.join(target, MANIFEST), 'utf8')) as string[];
  } catch {
    previous = [];
  }
  for (const f of files) {
    const p = path.join(target, f.path);
    mkdir(path.dirname(p));
    const tmp = `${p}.tmp-${process.pid}`;
    const mode = access === 'private' ? PRIVATE_FILE : (f.mode ?? 0o644);
    writeFileSync(tmp, f.content, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, p);
  }
  const now = new Set(files.map((f) => f.path));
  for (const old of previous) if (!now.has(old)) rmSync(path.join(target, old), { force: true });
  writeFileSync(path.join(target, MANIFEST), JSON.stringify([...now].sort(), null, 1) + '\n', { mode: PRIVATE_FILE });
  chmodSync(path.join(target, MANIFEST), PRIVATE_FILE);
}

export function composePaths(files: RenderedFile[], dir: string): string[] {
  return composeFiles(files).map((f) => path.join(path.resolve(dir), f));
}

/**
 * Where deploy writes secret files inside a render folder. They are never
 * part of a release: not read back, not archived, not copied into backups;
 * each deploy or rollback writes them again from the current environment.
 */
export const SECRET_FILES_DIR = 'alertmanager/secrets';

/** Read back a rendered folder (for plan diffs and release records), secret files and maintenance mode's folder left out. */
export function readRenderedDir(dir: string): RenderedFile[] {
  const out: RenderedFile[] = [];
  const walk = (rel: string) => {
    const abs = path.join(dir, rel);
    for (const name of readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (r === SECRET_FILES_DIR || r === MAINTENANCE_SUBDIR) continue;
      if (statSync(path.join(dir, r)).isDirectory()) walk(r);
      else if (name !== MANIFEST) out.push({ path: r, content: readFileSync(path.join(dir, r), 'utf8') });
    }
  };
  if (existsSync(dir)) walk('');
  return out;
}

/** uid the official (and stand-in) Alertmanager image runs as: nobody. */
const ALERTMANAGER_UID = 65534;

/**
 * Secrets a service reads from files (never from rendered config): written
 * at deploy time beside the rendered files, mode 0600, owned by the user the
 * container runs as. Returns the files written (names only, for the log).
 */
export function writeSecretFiles(stack: Stack, renderDir: string): string[] {
  const mon = stack.monitoring;
  if (!mon?.enabled) return [];
  const values: Record<string, string | undefined> = {
    slack_webhook_url: mon.alertmanager.slack_webhook_url,
    pagerduty_routing_key: mon.alertmanager.pagerduty_routing_key,
  };
  const dir = path.join(path.resolve(renderDir), SECRET_FILES_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const written: string[] = [];
  for (const { file } of alertmanagerSecretFiles(mon)) {
    const p = path.join(dir, file);
    writeFileSync(p, values[file] ?? '', { mode: 0o600 });
    try {
      chownSync(p, ALERTMANAGER_UID, ALERTMANAGER_UID);
      chownSync(dir, ALERTMANAGER_UID, ALERTMANAGER_UID);
    } catch {
      /* not root: the container must run as this user instead */
    }
    written.push(`alertmanager/secrets/${file}`);
  }
  return written;
}
