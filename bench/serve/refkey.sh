#!/usr/bin/env bash
# Loads keyward serve's /healthz and /v1/auth?scopes=invoices:read with the
# reference key of docs/benchmarks.md ("Owners, roles and several limits":
# role reader, key limits burst and hourly, owner with limits daily and
# burst, all too large to refuse), once with an owner without credits and
# once with an owner with credits (a store write per request), under wrk on
# loopback, in rounds of healthz, ref, credits, credits, ref, healthz. Prints
# each round's requests per second and the ratios to /healthz, and the CPU time
# the server spent per request on each route (from /proc) and its ratios.
#
#   bench/serve/refkey.sh [rounds] [seconds per run]   # defaults: 3 rounds of 5 s
#
# /healthz gets the reference key's Authorization header too, so that every
# run sends the same request bytes and a ratio is what the server does with
# them; SAME_REQUEST=0 sends /healthz no header, as runs before this choice
# did (docs/benchmarks.md has both).
#
# KEYWARD_BIN runs that binary instead of building ./cmd/keyward.
# REFKEY_DATABASE_URL runs the server on that database (an empty one, e.g. a
# PostgreSQL database made for the run) instead of a new SQLite file.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
secs=${2:-5}
tmp=$(mktemp -d)
bin=${KEYWARD_BIN:-}
if [[ -z "$bin" ]]; then
	go build -o "$tmp/keyward" ./cmd/keyward
	bin=$tmp/keyward
fi
addr=127.0.0.1:18097
db=${REFKEY_DATABASE_URL:-sqlite:$tmp/k.db}
if [[ -n "${REFKEY_DATABASE_URL:-}" ]]; then
	export KEYWARD_PEPPER=${KEYWARD_PEPPER:-refkey-bench-pepper-of-at-least-32-bytes} # PostgreSQL asks for one
fi
kw() { "$bin" "$@" --database-url "$db" 2>/dev/null; }
kw migrate >/dev/null
kw roles put reader --scope invoices:read >/dev/null
limits=(--rate-limit daily=100000000/24h --rate-limit burst=10000000/1s)
kw owners put acme "${limits[@]}" >/dev/null
kw owners put paying "${limits[@]}" --remaining 1000000000 >/dev/null
# secret OWNER: a new key of OWNER with the role and two limits of its own
secret() {
	kw keys create "key of $1" --owner "$1" --role reader --rate-limit burst=10000000/1s \
		--rate-limit hourly=1000000000/1h -o json | sed -nE 's/^  "secret": "([^"]+)".*/\1/p'
}
ref=$(secret acme)
paid=$(secret paying)
token=bench-serve-admin-token-of-32-characters
KEYWARD_ADMIN_TOKEN=$token "$bin" serve --addr "$addr" --database-url "$db" 2>"$tmp/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
	curl -sf -o /dev/null "http://$addr/healthz" && break
	sleep 0.1
done
auth="http://$addr/v1/auth?scopes=invoices:read"
for k in "$ref" "$paid"; do # cached from here on
	curl -sf -o /dev/null -H "Authorization: Bearer $k" "$auth"
done
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; } # user + system CPU of the server
# rps URL [KEY]: "requests/s CPU-µs/request" of one wrk run; the CPU the
# server spent per request depends less than requests per second on what
# else the machine runs.
rps() {
	local t0 out t1
	t0=$(ticks)
	out=$(wrk -t1 -c50 -d"${secs}s" ${2:+-H "Authorization: Bearer $2"} "$1")
	t1=$(ticks)
	echo "$out" | awk -v t=$((t1 - t0)) -v hz="$hz" '
		/requests in/ {n=$1} /Requests\/sec/ {r=$2}
		END {printf "%s %.2f\n", r, (n > 0 ? t / hz * 1e6 / n : 0)}'
}
hkey=$ref # the key header of /healthz's runs
[[ "${SAME_REQUEST:-1}" == 0 ]] && hkey=""
echo "wrk -t1 -c50 -d${secs}s; key header to /healthz: $([[ -n "$hkey" ]] && echo yes || echo "no (SAME_REQUEST=0)"); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$rounds"); do
	read -r h1 ch1 <<<"$(rps "http://$addr/healthz" "$hkey")"
	read -r a1 ca1 <<<"$(rps "$auth" "$ref")"
	read -r c1 cc1 <<<"$(rps "$auth" "$paid")"
	read -r c2 cc2 <<<"$(rps "$auth" "$paid")"
	read -r a2 ca2 <<<"$(rps "$auth" "$ref")"
	read -r h2 ch2 <<<"$(rps "http://$addr/healthz" "$hkey")"
	awk -v h1="$h1" -v h2="$h2" -v a1="$a1" -v a2="$a2" -v c1="$c1" -v c2="$c2" -v i="$i" \
		-v ch1="$ch1" -v ch2="$ch2" -v ca1="$ca1" -v ca2="$ca2" -v cc1="$cc1" -v cc2="$cc2" 'BEGIN {
		h = (h1 + h2) / 2; a = (a1 + a2) / 2; c = (c1 + c2) / 2
		ch = (ch1 + ch2) / 2; ca = (ca1 + ca2) / 2; cc = (cc1 + cc2) / 2
		printf "round %d: req/s healthz %.0f  reference key %.0f (%.3f)  with owner credits %.0f (%.3f);  server CPU µs/req healthz %.1f  ref %.1f (%.3f)  credits %.1f (%.3f)\n", i, h, a, a / h, c, c / h, ch, ca, ch / ca, cc, ch / cc }'
done
