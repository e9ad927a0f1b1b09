.PHONY: test test-short vet fuzz bench serve

# Every Go module of the repository: the library at the root, and the modules
# that keep test and benchmark tools (chromedp, gonum/plot, libopenapi) out of
# the library's go.mod: bench, bench/sqlitedrivers, test/contract, test/web.
MODULES := $(sort $(dir $(shell find . -name go.mod -not -path './.git/*')))

# The whole test suite: throwaway PostgreSQL and Redis when installed, -race.
test:
	./scripts/test.sh

# Unit tests only, no external servers.
test-short:
	set -e; for m in $(MODULES); do echo "== $$m"; go -C $$m test -race ./...; done

vet:
	gofmt -l . | (! grep .)
	set -e; for m in $(MODULES); do echo "== $$m"; go -C $$m vet ./...; go -C $$m run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...; done

# Each fuzz target for FUZZTIME (default 60s).
FUZZTIME ?= 60s
fuzz:
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME) .

bench:
	set -e; for m in $(MODULES); do echo "== $$m"; go -C $$m test -run '^$$' -bench . -benchmem ./...; done
