# lifeops: two commands for a newcomer on a fresh Debian 12 machine (as root):
#   make demo   install everything, deploy the demo stack, print its status
#   make test   install everything, run the whole test suite (real engine)
SHELL := /bin/bash
LIFEOPS := node bin/lifeops.js -f stacks/demo.yaml

.PHONY: demo test setup deps build demo-down clean

setup:
	bash testbed/setup.sh

deps:
	@if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi

build: deps
	node scripts/build.mjs

demo: setup build
	$(LIFEOPS) deploy local
	$(LIFEOPS) status

demo-down: build
	$(LIFEOPS) down --volumes --yes

test: setup build
	bash scripts/test.sh

clean:
	rm -rf dist .tmp-tests .test-report.json
