// Bundle the CLI and its light dependencies into dist/: start-up (cron's
// `status`, `--version`) skips resolving hundreds of module files (measured:
// `--version` 0.6-1.0 s with packages external, 0.17-0.38 s bundled). Each
// command's handler is its own chunk (the CLI imports it when the command
// runs), so `--version` and `--help` load only the argument parser. The heavy
// clients stay external and load on first use.
import { build } from 'esbuild';

import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: ['src/cli/entry.ts'],
  outdir: 'dist',
  entryNames: 'lifeops',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['dockerode', 'pg', 'ioredis', 'ora', 'tsx'],
  // bundled CommonJS packages (commander) call require() for node builtins
  banner: { js: "import { createRequire as lifeopsCreateRequire } from 'node:module'; const require = lifeopsCreateRequire(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
});
