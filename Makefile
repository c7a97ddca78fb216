# canarygate — the two commands a fresh machine needs are `make rehearse` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/canarygate
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/canarygate/canarygate/internal/version.Version=$(VERSION)
SCENARIO ?= istio-canary
ARGS ?=

.PHONY: all build test check integration e2e unit testbin lint fuzz bench demo-image rehearse actionlint clean soak-ci soak-lab lab release rehearse-online

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/canarygate

# Everything CI runs: lint, then every test, including the integration tests against a real kube-apiserver
# (whose binaries hack/testbin.sh builds once into ~/.cache/canarygate and reuses), the real Istio charts
# (hack/istio-charts.sh fetches the istio.io/istio module into the module cache; not in go.mod) and the kind
# suite on this machine's container engine: a cluster from the offline node image and the istio-lab scenario
# with istiod built from source (hack/lab-env.sh builds them once, cold ~35 min, and reuses them). No registry
# is needed (CANARYGATE_OFFLINE=1: the default scenario's online e2e test is left to machines that have one).
# The kind suite runs after the other packages, alone: its load generator measures real rollouts and must not
# share two cores with the integration tests' own control planes (it would report itself saturated — an error
# — rather than judge the target), and it runs at a higher priority than whatever else shares the machine.
# The tiers: `make check` (what needs only Go and the linters: minutes), `make integration` (a real
# kube-apiserver and the real Istio charts), `make e2e` (the kind suite on the offline lab); `make test` is all
# three, in that order.
test: check integration e2e

# Formatting, vet, golangci-lint (staticcheck, unused, function length < 80 lines, cyclomatic complexity ≤ 25:
# .golangci.yml), shellcheck on hack/, actionlint (a go.mod tool), go.mod tidy, and every test that needs
# nothing but Go under the race detector. About 3 minutes warm on two cores.
check: lint
	@bash hack/check-tidy.sh
	$(GO) test -race -short -count=1 ./...

integration:
	export CANARYGATE_TESTBIN="$$(bash hack/testbin.sh | tail -n1)" CANARYGATE_ISTIO_CHARTS="$$(bash hack/istio-charts.sh)" \
		CANARYGATE_ISTIO_OLD_CHARTS="$$(bash hack/istio-charts.sh old)" CANARYGATE_PROMETHEUS="$$(bash hack/prometheus.sh | tail -n1)" && \
	$(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -v /test/e2e)

e2e:
	eval "$$(bash hack/lab-env.sh)" && export CANARYGATE_E2E=1 CANARYGATE_OFFLINE=1 && \
	$(GO) test -c -o bin/e2e.test ./test/e2e && \
	cd test/e2e && $$(nice -n -5 true 2>/dev/null && echo nice -n -5) ../../bin/e2e.test -test.count=1 -test.timeout=30m -test.v

# The offline lab by hand: the istio-lab scenario on a kind cluster of this machine (see hack/lab-env.sh).
lab: build
	eval "$$(bash hack/lab-env.sh)" && ./$(BIN) run istio-lab --no-env \
	  --var NODE_IMAGE="$$CANARYGATE_NODE_IMAGE" --var ISTIO_CHARTS="$$CANARYGATE_LAB_CHARTS" \
	  --var OLD_ISTIO_CHARTS="$$CANARYGATE_LAB_OLD_CHARTS" --var ISTIO_HUB="$$CANARYGATE_LAB_HUB" \
	  --var OLD_TAG="$$CANARYGATE_LAB_OLD_TAG" --var NEW_TAG="$$CANARYGATE_LAB_NEW_TAG" \
	  $$(for a in $$CANARYGATE_LAB_ARCHIVES; do printf -- '--image-archive %s ' "$$a"; done) $(ARGS)

# Tests that need nothing but Go.
unit:
	$(GO) test -count=1 -short ./...

testbin:
	bash hack/testbin.sh

# CI ten times in a row under CPU load (two busy loops), as CI may share its machine: every run must be green.
soak-ci:
	bash hack/soak-ci.sh

# The offline lab rehearsal N times (default 10), each on a fresh cluster: its false-positive count
# (hack/soak-lab.sh). About 5 minutes a run on two cores, warm.
soak-lab:
	bash hack/soak-lab.sh

lint:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	"$$(bash hack/golangci-lint.sh)" run ./...
	@command -v shellcheck >/dev/null || { echo "shellcheck: installing from Debian"; (apt-get install -y -qq shellcheck >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq shellcheck)) >/dev/null; }
	shellcheck hack/*.sh .ci/run
	$(GO) tool actionlint

# Every parser of untrusted input, 30 s each: the scenario file, variables, rates, and what istiod and the
# pods return (/debug/connections and its connection IDs, Prometheus metrics, X-Forwarded-Client-Cert).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./scenarios -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./scenarios -run '^$$' -fuzz '^FuzzVarsExpand$$' -fuzztime $(FUZZTIME)
	$(GO) test ./loadgen -run '^$$' -fuzz '^FuzzParseRate$$' -fuzztime $(FUZZTIME)
	for t in FuzzParseConnections FuzzParseConnectionID FuzzParseMetrics FuzzParseXFCC; do \
	  $(GO) test ./istio -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) || exit 1; done
	$(GO) test ./meshload/agent -run '^$$' -fuzz '^FuzzParseBatch$$' -fuzztime $(FUZZTIME)

# canarygate's load generator and the vegeta CLI against one loopback server, side by side (hack/bench.sh).
bench:
	bash hack/bench.sh

# The demo app as an image archive kind loads into its nodes (no Docker build, no registry).
demo-image: build
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -o bin/linux/demo-app ./cmd/demo-app
	./$(BIN) image-archive --binary bin/linux/demo-app --ref docker.io/canarygate/demo-app:dev --out bin/demo-app.tar

# Rehearse the default scenario: a kind cluster, Istio OLD → NEW under load (override with SCENARIO=...
# ARGS='--var OLD=1.29.6 --var NEW=1.30.3 --keep-cluster-on-failure'). Where the registries it pulls from
# cannot be reached (asked in seconds, before building anything), or with CANARYGATE_OFFLINE=1, the offline
# lab instead (make lab), saying so (hack/rehearse.sh).
rehearse:
	@MAKE='$(MAKE)' GO='$(GO)' SCENARIO='$(SCENARIO)' bash hack/rehearse.sh

rehearse-online: demo-image
	./$(BIN) run $(SCENARIO) --image-archive bin/demo-app.tar $(ARGS)

actionlint:
	$(GO) tool actionlint

# Release archives in dist/: static (CGO_ENABLED=0), -trimpath binaries for linux and darwin × amd64 and arm64,
# one tar.gz each and SHA256SUMS (hack/release.sh; TARGETS='linux/amd64' for fewer).
release:
	VERSION='$(VERSION)' GO='$(GO)' bash hack/release.sh

clean:
	rm -rf bin dist canarygate-report
