#!/usr/bin/env bash
# Stack file load time for 1, 2, 4, 8 MB hostile files (many services, long
# strings, deep anchors) against the raw YAML parser in the same run, and the
# size limit's answer to a 20 MB file. Output: bench/results/load-size.txt.
# BENCH_SMOKE=1: one 64 kB file per shape, printed only (make test's smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BENCH_SMOKE:-0}" = 1 ]; then SIZES=${SIZES:-0.0625} exec npx tsx bench/load-size.ts; fi
mkdir -p bench/results
npx tsx bench/load-size.ts | tee bench/results/load-size.txt
