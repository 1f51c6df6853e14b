#!/usr/bin/env bash
# What release-aware pruning frees after ten deploys, on a copy of the demo
# whose app image carries PAD_MB of its own per version (a layer of random
# bytes after the version's ENV, as a real app's new code is its own layer;
# the demo's versions alone differ by a few KB and share every other layer).
# Ten deploys with pruning off, then `lifeops prune`: the images removed, the
# sizes the engine lists for them, and what the Docker data root really
# gained (statfs before and after). The same prune's time against `docker
# image rm` of the same tags would need the images twice; instead the removal
# step's own time is printed beside the whole command's.
#   bench/prune.sh            (PAD_MB=40, ten deploys)
#   BENCH_SMOKE=1: PAD_MB=1, three deploys (keep_releases 1), the dist/ already built
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SMOKE=${BENCH_SMOKE:-0}
[ "$SMOKE" = 1 ] || node scripts/build.mjs
PAD_MB=${PAD_MB:-$([ "$SMOKE" = 1 ] && echo 1 || echo 40)}
DEPLOYS=${DEPLOYS:-$([ "$SMOKE" = 1 ] && echo 3 || echo 10)}
KEEP=$([ "$SMOKE" = 1 ] && echo 1 || echo 5)
demo_copy prb v2 18093
# the app with a layer of its own per version
rm -rf "$DIR/app"; cp -r demo/app "$DIR/app"
python3 - "$DIR/app/Dockerfile" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace('ENV APP_VERSION=${APP_VERSION}\n', 'ENV APP_VERSION=${APP_VERSION}\nARG PAD_MB=0\nRUN head -c "${PAD_MB}M" /dev/urandom > /app/pad\n', 1)
open(p, 'w').write(s)
EOF
grep -q 'PAD_MB' "$DIR/app/Dockerfile" || { echo "could not add the pad layer to $DIR/app/Dockerfile" >&2; exit 2; }
python3 - "$DIR/stack.yaml" "$PAD_MB" "$KEEP" <<'EOF'
import sys
p, pad, keep = sys.argv[1], sys.argv[2], sys.argv[3]
s = open(p).read()
old = 'build: { context: ../../demo/app, args: { APP_VERSION: "${VERSION}" } }'
assert old in s, 'the demo app build line moved'
s = s.replace(old, 'build: { context: app, args: { APP_VERSION: "${VERSION}", PAD_MB: "%s" } }' % pad, 1)
# pruning asked for at the end, not after each deploy; the releases kept: keep_releases
s = s.replace('\ndeploy:\n', '\ndeploy:\n  prune: false\n  keep_releases: %s\n' % keep, 1) if '\ndeploy:\n' in s else s + '\ndeploy:\n  prune: false\n  keep_releases: %s\n' % keep
open(p, 'w').write(s)
EOF
trap '$L down --volumes --yes --skip-backup >/dev/null 2>&1 || true; docker image rm $(docker images -q --filter label=lifeops.stack=prbv2 | sort -u) >/dev/null 2>&1 || true' EXIT
root=$(docker info -f '{{.DockerRootDir}}')
free() { df -B1 --output=avail "$root" | tail -1 | tr -d ' '; }
for v in $(seq 1 "$DEPLOYS"); do
  $L deploy local --version "p$v" --skip-backup --build > "$DIR/deploy-p$v.log" 2>&1 || { echo "the deploy of p$v failed, see $DIR/deploy-p$v.log"; exit 1; }
done
images_before=$(docker images -q --filter label=lifeops.stack=prbv2 | sort -u | wc -l)
f0=$(free)
s=$(date +%s%N)
$L prune --json > "$DIR/prune.json" 2> "$DIR/prune.log"
e=$(date +%s%N)
sync; f1=$(free)
python3 - "$DIR/prune.json" "$f0" "$f1" "$(( (e - s) / 1000000 ))" "$images_before" "$DEPLOYS" "$PAD_MB" "$KEEP" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
f0, f1, ms, before, n, pad, keep = (int(x) for x in sys.argv[2:])
mb = lambda b: b / 1048576
print(f"after {n} deploys (app layer {pad} MB per version, keep_releases {keep}): {before} app images; prune removed {len(p['removed_images'])} "
      f"({', '.join(sorted(p['removed_images']))}), listed at {mb(p['bytes']):.0f} MB (shared layers counted per image)")
print(f"data root free space: {mb(f1 - f0):+.0f} MB (statfs before/after); lifeops prune {ms} ms")
EOF
uptime
