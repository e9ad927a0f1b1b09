#!/usr/bin/env bash
# Runs the benchmark sweep behind docs/benchmarks.md and draws its figures.
# Run it on a quiet machine: it takes about 15 minutes (building the
# 1,000,000-key database once is most of it; it is kept in $TMPDIR/keyward-load).
#
#   bench/run.sh            # the sweep and the figures
#   bench/run.sh soak       # also the 10-minute soak
set -euo pipefail
# bench/ is a module of its own (github.com/keyward/keyward/bench): run from it.
cd "$(dirname "$0")"
mkdir -p out
for n in 1000 10000 100000 1000000; do
	go run ./load -keys "$n" -duration 10s -json "out/keys-$n.json"
done
go run ./load -keys 1000 -duration 10s -cache-ttl 1ns -json out/miss-1000.json
go run ./plot -in out -out ../docs/img
if [[ "${1:-}" == soak ]]; then
	go run ./load -keys 100000 -soak 10m -rate 2000 -json out/soak.json | tee out/soak.txt
fi
