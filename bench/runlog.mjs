// Seconds spent in the steps of a lifeops run log (<state>/logs/<run>.jsonl)
// whose title starts with PREFIX (summed; ok outcomes only). PREFIX may list
// alternatives separated by "|" (step titles change between versions).
// Usage: node bench/runlog.mjs LOG.jsonl PREFIX        -> "12.345"
//        node bench/runlog.mjs LOG.jsonl --all         -> one "seconds<TAB>title" line per step
import { readFileSync } from 'node:fs';

const [file, prefix] = process.argv.slice(2);
if (!file || !prefix) {
  console.error('usage: node bench/runlog.mjs LOG.jsonl PREFIX|--all');
  process.exit(2);
}
const ends = readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l))
  .filter((e) => e.event === 'end');
if (prefix === '--all') {
  for (const e of ends) console.log(`${(e.duration_ms / 1000).toFixed(3)}\t${e.step}${e.outcome === 'ok' ? '' : ` (${e.outcome})`}`);
} else {
  const prefixes = prefix.split('|');
  const hits = ends.filter((e) => e.outcome === 'ok' && prefixes.some((p) => e.step.startsWith(p)));
  if (!hits.length) {
    console.error(`no ok step starting with "${prefix}" in ${file}`);
    process.exit(1);
  }
  console.log((hits.reduce((a, e) => a + e.duration_ms, 0) / 1000).toFixed(3));
}
