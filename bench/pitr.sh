#!/usr/bin/env bash
# Point-in-time recovery, two figures on a copy of the demo with backup.pitr on
# (project bpitrv2-local, port 18464), same run:
#
# 1. Recovery point. A writer commits one row every 100 ms (each with its
#    clock_timestamp()), for WRITE_S seconds after a base backup; then
#    `kill -9` of the postmaster. The engine restarts the container (restart:
#    unless-stopped) and Postgres recovers from its crash. Then
#    `lifeops rollback --to <the instant of the kill>`. Printed: the newest
#    commit before the kill, the newest after the rollback, the seconds and
#    rows missing; and, from pg_stat_archiver read just before the kill, how
#    far the archive alone reached then (what a lost disk, pg_wal with it,
#    would have cost; bounded by archive_timeout).
# 2. Overhead. pgbench (TPC-B-like, scale 10, 4 clients, PGBENCH_S seconds,
#    in the database container) with archiving on against the same stack
#    redeployed with backup.pitr off; RUNS pairs (default 2), alternating
#    which goes first. Prints the median TPS of each and the ratio on/off.
#
# Usage: bench/pitr.sh   env: WRITE_S (default 40), PGBENCH_S (default 20), RUNS (2),
#   ARCHIVE_TIMEOUT (default 60s, the schema's default)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
WRITE_S=${WRITE_S:-40}; PGBENCH_S=${PGBENCH_S:-20}; RUNS=${RUNS:-2}; ARCHIVE_TIMEOUT=${ARCHIVE_TIMEOUT:-60s}
demo_copy bpitr v2 18464
$L down --volumes --yes --skip-backup >/dev/null 2>&1 || true
OUT=$DIR/out; mkdir -p "$OUT"
pitr() { # pitr on|off: the stack file's backup.pitr
  local en=$([ "$1" = on ] && echo true || echo false)
  sed -i '/^  pitr: /d' "$DIR/stack.yaml"
  sed -i "s/^backup:\$/backup:\n  pitr: { enabled: $en, archive_timeout: $ARCHIVE_TIMEOUT }/" "$DIR/stack.yaml"
  grep -q "pitr: { enabled: $en" "$DIR/stack.yaml" || { echo "could not set backup.pitr in $DIR/stack.yaml" >&2; exit 2; }
}
trap '$L down --volumes --yes --skip-backup >/dev/null 2>&1 || true' EXIT
db() { docker ps -q --filter label=com.docker.compose.project=$P --filter label=com.docker.compose.service=db | head -1; }
psql_() { docker exec "$(db)" psql -X -q -At -v ON_ERROR_STOP=1 -U demo -d demo "$@"; }
ready() { for _ in $(seq 1 180); do psql_ -c 'SELECT 1' >/dev/null 2>&1 && return 0; sleep 1; done; return 1; }
utc() { date -u '+%Y-%m-%d %H:%M:%S.%6N'; }

pitr on
$L deploy local > "$OUT/deploy.log" 2>&1 || { tail -20 "$OUT/deploy.log" >&2; exit 1; }
ready
psql_ -c 'CREATE TABLE ticks (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())'
$L backup > "$OUT/backup.log" 2>&1 || { tail -20 "$OUT/backup.log" >&2; exit 1; }

# ---------------------------------------------------------------- 1. recovery point
echo "recovery point: one commit every 100 ms for ${WRITE_S}s, then kill -9 of the postmaster (archive_timeout $ARCHIVE_TIMEOUT)"
n=$(( WRITE_S * 10 ))
( for _ in $(seq 1 "$n"); do echo "INSERT INTO ticks DEFAULT VALUES;"; sleep 0.1; done ) | docker exec -i "$(db)" psql -X -q -U demo -d demo >/dev/null 2>&1 &
writer=$!
sleep "$WRITE_S"
archiver=$(psql_ -c "SELECT coalesce(last_archived_wal, '') || ' ' || coalesce(to_char(last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), '') FROM pg_stat_archiver")
KILLED=$(utc)
docker exec "$(db)" sh -c 'kill -9 "$(head -1 "$PGDATA/postmaster.pid")"'
wait "$writer" || true
echo "  killed at $KILLED (UTC); the archive then held up to ${archiver:-nothing}"
sleep 3; ready   # the engine restarts the container; Postgres replays its own WAL
# rows stamped after the kill instant come from backends that outlived the postmaster for a moment
# (they notice its death only at their next check): those are after the target by definition
upto="WHERE at <= timestamptz '$KILLED+00'"
late=$(psql_ -c "SELECT count(*) FROM ticks WHERE at > timestamptz '$KILLED+00'")
before=$(psql_ -c "SELECT count(*) || ' ' || to_char(max(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM ticks $upto")
echo "  after the restart: $before (rows, newest commit at or before the kill); $late rows stamped after the kill instant"
t0=$(date +%s.%N)
$L rollback --to "$KILLED" > "$OUT/rollback.log" 2>&1 || { tail -20 "$OUT/rollback.log" >&2; exit 1; }
t1=$(date +%s.%N)
after=$(psql_ -c "SELECT count(*) || ' ' || to_char(max(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM ticks $upto")
[ "$(psql_ -c "SELECT count(*) FROM ticks WHERE at > timestamptz '$KILLED+00'")" = 0 ] || { echo "rows after the target survived the rollback" >&2; exit 1; }
echo "  after rollback --to $KILLED: $after (rows, newest commit)"
python3 - "$KILLED" "$before" "$after" "$archiver" "$t0" "$t1" <<'PY'
import sys
from datetime import datetime
f = lambda s: datetime.strptime(s, '%Y-%m-%d %H:%M:%S.%f')
killed = f(sys.argv[1]); nb, tb = sys.argv[2].split(' ', 1); na, ta = sys.argv[3].split(' ', 1)
missing_s = (f(tb) - f(ta)).total_seconds()
print(f"  recovery point: {missing_s:.2f} s of commits (made at or before the kill) missing, {int(nb) - int(na)} rows, after rollback --to the kill instant; rollback took {float(sys.argv[6]) - float(sys.argv[5]):.1f} s")
arch = sys.argv[4].split(' ', 1)
if len(arch) == 2 and arch[1]:
    print(f"  archive alone at the kill: last segment archived {(killed - f(arch[1])).total_seconds():.1f} s before it (a lost disk would lose the commits since; at most archive_timeout)")
PY

# ---------------------------------------------------------------- 2. overhead
echo "overhead: pgbench -c 4 -j 2 -T $PGBENCH_S (scale 10, in the db container), archiving on vs off, $RUNS pairs"
psql_ -c 'SET client_min_messages = warning' -c 'DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers' >/dev/null
docker exec "$(db)" pgbench -q -i -s 10 -U demo demo >/dev/null 2>&1
bench() { docker exec "$(db)" psql -X -q -U demo -d demo -c CHECKPOINT >/dev/null; docker exec "$(db)" pgbench -c 4 -j 2 -T "$PGBENCH_S" -U demo demo 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1; }
redeploy() { pitr "$1"; $L deploy local > "$OUT/deploy-$1.log" 2>&1 || { tail -20 "$OUT/deploy-$1.log" >&2; exit 1; }; ready; [ "$(psql_ -c 'SHOW archive_mode')" = "$1" ] || { echo "archive_mode is not $1 after the deploy" >&2; exit 1; }; }
ON=(); OFF=()
for r in $(seq 1 "$RUNS"); do
  order=$([ $((r % 2)) = 1 ] && echo "on off" || echo "off on")
  for side in $order; do
    redeploy "$side"
    tps=$(bench)
    echo "  run $r archiving $side: $tps tps"
    if [ "$side" = on ]; then ON+=("$tps"); else OFF+=("$tps"); fi
  done
done
python3 - "${ON[*]}" "${OFF[*]}" <<'PY'
import sys, statistics as st
on = [float(x) for x in sys.argv[1].split()]; off = [float(x) for x in sys.argv[2].split()]
print(f"  median tps: archiving on {st.median(on):.0f}, off {st.median(off):.0f}; ratio on/off {st.median(on) / st.median(off):.2f}x (per run: {', '.join(f'{a / b:.2f}' for a, b in zip(on, off))})")
PY
