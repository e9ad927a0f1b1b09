.PHONY: test test-short vet fuzz bench serve

# The whole test suite: throwaway PostgreSQL and Redis when installed, -race.
test:
	./scripts/test.sh

# Unit tests only, no external servers.
test-short:
	go test -race ./...

vet:
	gofmt -l . | (! grep .) && go vet ./... && go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Each fuzz target for FUZZTIME (default 60s).
FUZZTIME ?= 60s
fuzz:
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME) .

bench:
	go test -run '^$$' -bench . -benchmem ./...
