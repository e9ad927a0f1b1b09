#!/usr/bin/env bash
# Measures keyward's FastAPI dependency (clients/python, keyward.fastapi.KeywardAuth)
# under wrk on loopback: the same trivial route bare (/open) and behind the
# dependency (/protected), with the dependency's cache warm; also behind a stub
# dependency with the same parameters that does nothing (/stub), to tell
# FastAPI's share of the cost from keyward's.
#
# It builds keyward from the tree, starts `keyward serve` on a temporary SQLite
# database on 127.0.0.1 (admin token from the environment, access log of every
# request), creates the app's keyward:verify key and a caller's key with curl
# through the admin API, starts bench/fastapi/app.py with Debian's uvicorn (one
# worker, the package in place through PYTHONPATH), then runs wrk in mirrored
# rounds (open, stub, protected, protected, stub, open) so that drift during a
# round weighs on every route alike. It prints req/s of every run, each round's
# protected / open and stub / open ratios and their medians, the app's CPU time
# per request (from /proc: steadier than req/s on a busy machine), and how many
# POST /v1/keys/verify keyward serve got during each protected run (from its
# access log): on a cache hit the dependency makes no round trip, so only the
# cache's expiries (every KEYWARD_TTL seconds) should show there. Last, it times
# the dependency's own work on a cache hit in process (bench/fastapi/hit.py).
#
#   bench/fastapi/run.sh                     # 3 rounds of 6 runs of 5 s, wrk -t1 -c20: about 2 minutes
#   ROUNDS=5 SECS=10 CONNS=64 bench/fastapi/run.sh
#
# Needs go, curl, wrk and Debian's python3-fastapi, python3-uvicorn and
# python3-httpx (/usr/bin/python3). KEYWARD_BIN skips the build; KEYWARD_TTL
# sets the dependency's cache TTL (default 10 s, the dependency's default).
# Not part of make test or CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${ROUNDS:-3}
secs=${SECS:-5}
conns=${CONNS:-20}
threads=${THREADS:-1}
py=/usr/bin/python3
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_up() { # url
	for _ in $(seq 600); do
		curl -sf -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "run.sh: $1 did not answer in 60 s" >&2
	return 1
}

bin=${KEYWARD_BIN:-}
if [[ -z $bin ]]; then
	go=$(command -v go || echo /usr/local/go/bin/go)
	bin=$tmp/keyward
	"$go" build -o "$bin" ./cmd/keyward
fi

kport=$(free_port)
kurl=http://127.0.0.1:$kport
export KEYWARD_ADMIN_TOKEN=${KEYWARD_ADMIN_TOKEN:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
KEYWARD_PEPPER=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
	"$bin" serve --addr "127.0.0.1:$kport" --database-url "sqlite:$tmp/keyward.db" --access-log all \
	> "$tmp/serve.log" 2>&1 &
pids+=($!)
wait_up "$kurl/readyz"

create_key() { # JSON body -> secret
	curl -sf -X POST "$kurl/v1/keys" -H "Authorization: Bearer $KEYWARD_ADMIN_TOKEN" \
		-H 'Content-Type: application/json' -d "$1" |
		"$py" -c 'import json, sys; print(json.load(sys.stdin)["secret"])'
}
verify_key=$(create_key '{"name": "bench app", "scopes": ["keyward:verify"]}')
caller_key=$(create_key '{"name": "bench caller", "owner": "bench"}')

aport=$(free_port)
aurl=http://127.0.0.1:$aport
KEYWARD_URL=$kurl KEYWARD_VERIFY_KEY=$verify_key PYTHONPATH=clients/python \
	"$py" -m uvicorn app:app --app-dir bench/fastapi --host 127.0.0.1 --port "$aport" \
	--workers 1 --no-access-log --log-level warning > "$tmp/app.log" 2>&1 &
app=$!
pids+=("$app")
wait_up "$aurl/open"
# Warm the cache (and check the key passes) before anything is measured.
curl -sf -o /dev/null -H "Authorization: Bearer $caller_key" "$aurl/protected"

verifies() { grep -c 'path=/v1/keys/verify' "$tmp/serve.log" || true; }
ticks() { awk '{print $14 + $15}' "/proc/$app/stat"; } # the app's CPU time (user + system), in clock ticks
hz=$(getconf CLK_TCK)
run() { # route -> "req/s non2xx app-CPU-µs-per-request"
	local t0 t1 out
	t0=$(ticks)
	out=$(wrk -t"$threads" -c"$conns" -d"${secs}s" -H "Authorization: Bearer $caller_key" "$aurl/$1")
	t1=$(ticks)
	awk -v t="$((t1 - t0))" -v hz="$hz" '/requests in/{n=$1} /Non-2xx/{bad=$NF} /Requests\/sec/{rps=$2}
		END{printf "%s %d %.0f\n", rps, bad, t / hz * 1e6 / n}' <<<"$out"
}
protected() { # -> "req/s non2xx app-CPU-µs-per-request verifies"
	local before r
	before=$(verifies)
	r=$(run protected)
	echo "$r $(($(verifies) - before))"
}

echo "wrk -t$threads -c$conns -d${secs}s, $rounds rounds (open, stub, protected, protected, stub, open); keyward serve $kurl, app $aurl"
echo "warm-up: $(run open | cut -d' ' -f1) req/s open, $(run stub | cut -d' ' -f1) stub, $(protected | cut -d' ' -f1) protected (not counted)"
ratio() { "$py" -c 'import sys; a, b, c, d = map(float, sys.argv[1:]); print(f"{(a + b) / (c + d):.3f}")' "$@"; }
median() { # digits values... -> their median
	"$py" -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[2:])):.{sys.argv[1]}f}")' "$@"
}
pr=() sr=() cpu_o=() cpu_s=() cpu_p=()
for i in $(seq "$rounds"); do
	read -r o1 bo1 co1 <<<"$(run open)"
	read -r s1 bs1 cs1 <<<"$(run stub)"
	read -r p1 bp1 cp1 v1 <<<"$(protected)"
	read -r p2 bp2 cp2 v2 <<<"$(protected)"
	read -r s2 bs2 cs2 <<<"$(run stub)"
	read -r o2 bo2 co2 <<<"$(run open)"
	pr+=("$(ratio "$p1" "$p2" "$o1" "$o2")")
	sr+=("$(ratio "$s1" "$s2" "$o1" "$o2")")
	cpu_o+=("$co1" "$co2") cpu_s+=("$cs1" "$cs2") cpu_p+=("$cp1" "$cp2")
	echo "round $i: req/s open $o1 $o2  stub $s1 $s2  protected $p1 $p2  stub/open ${sr[-1]}  protected/open ${pr[-1]}"
	echo "         app CPU µs/request open $co1 $co2  stub $cs1 $cs2  protected $cp1 $cp2" \
		" verify requests during protected $v1 $v2  non-2xx $((bo1 + bs1 + bp1 + bp2 + bs2 + bo2))"
done
echo "median stub/open: $(median 3 "${sr[@]}")  median protected/open: $(median 3 "${pr[@]}")"
echo "median app CPU µs/request: open $(median 0 "${cpu_o[@]}")  stub $(median 0 "${cpu_s[@]}")  protected $(median 0 "${cpu_p[@]}")"
echo "keyward serve got $(verifies) POST /v1/keys/verify in all (warm-up included)"
PYTHONPATH=clients/python "$py" bench/fastapi/hit.py
