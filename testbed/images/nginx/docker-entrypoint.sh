#!/bin/sh
# Follows the official nginx image: /docker-entrypoint.d/*.sh hooks and
# /etc/nginx/templates/*.template -> /etc/nginx/conf.d/* via envsubst (defined vars only).
set -e
if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
  [ "$1" = "nginx-debug" ] && shift && set -- nginx "$@"
  for f in /docker-entrypoint.d/*.sh; do
    [ -e "$f" ] || continue
    if [ -x "$f" ]; then echo "$0: launching $f" >&2; "$f"; fi
  done
  tdir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
  suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
  odir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
  if [ -d "$tdir" ]; then
    defined="$(printf '${%s} ' $(awk 'END { for (n in ENVIRON) print n }' </dev/null))"
    find "$tdir" -follow -type f -name "*$suffix" -print | while read -r t; do
      rel="${t#"$tdir/"}"; out="$odir/${rel%"$suffix"}"
      mkdir -p "$(dirname "$out")"
      if [ -w "$(dirname "$out")" ]; then envsubst "$defined" < "$t" > "$out"; echo "$0: rendered $t -> $out" >&2
      else echo "$0: $(dirname "$out") not writable, skipping $t" >&2; fi
    done
  fi
fi
exec "$@"
