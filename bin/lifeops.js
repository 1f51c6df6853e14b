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
// SIGINT/SIGTERM that no flow has taken over (a mutating flow traps them
// once it may change something: it undoes, then exits 130/143 itself): stop
// now with the code a shell would report, instead of dying without a word
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.on(sig, () => {
    if (process.listenerCount(sig) > 1) return;
    process.stderr.write(`lifeops: stopped by ${sig}\n`);
    process.exit(code);
  });
}
const code = await mod.run(process.argv.slice(2));
process.exitCode = code;
