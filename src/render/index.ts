// Every file a stack needs, rendered as a pure function of the resolved stack.
// Each renderer returns RenderedFile[] (paths relative to the render dir);
// renderAll concatenates them in a fixed order so output is byte-identical.
import type { Stack } from '../config/schema.js';
import { renderCompose } from './compose.js';
import { renderMonitoring } from './monitoring.js';
import { renderNginx } from './nginx.js';
import { renderTraefik } from './traefik.js';
import { renderGunicorn } from './gunicorn.js';
import { renderDatastores } from './datastores.js';
import { renderExtras } from './extras.js';

export interface RenderedFile {
  /** path relative to the render dir, forward slashes */
  path: string;
  content: string;
  /** file mode; default 0o644 */
  mode?: number;
}

export interface RenderContext {
  /** absolute path of the folder the files will be written to (for relative mounts) */
  renderDir: string;
}

export type Renderer = (stack: Stack, ctx: RenderContext) => RenderedFile[];

/** Registered renderers, in output order. Later issues append theirs here. */
export const renderers: Renderer[] = [
  (stack, ctx) => [{ path: 'docker-compose.yml', content: renderCompose(stack, ctx.renderDir) }],
  renderMonitoring,
  renderNginx,
  renderTraefik,
  renderGunicorn,
  renderDatastores,
  renderExtras,
];

export function renderAll(stack: Stack, ctx: RenderContext): RenderedFile[] {
  const files = renderers.flatMap((r) => r(stack, ctx));
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) throw new Error(`two renderers produced ${f.path}`);
    seen.add(f.path);
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** The compose files to pass with -f, in order (base first, then overrides). */
export function composeFiles(files: RenderedFile[]): string[] {
  return files
    .map((f) => f.path)
    .filter((p) => /^docker-compose(\.[a-z0-9-]+)?\.yml$/.test(p))
    .sort((a, b) => (a === 'docker-compose.yml' ? -1 : b === 'docker-compose.yml' ? 1 : a.localeCompare(b)));
}
