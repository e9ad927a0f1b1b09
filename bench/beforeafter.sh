#!/usr/bin/env bash
# Compares the hot path of two builds in interleaved rounds (before, after,
# after, before), so that drift on a shared machine weighs on both alike:
# the cache hit (BenchmarkVerifyCacheHit), the middleware against a bare
# handler over the whole net/http server side (BenchmarkServer{Bare,Guarded}),
# and this tree's owners-and-roles reference key and scope query. Prints one
# line per run: round, build, the benchmark line.
#
#   bench/beforeafter.sh REV [rounds]     # e.g. bench/beforeafter.sh 45d41da 5
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bench/beforeafter.sh REV [rounds]}
rounds=${2:-5}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/before" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/before" "$rev"
for v in before after; do
	dir=.
	[[ $v == before ]] && dir=$tmp/before
	go -C "$dir" test -c -o "$tmp/cache-$v.test" ./cache
	go -C "$dir" test -c -o "$tmp/httpauth-$v.test" ./httpauth
done
go test -c -o "$tmp/root-after.test" .
run() { "$@" -test.run '^$' -test.benchmem 2>&1 | grep '^Benchmark'; }
for i in $(seq 1 "$rounds"); do
	for v in before after after before; do
		run "$tmp/cache-$v.test" -test.bench '^BenchmarkVerifyCacheHit$' -test.benchtime 200000x | sed "s/^/$i $v /"
		run "$tmp/httpauth-$v.test" -test.bench '^BenchmarkServer(Bare|Guarded)$' -test.benchtime 50000x | sed "s/^/$i $v /"
	done
	run "$tmp/cache-after.test" -test.bench '^BenchmarkVerifyCacheHitOwner(RolesLimits|Credits)$' -test.benchtime 200000x | sed "s/^/$i after /"
	run "$tmp/root-after.test" -test.bench '^BenchmarkScopeQueryEval5$' -test.benchtime 1000000x | sed "s/^/$i after /"
done
