#!/usr/bin/env bash
# Recovery time: a large database brought back from its off-site copy onto a
# fresh engine (`lifeops restore --from-offsite latest`), against a plain
# pg_restore of the same dump into a new, empty Postgres on that same engine.
#
#   source:  a copy of stacks/demo.yaml (project bdr-local, port 18094, db memory
#            1G) on the main engine, ROWS rows generated, `lifeops backup` copied
#            over sftp to the off-site host (testbed/offsite-host.sh), then taken down
#   lifeops: on the crash bed's engine (testbed/engine-bed.sh: never saw the project),
#            a new folder with the stack file, env file and secrets, an empty state
#            dir: `restore --from-offsite latest` (fetch, checksums, data services,
#            restore, row counts, deploy, health); the whole command and its steps
#   raw:     on the same engine, `docker run` of the same Postgres image, then
#            `docker exec -i pg pg_restore --single-transaction --exit-on-error
#            --no-owner -U demo -d demo < <the dump lifeops restored>`
# Prints each time and the ratios (whole command / raw pg_restore; the
# Postgres restore step alone / raw pg_restore).
#
# Usage: bench/dr.sh            env: ROWS (default 5,000,000 rows ≈ 1 GB)
# Not at the same time as test/engine/crash-engine.test.ts or disaster.test.ts (the same bed).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-5000000}; BATCHES=10; ACCOUNTS=$(( ROWS < 200000 ? ROWS : 200000 ))
DIR=.tmp-tests/bdr; NEW=.tmp-tests/bdr-newhost; PORT=18094; OUT=$DIR/out; PROJECT=bdr-local
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.3f}')"; }
node scripts/build.mjs >/dev/null
BED=$(bash testbed/engine-bed.sh); BED_HOST=$(sed -n 's/^DOCKER_HOST=//p' <<<"$BED")
OFFSITE=$(bash testbed/offsite-host.sh --demo)
KH=$(sed -n 's/^KNOWN_HOSTS=//p' <<<"$OFFSITE"); DATA=$(sed -n 's/^DATA=//p' <<<"$OFFSITE")
L="node bin/lifeops.js -f $DIR/stack.yaml --state-dir $DIR/state"
LN="node bin/lifeops.js -f $NEW/stack.yaml --state-dir $NEW/state"
cleanup() {
  $L down --volumes --yes --skip-backup >/dev/null 2>&1 || true
  DOCKER_HOST=$BED_HOST $LN down --volumes --yes --skip-backup >/dev/null 2>&1 || true
  docker -H "$BED_HOST" rm -f bdr-raw >/dev/null 2>&1 || true
  rm -rf "$DATA/bench-dr"
}
[ -f "$DIR/stack.yaml" ] && cleanup
rm -rf "$DIR" "$NEW"; mkdir -p "$DIR/secrets" "$OUT" "$NEW"
trap cleanup EXIT

DBLIMIT='resources: { limits: { memory: 256M, cpus: 1 }, reservations: { memory: 64M } }'
sed -e 's/^name: demo$/name: bdr/' -e "s/DEMO_HTTP_PORT: \"8080\"/DEMO_HTTP_PORT: \"$PORT\"/" -e 's#\.\./demo/#../../demo/#g' \
    -e "s/$DBLIMIT/resources: { limits: { memory: 1G, cpus: 1 }, reservations: { memory: 64M } }/" \
    -e 's#/srv/lifeops-offsite/demo"#/srv/lifeops-offsite/bench-dr"#' \
    -e 's#ports: \["127.0.0.1:\${DEMO_HTTP_PORT}:80"\]#ports: ["${FRONT_BIND:-127.0.0.1}:${DEMO_HTTP_PORT}:80"]#' \
    -e '/ports: \["127.0.0.1::5432"\]/d' -e '/ports: \["127.0.0.1::6379"\]/d' stacks/demo.yaml > "$DIR/stack.yaml"
sed -i 's/^postgres: { service: db, \(.*\) }$/postgres: { service: db, \1, tuning: { max_parallel_maintenance_workers: 0 } }/' "$DIR/stack.yaml"
sed -i 's/^  smoke_test: .*//; s/^deploy:$/deploy:\n  smoke_test: false/' "$DIR/stack.yaml"
for want in 'memory: 1G, cpus: 1 }' 'max_parallel_maintenance_workers: 0' 'lifeops-offsite/bench-dr' 'FRONT_BIND' 'smoke_test: false'; do
  grep -q "$want" "$DIR/stack.yaml" || { echo "could not edit $DIR/stack.yaml ($want)" >&2; exit 2; }
done
! grep -q '127.0.0.1::5432' "$DIR/stack.yaml" || { echo "db still publishes a port" >&2; exit 2; }
cp stacks/demo.local.env "$DIR/"

$L deploy local > "$OUT/deploy.log" 2>&1 || { tail -20 "$OUT/deploy.log" >&2; exit 1; }
db() { docker ps -q --filter label=com.docker.compose.project=$PROJECT --filter label=com.docker.compose.service=db | head -1; }
psql_() { docker exec "$(db)" psql -X -q -At -v ON_ERROR_STOP=1 -U demo -d demo "$@"; }
echo "generating $ROWS rows in $BATCHES batches (bench_big, 2 indexes) + $ACCOUNTS in bench_accounts…"
t0=$(now)
psql_ -c "CREATE TABLE bench_accounts (id int PRIMARY KEY, name text NOT NULL, email text, created timestamptz NOT NULL)" \
  -c "INSERT INTO bench_accounts SELECT g, 'account ' || md5(g::text), substr(md5(random()::text), 1, 12) || '@example.org', now() - random() * interval '900 days' FROM generate_series(1, $ACCOUNTS) g" \
  -c "CREATE TABLE bench_big (id bigint NOT NULL, account_id int NOT NULL, amount numeric(12,2) NOT NULL, score double precision, label text, payload text, at timestamptz NOT NULL)"
per=$(( (ROWS + BATCHES - 1) / BATCHES ))
for ((i = 0; i < BATCHES; i++)); do
  lo=$(( i * per + 1 )); hi=$(( (i + 1) * per < ROWS ? (i + 1) * per : ROWS ))
  psql_ -c "INSERT INTO bench_big SELECT g, 1 + (random() * ($ACCOUNTS - 1))::int, round((random() * 100000)::numeric, 2), random(), md5(g::text), md5(random()::text) || md5(random()::text), timestamptz '2024-01-01' + g * interval '1 second' + random() * interval '1 hour' FROM generate_series($lo, $hi) g"
done
psql_ -c "ALTER TABLE bench_big ADD PRIMARY KEY (id)" -c "CREATE INDEX bench_big_account_at ON bench_big (account_id, at)" -c "VACUUM ANALYZE"
SIZE=$(psql_ -c "SELECT pg_database_size('demo')")
echo "generated in $(secs "$t0" "$(now)")s; database size: $(python3 -c "print(f'{$SIZE / 1e9:.2f} GB')")"

t0=$(now)
$L backup --json > "$OUT/backup.json" 2> "$OUT/backup.log" || { tail -5 "$OUT/backup.log" >&2; exit 1; }
echo "backup and off-site copy: $(secs "$t0" "$(now)")s"
python3 -c "import json,sys; o=json.load(open('$OUT/backup.json'))['offsite'][0]; sys.exit(0 if not o.get('failed') and o['copied'] else 1)" || { echo "the backup was not copied off-site" >&2; tail -5 "$OUT/backup.log" >&2; exit 1; }
$L down --yes > /dev/null 2>&1   # the source host is gone

# the new host: only the stack file, its env file and the off-site credentials
cp "$DIR/stack.yaml" "$DIR/demo.local.env" "$NEW/"
t0=$(now)
DOCKER_HOST=$BED_HOST FRONT_BIND=0.0.0.0 $LN restore --from-offsite latest > /dev/null 2> "$OUT/restore.log" || { tail -20 "$OUT/restore.log" >&2; exit 1; }
WHOLE=$(secs "$t0" "$(now)")
LOG=$(ls -t "$NEW"/state/logs/*.jsonl | head -1)
FETCH=$(node bench/runlog.mjs "$LOG" 'off-site box: restic restore')
PGR=$(node bench/runlog.mjs "$LOG" 'postgres: restore')
ID=$(python3 -c "import json; print(json.load(open('$OUT/backup.json'))['id'])")
DUMP=$NEW/state/backups/$ID/postgres/demo.dump
COUNT=$(docker -H "$BED_HOST" exec "$(docker -H "$BED_HOST" ps -q --filter label=com.docker.compose.project=$PROJECT --filter label=com.docker.compose.service=db | head -1)" psql -X -At -U demo -d demo -c 'SELECT count(*) FROM bench_big')
[ "$COUNT" = "$ROWS" ] || { echo "bench_big holds $COUNT rows after the recovery, not $ROWS" >&2; exit 1; }

# raw: a new Postgres of the same image on the same engine, then pg_restore of the same dump
docker -H "$BED_HOST" run -d --name bdr-raw --memory 1g -e POSTGRES_USER=demo -e POSTGRES_PASSWORD=bench -e POSTGRES_DB=demo lifeops/postgres:15 -c max_parallel_maintenance_workers=0 >/dev/null
for _ in $(seq 1 300); do docker -H "$BED_HOST" exec bdr-raw pg_isready -q -h 127.0.0.1 -U demo 2>/dev/null && break; sleep 0.5; done
t0=$(now)
docker -H "$BED_HOST" exec -i bdr-raw pg_restore --single-transaction --exit-on-error --no-owner -U demo -d demo < "$DUMP"
RAW=$(secs "$t0" "$(now)")
[ "$(docker -H "$BED_HOST" exec bdr-raw psql -X -At -U demo -d demo -c 'SELECT count(*) FROM bench_big')" = "$ROWS" ] || { echo "the raw restore does not hold $ROWS rows" >&2; exit 1; }

python3 - "$SIZE" "$(stat -c %s "$DUMP")" "$WHOLE" "$FETCH" "$PGR" "$RAW" <<'PY'
import sys
size, dump, whole, fetch, pgr, raw = int(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:])
print(f"\ndatabase {size/1e9:.2f} GB, pg_dump -Fc {dump/1e6:.0f} MB; one run on the crash bed's fresh engine")
print(f"raw pg_restore into a new Postgres:                 {raw:8.2f}s")
print(f"lifeops restore --from-offsite latest (whole):      {whole:8.2f}s   ratio {whole/raw:.2f}x")
print(f"  of which restic restore of the copy:              {fetch:8.2f}s")
print(f"  of which the Postgres restore step:               {pgr:8.2f}s   ratio {pgr/raw:.2f}x")
PY
echo "steps of the recovery (seconds):"
node bench/runlog.mjs "$LOG" --all | sed 's/^/  /'
