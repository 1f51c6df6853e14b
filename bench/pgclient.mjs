// One fresh process of bench/pgclient.sh: load a Postgres client, connect,
// SELECT 1, close; prints the milliseconds that took inside this process.
//   node bench/pgclient.mjs pgwire|pg|pg-chunk   (BENCH_PG_PORT, BENCH_PG_USER, BENCH_PG_PASSWORD;
//   BENCH_PG_PGWIRE, BENCH_PG_CHUNK: pgwire and pg each bundled alone)
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const [mode] = process.argv.slice(2);
const target = { host: '127.0.0.1', port: Number(process.env.BENCH_PG_PORT), user: process.env.BENCH_PG_USER, password: process.env.BENCH_PG_PASSWORD, database: process.env.BENCH_PG_USER };
const t0 = performance.now();
let value;
if (mode === 'pgwire') {
  // as status loads it: the bundled module, SCRAM included
  const { pgSimpleQuery } = await import(pathToFileURL(process.env.BENCH_PG_PGWIRE).href);
  value = (await pgSimpleQuery(target, 'SELECT 1'))[0]?.[0];
} else if (mode === 'pg' || mode === 'pg-chunk') {
  // as status would load it: on first use, from node_modules, or bundled into one chunk of its own
  const { default: pg } = await import(mode === 'pg' ? 'pg' : pathToFileURL(process.env.BENCH_PG_CHUNK).href);
  const client = new pg.Client({ ...target, connectionTimeoutMillis: 3000 });
  await client.connect();
  value = String((await client.query('SELECT 1 AS one')).rows[0]?.one);
  await client.end();
} else {
  console.error('usage: node bench/pgclient.mjs pgwire|pg|pg-chunk');
  process.exit(2);
}
if (value !== '1') {
  console.error(`${mode}: SELECT 1 returned ${value}`);
  process.exit(1);
}
console.log((performance.now() - t0).toFixed(1));
