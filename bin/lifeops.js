#!/usr/bin/env node
// Entry point: the bundled build when present (fast start), else the sources via tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/lifeops.mjs', import.meta.url);
let mod;
if (existsSync(fileURLToPath(dist))) mod = await import(dist.href);
else {
  await import('tsx/esm');
  mod = await import(new URL('../src/cli/entry.ts', import.meta.url).href);
}
const code = await mod.run(process.argv.slice(2));
process.exitCode = code;
