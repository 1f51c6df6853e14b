#!/usr/bin/env bash
# Time `lifeops backup` against raw `docker exec pg_dump -Fc` on the same
# database in the same run, and print the ratio.
# Usage: bench/backup.sh STACK_FILE STATE_DIR [ROWS]   (default 8,000,000 rows ≈ 1 GB)
# The stack must be deployed. Only docker exec is used (no network traffic).
set -euo pipefail
STACK=${1:?stack file}; STATE=${2:?state dir}; ROWS=${3:-8000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROJECT=${PROJECT:-$(grep -m1 '^name:' "$STACK" | awk '{print $2}')-${ENV:-local}}
DB=$(docker ps -q --filter "label=com.docker.compose.project=${PROJECT}" --filter label=com.docker.compose.service=db | head -1)
[ -n "$DB" ] || { echo "no db container for $STACK" >&2; exit 2; }
echo "generating $ROWS rows in bench_big (container $DB)…"
docker exec "$DB" psql -X -q -U demo -d demo -c "DROP TABLE IF EXISTS bench_big; CREATE TABLE bench_big AS SELECT g AS id, md5(g::text) || md5((g*7)::text) AS payload, now() AS at FROM generate_series(1, $ROWS) g;"
docker exec "$DB" psql -X -At -U demo -d demo -c "SELECT 'database size: ' || pg_size_pretty(pg_database_size('demo'))"
OUT=$(mktemp -d)
t0=$(date +%s.%N)
docker exec "$DB" pg_dump -Fc -U demo -d demo > "$OUT/raw.dump"
t1=$(date +%s.%N)
node "$ROOT/bin/lifeops.js" -f "$STACK" --state-dir "$STATE" backup --tag bench >/dev/null 2>"$OUT/lifeops.log"
t2=$(date +%s.%N)
raw=$(echo "$t1 - $t0" | bc); lo=$(echo "$t2 - $t1" | bc)
echo "raw pg_dump -Fc: ${raw}s ($(du -h "$OUT/raw.dump" | cut -f1))"
echo "lifeops backup:  ${lo}s (whole backup: dump + counts + globals + redis + release)"
echo "ratio: $(echo "scale=2; $lo / $raw" | bc)"
grep -E '✔ postgres: pg_dump' "$OUT/lifeops.log" || true
rm -rf "$OUT"
docker exec "$DB" psql -X -q -U demo -d demo -c "DROP TABLE bench_big"
