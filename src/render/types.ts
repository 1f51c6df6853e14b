// The shapes every renderer shares. Kept apart from index.ts (which imports
// every renderer) so that a renderer naming these types does not import its
// own caller.
import type { Stack } from '../config/schema.js';

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
  /** front.tls.acme: the domains whose certificate is installed (only those are served over HTTPS; the others stay on HTTP) */
  certified?: string[];
}

export type Renderer = (stack: Stack, ctx: RenderContext) => RenderedFile[];
