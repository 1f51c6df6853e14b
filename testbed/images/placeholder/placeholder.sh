#!/bin/sh
# Ignores its arguments (the real image's flags). Serves 200 on $PORT (default 8080)
# and on every port in $PORTS, until SIGTERM/SIGINT.
set -e
www=/tmp/placeholder-www
mkdir -p "$www/-" "$www/api"
echo "lifeops placeholder for ${PLACEHOLDER_FOR:-an image Debian does not provide}" > "$www/index.html"
for p in health ready -/healthy -/ready api/health; do echo ok > "$www/$p"; done
printf '# HELP placeholder_up Always 1.\n# TYPE placeholder_up gauge\nplaceholder_up 1\n' > "$www/metrics"
ports="$(printf '%s\n' "${PORT:-8080}" $PORTS | awk 'NF && !seen[$0]++')"
pids=""
for p in $ports; do
  busybox httpd -f -p "$p" -h "$www" & pids="$pids $!"
done
echo "placeholder: serving on ports $(echo $ports)" >&2
trap 'kill $pids 2>/dev/null; exit 0' TERM INT
wait
