#!/usr/bin/env bash
# Runs every keyward test suite with the race detector.
#
# When PostgreSQL (initdb, pg_ctl) and Redis (redis-server) are installed and
# KEYWARD_TEST_POSTGRES_URL / KEYWARD_TEST_REDIS_URL are not already set, it
# starts throwaway servers on 127.0.0.1 in a temp dir, points the suites at
# them, and stops them afterwards. Without them, those suites skip and say so.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyward-test.XXXXXX")
chmod 755 "$tmp"
pg_bin="" pg_data="" redis_pid=""

cleanup() {
	if [[ -n "$pg_data" ]]; then
		as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [[ -n "$redis_pid" ]]; then
		kill "$redis_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "no free port found" >&2
	return 1
}

# as_pg runs a PostgreSQL server command; initdb and postgres refuse to run as root.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		local cmd
		printf -v cmd '%q ' "$@"
		su postgres -s /bin/sh -c "$cmd"
	else
		"$@"
	fi
}

find_pg_bin() {
	if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
		return
	fi
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

start_postgres() {
	pg_bin=$(find_pg_bin)
	if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" ]]; then
		echo "== PostgreSQL is not installed: its suites will skip"
		return
	fi
	local port attempt
	pg_data="$tmp/pg"
	mkdir -p "$pg_data"
	if [[ $(id -u) -eq 0 ]]; then chown postgres "$pg_data"; fi
	chmod 700 "$pg_data"
	as_pg "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log"; exit 1; }
	# The server listens on 127.0.0.1 alone (no Unix socket, whose path could
	# outgrow the kernel's limit under a long TMPDIR) and keeps its dynamic
	# shared memory in the data directory, not /dev/shm, which containers
	# often size small. A start that fails prints the server's log and is
	# tried again on another port.
	for attempt in 1 2 3; do
		port=$(free_port)
		if as_pg "$pg_bin/pg_ctl" -D "$pg_data" -w -t 60 -l "$pg_data/server.log" \
			-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c dynamic_shared_memory_type=mmap -c fsync=off -c max_connections=300" \
			start >"$tmp/pg_ctl.log" 2>&1; then
			export KEYWARD_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			echo "== PostgreSQL $("$pg_bin/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port"
			return
		fi
		echo "== PostgreSQL did not start on 127.0.0.1:$port (attempt $attempt of 3):"
		cat "$tmp/pg_ctl.log" "$pg_data/server.log" 2>/dev/null || true
		as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
		rm -f "$pg_data/server.log"
	done
	# Past three attempts the cause lies outside this project; the suites
	# that need PostgreSQL then skip, saying so, and the rest still run.
	pg_data=""
	echo "== PostgreSQL is installed but would not start (logs above): its suites will skip"
}

start_redis() {
	if ! command -v redis-server >/dev/null 2>&1; then
		echo "== Redis is not installed: its suites will skip"
		return
	fi
	local port
	port=$(free_port)
	redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--daemonize yes --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log" --dir "$tmp"
	for _ in $(seq 1 50); do
		[[ -s "$tmp/redis.pid" ]] && break
		sleep 0.1
	done
	if [[ ! -s "$tmp/redis.pid" ]]; then
		cat "$tmp/redis.log" 2>/dev/null || true
		echo "== Redis is installed but would not start (log above): its suites will skip"
		return
	fi
	redis_pid=$(cat "$tmp/redis.pid")
	export KEYWARD_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
	echo "== Redis $(redis-server --version | awk '{print $3}') on 127.0.0.1:$port"
}

if [[ -z "${KEYWARD_TEST_POSTGRES_URL:-}" ]]; then start_postgres; fi
if [[ -z "${KEYWARD_TEST_REDIS_URL:-}" ]]; then start_redis; fi

# Every Go module: the library at the root, and the modules that keep test
# and benchmark tools out of its go.mod (bench, bench/sqlitedrivers,
# test/contract, test/web). ./... stops at a nested module, so each runs on
# its own.
modules=$(find . -name go.mod -not -path './.git/*' -exec dirname {} \; | sort)

echo "== gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go') 2>/dev/null || true)
if [[ -n "$unformatted" ]]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
for m in $modules; do
	echo "   $m"
	go -C "$m" vet ./...
	go -C "$m" run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
done
echo "== go test -race"
# -v so the log shows which suites ran and which skipped (and why); the
# summary below keeps top-level results, the full log is printed on failure.
status=0
for m in $modules; do
	go -C "$m" test -race -count=1 -timeout 20m -v "$@" ./... >>"$tmp/test.log" 2>&1 || status=$?
done
grep -E '^(--- (PASS|FAIL|SKIP)|ok |FAIL|panic)' "$tmp/test.log" || true
if grep -q '^--- SKIP' "$tmp/test.log"; then
	echo "== skipped suites and why:"
	# go test -v prints a test's skip message just before its --- SKIP line.
	grep -B1 '^--- SKIP' "$tmp/test.log" | grep -vE '^(--$|=== )' | sed 's/^ */  /' 
fi
if [[ $status -ne 0 ]]; then
	echo "== FAILED: full log follows"
	cat "$tmp/test.log"
	exit $status
fi
# The Python package (clients/python) against a keyward serve built from this
# tree, with Debian's interpreter and packages (python3-pytest, -fastapi,
# -httpx, -uvicorn); skipped, saying why, when they are not installed.
py=/usr/bin/python3
if [[ -x $py ]] && $py -c 'import pytest, fastapi, httpx, uvicorn' 2>/dev/null; then
	echo "== pytest clients/python ($($py -c 'import fastapi, pydantic; print("FastAPI", fastapi.__version__, "pydantic", pydantic.VERSION)'))"
	$py -m pytest -q -rs -p no:cacheprovider clients/python
else
	echo "== Python client: skipped ($py lacks pytest, fastapi, httpx or uvicorn: apt-get install python3-pytest python3-fastapi python3-httpx python3-uvicorn)"
fi
# Tests the race detector slows or skews (they skip under -race, saying so)
# run once more without it.
echo "== go test (without -race): the long-running, timing and allocation tests"
# The timing tests of test/security run here, one package at a time, so that
# no other suite shares the CPUs while they measure.
go test -count=1 -timeout 20m -v -run 'TestImport100kWithProgress' ./cmd/keyward/ >"$tmp/slow.log" 2>&1 || { cat "$tmp/slow.log"; exit 1; }
go test -count=1 -timeout 10m -v -run 'TestRejectionTiming' ./test/security/ >>"$tmp/slow.log" 2>&1 || { cat "$tmp/slow.log"; exit 1; }
# The allocation counts (the race detector allocates of its own) and the
# webhook timing comparison, which skip under -race.
go test -count=1 -timeout 5m -v -run 'TestHMACVerifyAllocatesNothing|TestLocalAllowAllocatesNothing|TestDeadEndpointsDoNotSlowWritesOrVerify' \
	./keyhash/ ./ratelimit/ ./webhook/ >>"$tmp/slow.log" 2>&1 || { cat "$tmp/slow.log"; exit 1; }
grep -E '^(--- (PASS|FAIL|SKIP)|ok |FAIL)|imported 100|median|medians|attempt' "$tmp/slow.log"
# Fuzz targets: the key and scope-query parsers, the JSON bodies (keys,
# owners, roles, verify and its scope_query), the list query, and the whole
# HTTP layer (any method, path, query, headers and body to the handler on
# SQLite; raw bytes through net/http and server.ProblemListener). Each runs
# KEYWARD_FUZZTIME (default 60s); a finding fails the run and is saved under
# testdata/fuzz for go test to replay.
fuzztime="${KEYWARD_FUZZTIME:-60s}"
for target in ".:FuzzParse" ".:FuzzRoundTrip" "./server:FuzzCreateKeyBody" "./server:FuzzVerifyBody" "./server:FuzzListQuery" \
	".:FuzzScopeQuery" "./server:FuzzOwnerBody" "./server:FuzzRoleBody" "./server:FuzzVerifyScopeQuery" \
	"./server:FuzzHandler" "./server:FuzzWire"; do
	pkg="${target%%:*}" name="${target##*:}"
	echo "== fuzz $name ($pkg) for $fuzztime"
	ok=0
	for attempt in 1 2; do
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$tmp/fuzz.log" 2>&1; then
			ok=1
			break
		fi
		# Go's fuzzing coordinator can fail a target with a bare "context
		# deadline exceeded" when -fuzztime ends while a starved worker is
		# still busy; it then saves no input, and there is nothing to
		# reproduce. Such a run is run once more; any other failure, or an
		# input saved, fails at once.
		saved=$(git status --porcelain --untracked-files=all -- "$pkg/testdata/fuzz/$name")
		if [[ $attempt -eq 1 && -z "$saved" ]] && grep -q '^    context deadline exceeded$' "$tmp/fuzz.log" &&
			! grep -qE '^(panic|    --- FAIL|.*Failing input written)' "$tmp/fuzz.log"; then
			echo "== fuzz $name: Go's fuzzing coordinator stopped on its own deadline, saving no input; once more"
			continue
		fi
		break
	done
	if [[ $ok -ne 1 ]]; then
		# The whole log (the failure is above go's last lines) and the
		# input the engine saved, so that a CI log alone can reproduce it.
		cat "$tmp/fuzz.log"
		echo "== FAILED: fuzz $name found a problem; the saved input:"
		git status --porcelain --untracked-files=all -- "$pkg/testdata/fuzz/$name" | while read -r _ f; do
			echo "-- $f"
			cat "$f"
		done
		exit 1
	fi
	tail -n 3 "$tmp/fuzz.log"
done
echo "== all suites passed"
