#!/usr/bin/env bash
# Compares the trivial handler bare and behind httpauth under wrk on loopback,
# in ABBA rounds (bare, guarded, guarded, bare) so that drift during a round
# (CPU frequency, other work on the machine, the order of runs) weighs on both
# routes alike. Prints each round's ratio, guarded / bare.
#
#   bench/middleware/wrk.sh [rounds] [seconds per run]     # defaults: 5, 10
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
secs=${2:-10}
addr=127.0.0.1:18094
bin=$(mktemp -d)/mwbench
go -C bench build -o "$bin" ./middleware   # bench/ is a module of its own
"$bin" -addr "$addr" > "$bin.key" &
pid=$!
trap 'kill $pid' EXIT
for _ in $(seq 50); do
	[[ -s "$bin.key" ]] && curl -s -o /dev/null "http://$addr/bare" && break
	sleep 0.1
done
key=$(cat "$bin.key")
run() {
	wrk -t2 -c64 -d"${secs}s" -H "Authorization: Bearer $key" "http://$addr/$1" | awk '/Requests\/sec/{print $2}'
}
for i in $(seq "$rounds"); do
	b1=$(run bare); g1=$(run guarded); g2=$(run guarded); b2=$(run bare)
	echo "round $i: bare $b1 $b2  guarded $g1 $g2  guarded/bare $(echo "scale=3; ($g1+$g2)/($b1+$b2)" | bc)"
done
