// Bounded HTTP load through the front on 127.0.0.1: at most MAX requests and
// SECONDS seconds, stops early when the file STOP exists. Prints JSON counts.
import { existsSync } from 'node:fs';
const [port, max = '400', seconds = '180', stop = ''] = process.argv.slice(2);
const t0 = Date.now();
let ok = 0, failed = 0;
const errors = {};
for (let i = 0; i < Number(max) && Date.now() - t0 < Number(seconds) * 1000; i++) {
  if (stop && existsSync(stop)) break;
  try {
    const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
    await r.text();
    if (r.ok) ok++; else { failed++; errors[r.status] = (errors[r.status] ?? 0) + 1; }
  } catch (e) { failed++; const k = e.cause?.code ?? e.name; errors[k] = (errors[k] ?? 0) + 1; }
  await new Promise((r) => setTimeout(r, 100));
}
console.log(JSON.stringify({ ok, failed, total: ok + failed, errors, seconds: (Date.now() - t0) / 1000 }));
