#!/usr/bin/env bash
# Loads, in one run, a bare Go net/http handler (bench/serve), keyward
# serve's /healthz and its /v1/auth with a valid cached key, under wrk on
# loopback, in rounds of bare, healthz, auth, auth, healthz, bare (ABBA: drift
# during a round weighs on every route alike). Prints each round's requests
# per second and ratios to the bare handler, the CPU time each server spent
# per request (user and system, from /proc: unlike requests per second, it
# barely depends on what else the machine runs), their medians, and the
# bytes per second keyward serve logged under that load beyond its startup
# lines.
#
#   bench/serve/wrk.sh [rounds] [seconds per run] [-- keyward serve flags...]
#   defaults: 5 rounds, 10 s per run, serve with its default flags
#
# Every run sends the same request, the key's Authorization header included,
# so that each server reads the same bytes and a ratio is what the servers do
# with them, not how long the requests are. SAME_REQUEST=0 sends the header to
# /v1/auth alone, as runs before this choice did (docs/benchmarks.md has
# both).
#
# KEYWARD_BIN runs that binary instead of building ./cmd/keyward (to compare
# two builds); WRK_ARGS replaces "-t1 -c50"; BARE_ARGS passes flags to the
# bare server (e.g. "-content-type application/json", the header /healthz
# sets; see go -C bench run ./serve -h).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
secs=${2:-10}
shift $(( $# < 2 ? $# : 2 ))
[[ "${1:-}" == "--" ]] && shift
extra=("$@")
wrkargs=${WRK_ARGS:-"-t1 -c50"}
tmp=$(mktemp -d)
bare_addr=127.0.0.1:18095
kw_addr=127.0.0.1:18096
go -C bench build -o "$tmp/bare" ./serve
bin=${KEYWARD_BIN:-}
if [[ -z "$bin" ]]; then
	go build -o "$tmp/keyward" ./cmd/keyward
	bin=$tmp/keyward
fi
token=bench-serve-admin-token-of-32-characters
# shellcheck disable=SC2086 # BARE_ARGS is a list of flags
"$tmp/bare" -addr "$bare_addr" ${BARE_ARGS:-} &
bare_pid=$!
KEYWARD_ADMIN_TOKEN=$token "$bin" serve --addr "$kw_addr" --database-url "sqlite:$tmp/k.db" \
	"${extra[@]}" 2>"$tmp/serve.log" &
kw_pid=$!
trap 'kill $bare_pid $kw_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
	curl -sf -o /dev/null "http://$bare_addr/" && curl -sf -o /dev/null "http://$kw_addr/healthz" && break
	sleep 0.1
done
key=$(curl -sf -H "Authorization: Bearer $token" -d '{"name":"load"}' "http://$kw_addr/v1/keys" |
	sed -E 's/.*"secret":"([^"]+)".*/\1/')
curl -sf -o /dev/null -H "Authorization: Bearer $key" "http://$kw_addr/v1/auth" # cached from here on
sleep 1
log_start=$(stat -c %s "$tmp/serve.log")
t_start=$(date +%s.%N)

hz=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; } # user + system CPU of a process
# run pid url [header]: "requests/s CPU-µs/request" of the server pid, which
# does not depend on how much CPU the machine's other work leaves it.
run() {
	local t0 out t1
	t0=$(ticks "$1")
	out=$(wrk $wrkargs -d"${secs}s" ${3:+-H "$3"} "$2")
	t1=$(ticks "$1")
	echo "$out" | awk -v t=$((t1 - t0)) -v hz="$hz" '
		/requests in/ {n=$1} /Requests\/sec/ {r=$2}
		END {printf "%s %.2f\n", r, (n > 0 ? t / hz * 1e6 / n : 0)}'
}
median() { sort -g | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
auth="Authorization: Bearer $key"
all=$auth # the header of the bare server's and /healthz's runs
[[ "${SAME_REQUEST:-1}" == 0 ]] && all=""
echo "wrk $wrkargs -d${secs}s; key header to every route: $([[ -n "$all" ]] && echo yes || echo "no (SAME_REQUEST=0)"); bare server ${BARE_ARGS:-(no flags)}; keyward serve ${extra[*]:-(default flags)}; load: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$tmp/ratios"
mean() { echo "($1+$2)/2" | bc -l; }
for i in $(seq "$rounds"); do
	read -r b1 cb1 <<<"$(run $bare_pid "http://$bare_addr/" "$all")"
	read -r h1 ch1 <<<"$(run $kw_pid "http://$kw_addr/healthz" "$all")"
	read -r a1 ca1 <<<"$(run $kw_pid "http://$kw_addr/v1/auth" "$auth")"
	read -r a2 ca2 <<<"$(run $kw_pid "http://$kw_addr/v1/auth" "$auth")"
	read -r h2 ch2 <<<"$(run $kw_pid "http://$kw_addr/healthz" "$all")"
	read -r b2 cb2 <<<"$(run $bare_pid "http://$bare_addr/" "$all")"
	b=$(mean "$b1" "$b2") h=$(mean "$h1" "$h2") a=$(mean "$a1" "$a2")
	cb=$(mean "$cb1" "$cb2") ch=$(mean "$ch1" "$ch2") ca=$(mean "$ca1" "$ca2")
	hr=$(echo "$h/$b" | bc -l) ar=$(echo "$a/$b" | bc -l)
	printf 'round %d: req/s bare %.0f  healthz %.0f (%.3f)  auth %.0f (%.3f);  server CPU µs/req bare %.1f  healthz %.1f  auth %.1f\n' \
		"$i" "$b" "$h" "$hr" "$a" "$ar" "$cb" "$ch" "$ca"
	echo "$b $h $a $hr $ar $cb $ch $ca" >>"$tmp/ratios"
done
t_end=$(date +%s.%N)
log_end=$(stat -c %s "$tmp/serve.log")
col() { awk -v c="$1" '{print $c}' "$tmp/ratios" | median; }
printf 'median: req/s bare %.0f  healthz %.0f (%.3f)  auth %.0f (%.3f);  server CPU µs/req bare %.1f  healthz %.1f  auth %.1f\n' \
	"$(col 1)" "$(col 2)" "$(col 4)" "$(col 3)" "$(col 5)" "$(col 6)" "$(col 7)" "$(col 8)"
printf 'log: %d bytes in %.0f s under load: %.1f bytes/s\n' "$((log_end - log_start))" \
	"$(echo "$t_end-$t_start" | bc -l)" "$(echo "($log_end-$log_start)/($t_end-$t_start)" | bc -l)"
