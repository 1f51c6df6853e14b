// Stack file load time against size, for hostile shapes: many services, long
// strings, deep anchors (merge keys over a chain of anchored mappings). Each
// file is loaded by loadStack with the size limit lifted, beside the raw
// parser (`yaml` parseDocument + toJS of the same text) in the same run; the
// ratio per MB says whether loading stays linear. Then the real limit: a
// 20 MB file with the default limit must be refused, with the time it took.
import { mkdtempSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { loadStack } from '../src/config/load.js';
import { MAX_STACK_FILE_BYTES } from '../src/config/stack-yaml.js';
import { ConfigError } from '../src/errors.js';

const MB = 1024 * 1024;
const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-load-size-'));
const head = 'name: big\ndefault_environment: local\nenvironments:\n  local: {}\n';

function manyServices(bytes: number): string {
  const parts = [head, 'services:\n'];
  let size = head.length;
  for (let i = 0; size < bytes; i++) {
    const s = `  svc${i}:\n    image: example/app:${i}\n    command: ["run", "--id", "${i}"]\n    environment: { ID: "${i}", MODE: worker }\n    labels: { team: ops, idx: "${i}" }\n`;
    parts.push(s);
    size += s.length;
  }
  return parts.join('');
}

function longStrings(bytes: number): string {
  const per = 64 * 1024;
  const parts = [head, 'services:\n'];
  let size = head.length;
  for (let i = 0; size < bytes; i++) {
    const s = `  svc${i}:\n    image: example/app:1\n    environment:\n      BLOB: "${'x'.repeat(per)}"\n`;
    parts.push(s);
    size += s.length;
  }
  return parts.join('');
}

function deepAnchors(bytes: number): string {
  // x-N: &aN { <<: *aN-1, kN: ... } : each service merges the deepest anchor in reach.
  const parts = [head];
  let size = head.length;
  parts.push('x-a0: &a0 { image: "example/app:1" }\n');
  const services: string[] = ['services:\n'];
  for (let i = 1; size < bytes; i++) {
    const anchor = `x-a${i}: &a${i}\n  <<: *a${i - 1}\n  labels: { level: "${i}" }\n`;
    const svc = `  svc${i}:\n    <<: *a${i}\n    environment: { N: "${i}" }\n`;
    parts.push(anchor);
    services.push(svc);
    size += anchor.length + svc.length;
  }
  return parts.join('') + services.join('');
}

function time<T>(f: () => T): { ms: number; value?: T; error?: unknown } {
  const t0 = performance.now();
  try {
    const value = f();
    return { ms: performance.now() - t0, value };
  } catch (error) {
    return { ms: performance.now() - t0, error };
  }
}

const shapes = { 'many services': manyServices, 'long strings': longStrings, 'deep anchors': deepAnchors };
const sizes = (process.env.SIZES ?? '1 2 4 8').split(/\s+/).filter(Boolean).map(Number);
console.log(`stack file load time by size (size limit lifted), node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log('shape            size MB   load ms   raw yaml ms   load ms/MB   ratio load/raw');
for (const [shape, gen] of Object.entries(shapes)) {
  for (const mb of sizes) {
    const file = path.join(dir, `${shape.replace(/ /g, '-')}-${mb}.yaml`);
    writeFileSync(file, gen(mb * MB));
    const actual = statSync(file).size / MB;
    const text = gen(mb * MB);
    const raw = time(() => parseDocument(text, { merge: true, uniqueKeys: true }).toJS({ maxAliasCount: -1 }));
    const load = time(() => loadStack({ file, processEnv: {}, maxBytes: 64 * MB }));
    const outcome = load.error ? ` (refused: ${String((load.error as Error).message).split('\n')[0].slice(0, 80)})` : '';
    console.log(`${shape.padEnd(16)} ${actual.toFixed(2).padStart(7)} ${load.ms.toFixed(0).padStart(9)} ${raw.ms.toFixed(0).padStart(13)} ${(load.ms / actual).toFixed(0).padStart(12)} ${(load.ms / raw.ms).toFixed(2).padStart(16)}${outcome}`);
  }
}
// The limit as shipped: a 20 MB file is refused by its size before it is read.
const big = path.join(dir, 'twenty.yaml');
writeFileSync(big, manyServices(20 * MB));
const refused = time(() => loadStack({ file: big, processEnv: {} }));
const msg = refused.error instanceof ConfigError ? refused.error.message : String(refused.error ?? 'loaded');
console.log(`20 MB (${(statSync(big).size / MB).toFixed(1)} MB) with the default limit of ${MAX_STACK_FILE_BYTES / MB} MiB: ${refused.ms.toFixed(0)} ms: ${msg}`);
