#!/usr/bin/env bash
# status's Postgres check, by client: in fresh node processes, "load the client,
# connect (SCRAM-SHA-256), SELECT 1, close" with lifeops' own protocol client
# (src/clients/pgwire.ts, bundled as the build bundles it) and with the pg
# package imported on first use, both from node_modules (as datastores.ts
# loads it for other flows) and bundled into one chunk of its own, against raw
# `psql -c 'select 1'` in the same run. Prints medians of N runs: whole
# process (wall) and inside the process (load+connect+query+close), and the
# ratios. Starts its own Postgres (lifeops/postgres:15, from testbed/setup.sh)
# published on 127.0.0.1 only; removes it at the end.
#   BENCH_SMOKE=1: one run (make test's smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=${BENCH_SMOKE:-0}
N=${N:-$([ "$SMOKE" = 1 ] && echo 1 || echo 21)}
OUT=.tmp-tests/pgclient-bench; mkdir -p "$OUT"
# pgwire alone, compiled as scripts/build.mjs compiles it (dist/ bundles it into a shared chunk with no export of its own)
node -e "require('esbuild').buildSync({ entryPoints: ['src/clients/pgwire.ts'], outfile: '$OUT/pgwire.mjs', bundle: true, platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning' })"
# pg as one lazily imported chunk (what moving it into the build's chunks would give): one file, no module resolution
echo "import pg from 'pg'; export default pg;" > "$OUT/pg-entry.mjs"
node -e "require('esbuild').buildSync({ entryPoints: ['$OUT/pg-entry.mjs'], outfile: '$OUT/pg-chunk.mjs', bundle: true, platform: 'node', target: 'node20', format: 'esm', external: ['pg-native'],
  banner: { js: \"import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);\" }, logLevel: 'warning' })"
NAME=lifeops-bench-pgclient-$$
export BENCH_PG_USER=bench BENCH_PG_PASSWORD=bench-pw-not-secret-$$ BENCH_PG_PGWIRE=$OUT/pgwire.mjs BENCH_PG_CHUNK=$OUT/pg-chunk.mjs
trap 'docker rm -f -v "$NAME" >/dev/null 2>&1 || true' EXIT
POSTGRES_PASSWORD=$BENCH_PG_PASSWORD docker run -d --name "$NAME" --label lifeops.bench=pgclient -p 127.0.0.1::5432 \
  -e POSTGRES_USER=bench -e POSTGRES_PASSWORD -e POSTGRES_DB=bench lifeops/postgres:15 >/dev/null
export BENCH_PG_PORT=$(docker port "$NAME" 5432/tcp | head -1 | sed 's/.*://')
export PGPASSWORD=$BENCH_PG_PASSWORD
for i in $(seq 300); do
  [ "$(psql -h 127.0.0.1 -p "$BENCH_PG_PORT" -U bench -d bench -tAc 'select 1' 2>/dev/null)" = 1 ] && break
  [ "$i" = 300 ] && { echo "Postgres did not answer on 127.0.0.1:$BENCH_PG_PORT" >&2; exit 1; }
  sleep 0.2
done
hba=$(docker exec "$NAME" sh -c 'grep "^host" "$PGDATA/pg_hba.conf" | tail -1')
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# prints "wall-ms inner-ms" of one run; fails the bench if the run fails
timed() { local s e inner; s=$(date +%s%N); inner=$("$@"); e=$(date +%s%N); echo "$(( (e - s) / 1000000 )) ${inner:-0}"; }
raw=(); nw=(); ww=(); iw=(); wp=(); ip=(); wc=(); ic=()
for c in pgwire pg pg-chunk; do node bench/pgclient.mjs $c >/dev/null; done   # warm the file cache once
for _ in $(seq "$N"); do
  nw+=("$(timed node -e 0 | cut -d' ' -f1)")
  raw+=("$(timed psql -h 127.0.0.1 -p "$BENCH_PG_PORT" -U bench -d bench -tAc 'select 1' | cut -d' ' -f1)")
  read -r w i < <(timed node bench/pgclient.mjs pgwire); ww+=("$w"); iw+=("$i")
  read -r w i < <(timed node bench/pgclient.mjs pg); wp+=("$w"); ip+=("$i")
  read -r w i < <(timed node bench/pgclient.mjs pg-chunk); wc+=("$w"); ic+=("$i")
done
m() { printf '%s\n' "$@" | median; }
mraw=$(m "${raw[@]}"); mnode=$(m "${nw[@]}"); mww=$(m "${ww[@]}"); miw=$(m "${iw[@]}"); mwp=$(m "${wp[@]}"); mip=$(m "${ip[@]}"); mwc=$(m "${wc[@]}"); mic=$(m "${ic[@]}")
echo "median of $N (Postgres 15, $hba): psql -c 'select 1' ${mraw} ms, node -e 0 ${mnode} ms"
echo "  pgwire: process ${mww} ms, in-process load+connect+SELECT 1+close ${miw} ms"
echo "  pg:     process ${mwp} ms, in-process load+connect+SELECT 1+close ${mip} ms (from node_modules)"
echo "  pg:     process ${mwc} ms, in-process load+connect+SELECT 1+close ${mic} ms (one bundled chunk)"
python3 -c "print(f'ratios: pgwire {$mww/$mraw:.2f}x psql, pg {$mwp/$mraw:.2f}x psql, pg chunk {$mwc/$mraw:.2f}x psql')"
python3 -c "print(f'pg over pgwire: process {$mwp/$mww:.2f}x, in-process {$mip/$miw:.2f}x (+{$mip-$miw:.1f} ms); pg chunk over pgwire: process {$mwc/$mww:.2f}x, in-process {$mic/$miw:.2f}x (+{$mic-$miw:.1f} ms)')"
uptime
