#!/usr/bin/env bash
# `make demo-remote`: start the namespace server (testbed/remote-host.sh), make
# an operator key for this machine (once), pin the server's host key, then
# deploy the demo stack's `remote` environment to it from here and show its
# status. This side uses no local engine: everything goes over SSH.
set -euo pipefail
cd "$(dirname "$0")/.."
OP=/var/lib/lifeops-remote/operator
mkdir -p "$OP"; chmod 700 "$OP"
[ -f "$OP/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C lifeops-demo-operator -f "$OP/id_ed25519"
facts=$(bash testbed/remote-host.sh --authorize "$OP/id_ed25519.pub")
addr=$(sed -n 's/^ADDR=//p' <<<"$facts")
export LIFEOPS_SSH_IDENTITY=$OP/id_ed25519 LIFEOPS_SSH_KNOWN_HOSTS=$OP/known_hosts
lifeops() { node bin/lifeops.js -f stacks/demo.yaml "$@"; }
# shows the fingerprint; pins it once (a changed key is refused, never replaced)
lifeops hosts trust remote --yes
lifeops deploy remote
lifeops status --env remote || true
port=$(sed -n 's/^ *DEMO_HTTP_PORT: "\([0-9]*\)"/\1/p' stacks/demo.yaml)
echo "server: ssh://root@$addr (its own dockerd; releases in /srv/lifeops/demo-remote/ on the server)"
echo "front:  http://127.0.0.1:$port/ on the server; from here: ssh -i $OP/id_ed25519 -o UserKnownHostsFile=$OP/known_hosts -L $port:127.0.0.1:$port root@$addr, or testbed/remote-host.sh --in curl -s http://127.0.0.1:$port/"
