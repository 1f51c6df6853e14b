#!/usr/bin/env bash
# Backup and restore of a ~1 GB database: lifeops against the raw tools, same
# data, same container, same disk, same run; prints medians and ratios.
#   raw backup:   docker exec DB pg_dump -Fc -U demo -d demo > file
#   raw restore:  docker exec -i DB pg_restore --clean --if-exists --single-transaction
#                   --exit-on-error --no-owner -U demo -d demo < file
#   lifeops:      `lifeops backup` and `lifeops rollback ID --yes`, whole command and
#                 the pg_dump / pg_restore step from the run log (<state>/logs/*.jsonl)
# The raw restore reads the very dump file that the lifeops rollback restores.
# Each pair runs RUNS times (default 3), alternating which side goes first;
# a VACUUM, a CHECKPOINT and a sync precede every timed command, on both sides.
#
# Usage: bench/backup.sh [RUNS]     env: ROWS (default 5,000,000 rows ≈ 1 GB);
#   LIFEOPS_BUNDLE=file.mjs to time another build (default: build now; the bundle and
#   the chunks/ beside it are copied aside so a rebuild of dist/ during the run does not
#   change what is timed); BENCH_SMOKE=1: 2,000 rows, one run, the dist/ already built
#   (make test's smoke run: it completes and prints its ratios, the figures mean nothing)
# Self-contained: a copy of stacks/demo.yaml (project bbk-local, port 18092,
# db memory limit raised to 1G) under .tmp-tests/bbk/, deployed here and
# removed with its volumes on exit. Only docker exec is used (no network).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BENCH_SMOKE:-0}" = 1 ]; then RUNS=${1:-1}; ROWS=${ROWS:-2000}; LIFEOPS_BUNDLE=${LIFEOPS_BUNDLE:-dist/lifeops.mjs}; else RUNS=${1:-3}; ROWS=${ROWS:-5000000}; fi
BATCHES=10; ACCOUNTS=$(( ROWS < 200000 ? ROWS : 200000 ))
DIR=.tmp-tests/bbk; PORT=18092; STATE=$DIR/state; OUT=$DIR/out
L="node $DIR/bin.mjs -f $DIR/stack.yaml --state-dir $STATE"
[ -f "$DIR/stack.yaml" ] && [ -f "$DIR/bin.mjs" ] && $L down --volumes --yes --skip-backup >/dev/null 2>&1 || true
rm -rf "$DIR"; mkdir -p "$DIR" "$OUT"
if [ -z "${LIFEOPS_BUNDLE:-}" ]; then node scripts/build.mjs; LIFEOPS_BUNDLE=dist/lifeops.mjs; fi
cp "$LIFEOPS_BUNDLE" "$DIR/lifeops.mjs"   # under the repo: the bundle finds templates/ by walking up
# the build splits lazily loaded code into chunks/ beside the bundle, which imports them relatively
if [ -d "$(dirname "$LIFEOPS_BUNDLE")/chunks" ]; then cp -r "$(dirname "$LIFEOPS_BUNDLE")/chunks" "$DIR/chunks"; fi
echo 'process.exitCode = await (await import("./lifeops.mjs")).run(process.argv.slice(2));' > "$DIR/bin.mjs"
DBLIMIT='resources: { limits: { memory: 256M, cpus: 1 }, reservations: { memory: 64M } }'
sed -e 's/^name: demo$/name: bbk/' -e "s/DEMO_HTTP_PORT: \"8080\"/DEMO_HTTP_PORT: \"$PORT\"/" -e 's#\.\./demo/#../../demo/#g' \
    -e "s/$DBLIMIT/resources: { limits: { memory: 1G, cpus: 1 }, reservations: { memory: 64M } }/" stacks/demo.yaml > "$DIR/stack.yaml"
# without the demo's off-site copies (env local): the raw pg_dump writes to this disk only
sed -i '/^    # Every backup is also copied off-site/,/demo_ed25519$/d' "$DIR/stack.yaml"
! grep -q 'offsite:' "$DIR/stack.yaml" || { echo "could not drop backup.offsite from $DIR/stack.yaml" >&2; exit 2; }
grep -q 'memory: 1G, cpus: 1 }, reservations: { memory: 64M } }' "$DIR/stack.yaml" || { echo "could not raise the db memory limit in $DIR/stack.yaml" >&2; exit 2; }
# The container's /dev/shm is Docker's default 64 MB: a parallel CREATE INDEX on the big table
# (the data set's, and pg_restore's) fails there ("could not resize shared memory segment").
sed -i 's/^postgres: { service: db, \(.*\) }$/postgres: { service: db, \1, tuning: { max_parallel_maintenance_workers: 0 } }/' "$DIR/stack.yaml"
grep -q 'max_parallel_maintenance_workers: 0' "$DIR/stack.yaml" || { echo "could not set max_parallel_maintenance_workers in $DIR/stack.yaml" >&2; exit 2; }
cp stacks/demo.local.env "$DIR/"
trap '$L down --volumes --yes --skip-backup >/dev/null 2>&1 || true' EXIT
$L deploy local > "$OUT/deploy.log" 2>&1 || { tail -20 "$OUT/deploy.log" >&2; exit 1; }

db() { docker ps -q --filter label=com.docker.compose.project=bbk-local --filter label=com.docker.compose.service=db | head -1; }
psql_() { docker exec "$(db)" psql -X -q -At -v ON_ERROR_STOP=1 -U demo -d demo "$@"; }
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.3f}')"; }
# After a restore the rows carry no hint bits yet: the first dump to read them would pay for
# setting them (clog look-ups, every page dirtied). VACUUM sets them before any timed command,
# so neither side inherits that cost from the order of the runs.
quiesce() { psql_ -c 'VACUUM' -c 'CHECKPOINT' >/dev/null; sync; }
newest_log() { ls -t "$STATE"/logs/*.jsonl | head -1; }

# ---------------------------------------------------------------- data
# Each statement is retried after a server restart: on this shared test bed the db
# container's postmaster has been seen restarting ("terminated by signal 13") under load.
ready() { for _ in $(seq 1 120); do psql_ -c 'SELECT 1' >/dev/null 2>&1 && return 0; sleep 1; done; return 1; }
sql_retry() { for try in 1 2 3 4 5; do psql_ "$@" && return 0; echo "  (statement failed, try $try; waiting for the server)" >&2; ready; done; return 1; }
echo "generating $ROWS rows in $BATCHES batches (bench_big: numbers, timestamps, md5 text; 2 indexes) + $ACCOUNTS in bench_accounts…"
t0=$(now)
ready
sql_retry -c "DROP TABLE IF EXISTS bench_big, bench_accounts" -c "CREATE TABLE bench_accounts (id int PRIMARY KEY, name text NOT NULL, email text, created timestamptz NOT NULL)" \
  -c "INSERT INTO bench_accounts SELECT g, 'account ' || md5(g::text), substr(md5(random()::text), 1, 12) || '@example.org', now() - random() * interval '900 days' FROM generate_series(1, $ACCOUNTS) g" \
  -c "CREATE TABLE bench_big (id bigint NOT NULL, account_id int NOT NULL, amount numeric(12,2) NOT NULL, score double precision, label text, payload text, at timestamptz NOT NULL)" 2>&1 | grep -v NOTICE || true
per=$(( (ROWS + BATCHES - 1) / BATCHES ))
for ((i = 0; i < BATCHES; i++)); do
  lo=$(( i * per + 1 )); hi=$(( (i + 1) * per < ROWS ? (i + 1) * per : ROWS ))
  sql_retry -c "DELETE FROM bench_big WHERE id BETWEEN $lo AND $hi" -c "INSERT INTO bench_big SELECT g, 1 + (random() * ($ACCOUNTS - 1))::int, round((random() * 100000)::numeric, 2), random(), md5(g::text), md5(random()::text) || md5(random()::text), timestamptz '2024-01-01' + g * interval '1 second' + random() * interval '1 hour' FROM generate_series($lo, $hi) g"
done
sql_retry -c "ALTER TABLE bench_big DROP CONSTRAINT IF EXISTS bench_big_pkey" -c "DROP INDEX IF EXISTS bench_big_account_at" -c "ALTER TABLE bench_big ADD PRIMARY KEY (id)" -c "CREATE INDEX bench_big_account_at ON bench_big (account_id, at)"
sql_retry -c "VACUUM ANALYZE bench_big" -c "VACUUM ANALYZE bench_accounts"
SIZE=$(psql_ -c "SELECT pg_database_size('demo')")
echo "generated in $(secs "$t0" "$(now)")s; database size: $(python3 -c "print(f'{$SIZE / 1e9:.2f} GB')") ($(psql_ -c "SELECT count(*) FROM bench_big") rows in bench_big)"
[ "${BENCH_SMOKE:-0}" = 1 ] || python3 -c "import sys; sys.exit(0 if $SIZE > 0.85e9 else 1)" || echo "warning: the database is smaller than ~1 GB; raise ROWS" >&2

# ---------------------------------------------------------------- timed commands
# Besides wall time, CPU time: the db container's (its cgroup's counter) and the host
# processes' (the command and its children, from /usr/bin/time). On a shared machine
# wall time swings with other load; CPU time shows the work each side does.
dbcpu() { # seconds of CPU used so far by the db container, or nothing if the cgroup is not found
  local id; id=$(docker ps -q --no-trunc --filter label=com.docker.compose.project=bbk-local --filter label=com.docker.compose.service=db | head -1)
  local f
  for f in /sys/fs/cgroup/cpuacct/docker/$id/cpuacct.usage /sys/fs/cgroup/cpu,cpuacct/docker/$id/cpuacct.usage; do
    [ -r "$f" ] && { python3 -c "print($(cat "$f") / 1e9)"; return; }
  done
  for f in /sys/fs/cgroup/system.slice/docker-$id.scope/cpu.stat /sys/fs/cgroup/docker/$id/cpu.stat; do
    [ -r "$f" ] && { awk '$1 == "usage_usec" { print $2 / 1e6 }' "$f"; return; }
  done
}
cpu_since() { [ -n "$1" ] && python3 -c "print(f'{$(dbcpu) - $1:.3f}')" || echo nan; } # $1 = dbcpu before
hostcpu() { awk '{ printf "%.3f", $1 + $2 }' "$OUT/time.txt"; }
timed() { /usr/bin/time -f '%U %S' -o "$OUT/time.txt" "$@"; }
raw_dump() { # sets d (seconds), dc (db cpu), dh (host cpu)
  quiesce; local t0 c0; c0=$(dbcpu); t0=$(now)
  timed sh -c "docker exec $(db) pg_dump -Fc -U demo -d demo > $OUT/raw.dump" || return 1
  d=$(secs "$t0" "$(now)"); dc=$(cpu_since "$c0"); dh=$(hostcpu)
}
lo_backup() { # sets b (whole command), s (pg_dump step), bc, bh, ID
  quiesce; local t0 t1 c0; c0=$(dbcpu); t0=$(now)
  timed $L backup --tag bench --json > "$OUT/backup.json" 2> "$OUT/backup.log" || { tail -5 "$OUT/backup.log" >&2; return 1; }
  t1=$(now); b=$(secs "$t0" "$t1"); bc=$(cpu_since "$c0"); bh=$(hostcpu)
  s=$(node bench/runlog.mjs "$(newest_log)" 'postgres: pg_dump') || return 1
  ID=$(python3 -c "import json; print(json.load(open('$OUT/backup.json'))['id'])")
}
raw_restore() { # $1 = dump file; sets x, xc, xh
  quiesce; local t0 c0; c0=$(dbcpu); t0=$(now)
  timed sh -c "docker exec -i $(db) pg_restore --clean --if-exists --single-transaction --exit-on-error --no-owner -U demo -d demo < $1" || return 1
  x=$(secs "$t0" "$(now)"); xc=$(cpu_since "$c0"); xh=$(hostcpu)
}
lo_rollback() { # $1 = backup id; sets w (whole command), p (pg_restore step), wc, wh
  quiesce; local t0 t1 c0; c0=$(dbcpu); t0=$(now)
  timed $L rollback "$1" --yes > /dev/null 2> "$OUT/rollback.log" || { tail -5 "$OUT/rollback.log" >&2; return 1; }
  t1=$(now); w=$(secs "$t0" "$t1"); wc=$(cpu_since "$c0"); wh=$(hostcpu)
  cp "$(newest_log)" "$OUT/rollback-last.jsonl"
  p=$(node bench/runlog.mjs "$OUT/rollback-last.jsonl" 'postgres: pg_restore|postgres: restore') || return 1
}
one_run() { # $1 = run number: the four timed commands, order alternating with the run number
  if (( $1 % 2 )); then raw_dump && lo_backup || return 1; else lo_backup && raw_dump || return 1; fi
  FILE=$STATE/backups/$ID/postgres/demo.dump
  if (( $1 % 2 )); then raw_restore "$FILE" && lo_rollback "$ID"; else lo_rollback "$ID" && raw_restore "$FILE"; fi
}

RAW_D=(); LO_B=(); LO_D=(); RAW_R=(); LO_RB=(); LO_R=(); CPU=(); REDONE=0
for ((r = 1; r <= RUNS; r++)); do
  # a run in which a command failed or the db server restarted (crash recovery) is redone, at most 3 times in all
  ok=0
  while (( REDONE <= 3 )); do
    before=$(psql_ -c "SELECT pg_postmaster_start_time()")
    if one_run "$r" && [ "$(psql_ -c "SELECT pg_postmaster_start_time()" 2>/dev/null)" = "$before" ]; then ok=1; break; fi
    REDONE=$((REDONE + 1)); echo "run $r: a command failed or the db server restarted; redoing the run" >&2
    ready
  done
  (( ok )) || { echo "giving up: too many failed runs" >&2; exit 1; }
  RAW_D+=("$d"); LO_B+=("$b"); LO_D+=("$s"); RAW_R+=("$x"); LO_RB+=("$w"); LO_R+=("$p"); CPU+=("$dc,$dh,$bc,$bh,$xc,$xh,$wc,$wh")
  echo "run $r ($( (( r % 2 )) && echo 'raw first' || echo 'lifeops first')): dump raw ${d}s / lifeops backup ${b}s (pg_dump step ${s}s); restore raw ${x}s / lifeops rollback ${w}s (pg_restore step ${p}s)"
  echo "       CPU s, db container / host: raw dump $dc / $dh, lifeops backup $bc / $bh; raw restore $xc / $xh, lifeops rollback $wc / $wh"
done
(( REDONE == 0 )) || echo "($REDONE run(s) redone after a failure or a db server restart)"
[ "$(psql_ -c 'SELECT count(*) FROM bench_big')" = "$ROWS" ] || { echo "bench_big does not hold $ROWS rows after the restores" >&2; exit 1; }

python3 - "$RUNS" "$SIZE" "$(stat -c %s "$OUT/raw.dump")" "$(stat -c %s "$FILE")" "${RAW_D[*]}" "${LO_B[*]}" "${LO_D[*]}" "${RAW_R[*]}" "${LO_RB[*]}" "${LO_R[*]}" "${CPU[*]}" <<'PY'
import sys, statistics as st
runs, size, raw_sz, lo_sz = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
raw_d, lo_b, lo_d, raw_r, lo_rb, lo_r = ([float(x) for x in a.split()] for a in sys.argv[5:11])
cpu = [[float(v) for v in run.split(',')] for run in sys.argv[11].split()]
print(f"\ndatabase {size/1e9:.2f} GB; pg_dump -Fc file: raw {raw_sz/1e6:.0f} MB, lifeops {lo_sz/1e6:.0f} MB; {runs} runs, medians (alternating order)")
print(f"{'wall time':36}{'raw':>9}{'lifeops':>10}{'ratio':>8}   per-run ratios")
# a raw figure can be 0 (a host process that used no CPU tick): no ratio then, not a crash
ratio = lambda lo, raw: f'{lo / raw:.2f}' if raw > 0 else 'n/a'
def row(name, raw, lo, unit='s'):
    rs = ' '.join(ratio(l, r) for r, l in zip(raw, lo))
    print(f"{name:36}{st.median(raw):8.2f}{unit}{st.median(lo):9.2f}{unit}{ratio(st.median(lo), st.median(raw)) + ('x' if st.median(raw) > 0 else ''):>8}   {rs}")
row('backup: whole `lifeops backup`', raw_d, lo_b)
row('backup: pg_dump step (run log)', raw_d, lo_d)
row('restore: restore step (run log)', raw_r, lo_r)
row('restore: whole `lifeops rollback`', raw_r, lo_rb)
# a rollback first takes a safety backup of the data it replaces (a full pg_dump):
# the raw tools doing the same work are a pg_dump then a pg_restore
row('rollback vs raw pg_dump + pg_restore', [d + r for d, r in zip(raw_d, raw_r)], lo_rb)
col = lambda i: [c[i] for c in cpu]
if all(c == c for c in col(0)):  # not nan: the db container's cgroup was found
    print(f"{'CPU seconds (whole commands)':36}{'raw':>9}{'lifeops':>10}{'ratio':>8}   per-run ratios")
    row('backup, db container', col(0), col(2))
    row('backup, host processes', col(1), col(3))
    row('rollback vs restore, db container', col(4), col(6))
    row('rollback vs restore, host processes', col(5), col(7))
PY
echo "steps of the last rollback (seconds):"
node bench/runlog.mjs "$OUT/rollback-last.jsonl" --all | sed 's/^/  /'
