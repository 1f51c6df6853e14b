// Bundle the CLI and its light dependencies into dist/: start-up (cron's
// `status`, `--version`) skips resolving hundreds of module files (measured:
// `--version` 0.6-1.0 s with packages external, 0.17-0.38 s bundled). Each
// command's handler is its own chunk (the CLI imports it when the command
// runs), so `--version` and `--help` load only the argument parser. The heavy
// clients stay external and load on first use. bench/status.sh measures what
// a cron `status` run costs against `docker compose ps`.
import { build } from 'esbuild';

import { rmSync } from 'node:fs';
import path from 'node:path';

// zod's classic and core APIs re-export every message locale (0.37 MB of the bundle,
// compiled by every run); lifeops uses only English (zod's default, set by
// zod itself from locales/en.js), so `z.locales` holds only `en` here.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core)$/.test(args.resolveDir) ? { path: path.join(args.resolveDir, '../locales/en.js'), namespace: 'zod-en' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-en' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

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
  // loaded on first use with createRequire (ajv: only for stacks with compose-only keys)
  external: ['dockerode', 'pg', 'ioredis', 'ora', 'tsx', 'ajv', 'acme-client'],
  plugins: [zodEnglishOnly],
  // bundled CommonJS packages (commander) call require() for node builtins
  banner: { js: "import { createRequire as lifeopsCreateRequire } from 'node:module'; const require = lifeopsCreateRequire(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
});
