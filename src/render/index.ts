// Every file a stack needs, rendered as a pure function of the resolved stack.
// Each renderer returns RenderedFile[] (paths relative to the render dir);
// renderAll concatenates them in a fixed order so output is byte-identical.
import path from 'node:path';
import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import type { Stack } from '../config/schema.js';
import { locateConfigError } from '../config/source.js';
import { ConfigError } from '../errors.js';
import { toYaml } from './yaml.js';
import type { RenderedFile, RenderContext, Renderer } from './types.js';
import { renderCompose } from './compose.js';
import { RELOADED_IN_PLACE, renderMonitoring } from './monitoring.js';
import { monitoringOf } from '../config/monitoring.js';
import { renderNginx } from './nginx.js';
import { renderTraefik } from './traefik.js';
import { renderGunicorn } from './gunicorn.js';
import { renderDatastores } from './datastores.js';
import { renderExtras } from './extras.js';
import { renderSwarm } from './swarm.js';

// The shared types live in types.ts (renderers import them from there); they
// are re-exported so callers keep importing everything from render/index.js.
export type { RenderedFile, RenderContext, Renderer } from './types.js';

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
  let files: RenderedFile[];
  try {
    files = renderers.flatMap((r) => r(stack, ctx));
  } catch (e) {
    // A renderer knows the key path of a bad value, not its line: add it here.
    throw e instanceof ConfigError ? locateConfigError(stack, e) : e;
  }
  const seen = new Set<string>();
  for (const f of files) {
    // Not the stack file's fault (paths are unique per service and domain): a bug, exit 1.
    if (seen.has(f.path)) throw new Error(`two renderers produced ${f.path}`);
    seen.add(f.path);
  }
  files.push(...renderSwarm(stack, files)); // with swarm options only (a swarm environment's)
  return labelConfigFiles(stack, files).sort((a, b) => a.path.localeCompare(b.path));
}

export const CONFIG_FILES_LABEL = 'lifeops.config-files';

/**
 * Compose decides to recreate a container from its service definition only,
 * never from the bytes of a file it bind-mounts: a changed postgresql.conf or
 * gunicorn config would be ignored. So every service that mounts rendered
 * files gets a label with their digest, and a change to them changes the
 * service. The nginx front is left out: deploy reloads it gracefully instead;
 * so are Prometheus and Alertmanager (deploy checks their files with promtool
 * or amtool inside the running container, then has them reload in place).
 */
export function labelConfigFiles(stack: Stack, files: RenderedFile[]): RenderedFile[] {
  const skip = new Set([...(stack.front?.kind === 'nginx' ? [stack.front.service] : []), ...(monitoringOf(stack) ? RELOADED_IN_PLACE : [])]);
  return files.map((f) => {
    if (!composeFiles([f]).length) return f;
    const doc = parse(f.content, { version: '1.1' }) as { services?: Record<string, { volumes?: string[]; labels?: Record<string, string> }> };
    let changed = false;
    for (const [name, svc] of Object.entries(doc.services ?? {})) {
      if (skip.has(name)) continue;
      const digest = mountedFilesDigest(svc.volumes ?? [], files);
      if (!digest) continue;
      svc.labels = { ...svc.labels, [CONFIG_FILES_LABEL]: digest };
      changed = true;
    }
    if (!changed) return f;
    const header = f.content.split('\n').filter((l, i, all) => l.startsWith('#') && all.slice(0, i).every((x) => x.startsWith('#'))).map((l) => l.replace(/^# ?/, ''));
    return { ...f, content: toYaml(doc, header.join('\n')) };
  });
}

/** sha256 over the rendered files under the `./` sources of a service's volumes; undefined when it mounts none. */
export function mountedFilesDigest(volumes: string[], files: RenderedFile[]): string | undefined {
  const h = createHash('sha256');
  let any = false;
  for (const v of volumes) {
    const source = v.split(':')[0];
    if (!source.startsWith('./')) continue;
    const rel = path.posix.normalize(source.slice(2));
    for (const f of files) {
      if (f.path !== rel && !f.path.startsWith(`${rel}/`)) continue;
      h.update(f.path).update('\0').update(f.content).update('\0');
      any = true;
    }
  }
  return any ? `sha256:${h.digest('hex').slice(0, 16)}` : undefined;
}

/** The compose files to pass with -f, in order (base first, then overrides). */
export function composeFiles(files: RenderedFile[]): string[] {
  return files
    .map((f) => f.path)
    .filter((p) => /^docker-compose(\.[a-z0-9-]+)?\.yml$/.test(p))
    .sort((a, b) => (a === 'docker-compose.yml' ? -1 : b === 'docker-compose.yml' ? 1 : a.localeCompare(b)));
}
