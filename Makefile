# canarygate — the two commands a fresh machine needs are `make rehearse` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/canarygate
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/canarygate/canarygate/internal/version.Version=$(VERSION)
SCENARIO ?= http-example
ARGS ?=

.PHONY: all build test unit testbin lint fuzz bench rehearse actionlint clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/canarygate

# Everything CI runs: lint, then every test, including the integration tests against a real kube-apiserver
# (whose binaries hack/testbin.sh builds once into ~/.cache/canarygate and reuses).
test: lint
	CANARYGATE_TESTBIN="$$(bash hack/testbin.sh | tail -n1)" $(GO) test -count=1 -timeout 25m ./...

# Tests that need nothing but Go.
unit:
	$(GO) test -count=1 -short ./...

testbin:
	bash hack/testbin.sh

lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

fuzz:
	$(GO) test ./scenarios -run '^$$' -fuzz FuzzParse -fuzztime 60s

bench:
	$(GO) test ./loadgen -run '^$$' -bench . -benchtime 1x -benchmem

# Rehearse the default scenario (override with SCENARIO=... ARGS='--var K=V').
rehearse: build
	./$(BIN) run $(SCENARIO) $(ARGS)

actionlint:
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@v1.7.7

clean:
	rm -rf bin canarygate-report
