# Shared by the bench scripts: a copy of the demo for one compose lane.
# demo_copy NAME LANE PORT sets DIR (its folder), L (the lifeops command for
# it), P (its compose project), COMPOSE (the raw tool of that lane) and
# exports LIFEOPS_COMPOSE so lifeops uses the same implementation.
demo_copy() {
  local name=$1 lane=$2 port=$3
  DIR=.tmp-tests/$name-$lane; mkdir -p "$DIR"
  sed -e "s/^name: demo$/name: $name$lane/" -e "s/DEMO_HTTP_PORT: \"8080\"/DEMO_HTTP_PORT: \"$port\"/" -e 's#\.\./demo/#../../demo/#g' stacks/demo.yaml > "$DIR/stack.yaml"
  # without the demo's off-site copies (env local): a copy's backups stay on this disk, as the raw tools' do
  sed -i '/^    # Every backup is also copied off-site/,/demo_ed25519$/d' "$DIR/stack.yaml"
  ! grep -q 'offsite:' "$DIR/stack.yaml" || { echo "could not drop backup.offsite from $DIR/stack.yaml" >&2; exit 2; }
  cp stacks/demo.local.env "$DIR/"
  export LIFEOPS_COMPOSE=$lane
  COMPOSE=$([ "$lane" = v2 ] && echo "docker compose" || echo "docker-compose --compatibility")
  L="node bin/lifeops.js -f $DIR/stack.yaml --state-dir $DIR/state"
  P=$name$lane-local
}
