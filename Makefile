# lifeops: two commands for a newcomer on a fresh Debian 12 machine (as root):
#   make demo   install everything, deploy the demo stack, print its status
#   make test   install everything, run the whole test suite (real engine)
SHELL := /bin/bash
LIFEOPS := node bin/lifeops.js -f stacks/demo.yaml

.PHONY: bench demo demo-tls demo-remote test test-unit test-engine test-v1 swarm swarm-test swarm-down seeds-test sweep setup setup-host deps build demo-down clean

setup:
	bash testbed/setup.sh

deps:
	@if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi

build: deps
	node scripts/build.mjs

# the demo's local environment copies its backups to the off-site host (testbed/offsite-host.sh)
demo: setup build
	bash testbed/offsite-host.sh --demo >/dev/null
	$(LIFEOPS) deploy local
	$(LIFEOPS) backup
	$(LIFEOPS) status

# the demo over HTTPS: its certificate obtained by the deploy from the test bed's ACME CA (pebble; docs/https.md)
PEBBLE_DEMO := PEBBLE_HTTP_PORT=8480 PEBBLE_DIR=/var/lib/lifeops-pebble/demo
demo-tls: setup build
	$(PEBBLE_DEMO) bash testbed/pebble.sh start >/dev/null
	$(LIFEOPS) deploy local-tls
	-$(LIFEOPS) status --env local-tls
	@echo "HTTPS:   https://app.demo.test:8443/  (app.demo.test is 127.0.0.1 here: add --resolve app.demo.test:8443:127.0.0.1 to curl)"
	@echo "CA root: /var/lib/lifeops-pebble/demo/roots.pem  (pebble's, new on each start; trust it for this demo only)"
	@echo "try:     curl --cacert /var/lib/lifeops-pebble/demo/roots.pem --resolve app.demo.test:8443:127.0.0.1 https://app.demo.test:8443/"

# the demo stack's `remote` environment, deployed over SSH to the test bed's namespace server (docs/remote.md)
demo-remote: setup build
	bash testbed/demo-remote.sh

demo-down: build
	$(LIFEOPS) down --volumes --yes

# unit, then the engine lanes (compose v2, then v1); ends with "N passed, N failed"
test: setup build
	bash scripts/test.sh

# no Docker engine needed (only the host validators: nginx, promtool, amtool, gunicorn, compose config)
test-unit: setup-host build
	LIFEOPS_TEST_LANES=unit bash scripts/test.sh

test-engine: setup build
	LIFEOPS_TEST_LANES=engine bash scripts/test.sh

test-v1: setup build
	LIFEOPS_TEST_LANES=engine-v1 bash scripts/test.sh

# a two-node Docker Swarm on this machine (two dockerd in network namespaces; idempotent)
swarm: setup
	bash testbed/swarm.sh

swarm-down:
	bash testbed/swarm.sh --down

# the swarm lane alone: the demo stack deployed, rolled under load, backed up and rolled back on the swarm
swarm-test: setup build
	LIFEOPS_TEST_LANES=swarm bash scripts/test.sh

# the three seed stacks (LifeOS, Command Center, AI-IA) end to end, alone (make test's engine lane runs them too)
seeds-test: setup build
	LIFEOPS_TEST_LANES=seeds bash scripts/test.sh

# every crash point of backup, deploy, rollback, rollback --to and down, and SIGINT/SIGTERM at every step (make test runs a rotating sample; rollback --to only here)
sweep: setup build
	LIFEOPS_TEST_LANES=sweep bash scripts/test.sh

setup-host:
	bash testbed/setup.sh --host-only

# every benchmark in bench/, one after the other, each against the raw tool in the same run
# (long: real data sizes, every compose lane; results on stdout). BENCH_SMOKE=1 make bench: the
# tiny-data smoke run of each (make test runs the cheap ones: test/engine/bench-smoke.test.ts).
# Deploys the demo first (as make demo): status.sh and startup.sh measure it.
bench: demo
	@failed=""; for b in bench/*.sh; do [ "$$b" = bench/lib.sh ] && continue; echo "== $$b"; bash "$$b" || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "bench failed:$$failed"; exit 1; fi

clean:
	rm -rf dist .tmp-tests .test-report*.json
