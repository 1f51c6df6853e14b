// Writing rendered files: into a fresh temporary folder first, then swapped
// into place, so a failed render never leaves a half-written config behind.
import { mkdirSync, writeFileSync, rmSync, renameSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Stack } from '../config/schema.js';
import { renderAll, composeFiles, type RenderedFile } from '../render/index.js';

export function renderDirFor(stateDir: string, env: string): string {
  return path.join(stateDir, 'render', env);
}

export function renderStack(stack: Stack, renderDir: string): RenderedFile[] {
  return renderAll(stack, { renderDir: path.resolve(renderDir) });
}

/** sha256 over every rendered file's path and bytes. */
export function configHash(files: RenderedFile[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(f.path).update('\0').update(f.content).update('\0');
  return h.digest('hex').slice(0, 16);
}

export function writeRendered(files: RenderedFile[], dir: string): void {
  const target = path.resolve(dir);
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  for (const f of files) {
    const p = path.join(tmp, f.path);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, f.content, { mode: f.mode ?? 0o644 });
  }
  mkdirSync(path.dirname(target), { recursive: true });
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) renameSync(target, old);
  renameSync(tmp, target);
  rmSync(old, { recursive: true, force: true });
}

export function composePaths(files: RenderedFile[], dir: string): string[] {
  return composeFiles(files).map((f) => path.join(path.resolve(dir), f));
}

/** Read back a rendered folder (for plan diffs and release records). */
export function readRenderedDir(dir: string): RenderedFile[] {
  const out: RenderedFile[] = [];
  const walk = (rel: string) => {
    const abs = path.join(dir, rel);
    for (const name of readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(path.join(dir, r)).isDirectory()) walk(r);
      else out.push({ path: r, content: readFileSync(path.join(dir, r), 'utf8') });
    }
  };
  if (existsSync(dir)) walk('');
  return out;
}
