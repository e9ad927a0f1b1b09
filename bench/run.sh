#!/usr/bin/env bash
# Runs the benchmark sweep behind docs/benchmarks.md and draws its figures.
# Run it on a quiet machine: it takes about 15 minutes (building the
# 1,000,000-key database once is most of it; it is kept in $TMPDIR/keyward-load).
#
#   bench/run.sh            # the sweep and the figures
#   bench/run.sh soak       # also the 10-minute soak
#
# With BENCH_POSTGRES_URL set (a postgres:// URL of a server where it may
# create databases), it also runs the 100,000- and 1,000,000-key points on
# PostgreSQL; with BENCH_REDIS_URL too, the 1,000,000-key point again with two
# instances sharing PostgreSQL and Redis. Their databases are kept on that
# server (keyward_load_<keys>) for the next run.
set -euo pipefail
# bench/ is a module of its own (github.com/keyward/keyward/bench): run from it.
cd "$(dirname "$0")"
mkdir -p out
for n in 1000 10000 100000 1000000; do
	go run ./load -keys "$n" -duration 10s -json "out/keys-$n.json"
done
go run ./load -keys 1000 -duration 10s -cache-ttl 1ns -json out/miss-1000.json
if [[ -n "${BENCH_POSTGRES_URL:-}" ]]; then
	for n in 100000 1000000; do
		go run ./load -keys "$n" -duration 10s -database-url "$BENCH_POSTGRES_URL" -json "out/pg-keys-$n.json"
	done
	if [[ -n "${BENCH_REDIS_URL:-}" ]]; then
		go run ./load -keys 1000000 -duration 10s -database-url "$BENCH_POSTGRES_URL" \
			-instances 2 -redis-url "$BENCH_REDIS_URL" -json out/pg-2x-keys-1000000.json
	fi
fi
go run ./plot -in out -out ../docs/img
if [[ "${1:-}" == soak ]]; then
	go run ./load -keys 100000 -soak 10m -rate 2000 -json out/soak.json | tee out/soak.txt
fi
