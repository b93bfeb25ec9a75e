# Onus build, test and run targets. Everything here works on a Debian 12 machine with Go.
GO          ?= go
BIN         ?= bin
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X github.com/onus-project/onus/internal/version.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 15s
# Minimizing each new input for Go's default 60 s stalls short runs on large seeds.
FUZZMINIMIZE ?= 1s
BENCHTIME   ?= 1s
HOST_ROOT   ?= /
RUN_DIR     ?= .run
HOSTS       ?= 1000
STEADY      ?= 3m
INTERVAL    ?= 10s
LISTEN      ?= 127.0.0.1:8080
PROMTOOL    ?= promtool

.PHONY: all build run inventory loadtest loadtest-split test vet fmt-check rules-test unit lint bench fuzz golden clean e2e cardinality

all: build

## build: static binaries bin/onus-agent, bin/onus-collector and bin/onus-loadgen
## (and bin/windows-amd64/onus-agent.exe, bin/darwin-{amd64,arm64}/onus-agent)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/onus-agent ./agent
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/onus-collector ./collector
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/onus-loadgen ./collector/loadgen
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/windows-amd64/onus-agent.exe ./agent
	GOOS=darwin GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/darwin-amd64/onus-agent ./agent
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/darwin-arm64/onus-agent ./agent

## packages: static binaries for linux/ARCH (amd64; ARCH=arm64 too), then the onus-agent and
## onus-collector .deb and .rpm packages into dist/ (nfpm; deploy/packaging/)
ARCH ?= amd64
.PHONY: packages
packages:
	VERSION=$(VERSION) ARCH=$(ARCH) GO=$(GO) OUT=dist BIN_DIR=$(BIN)/linux-$(ARCH) deploy/packaging/build.sh

## run: build, then run a collector (embedded etcd, plain HTTP on 127.0.0.1:8080) and an
## agent for this machine enrolled to it; Ctrl-C stops both
run: build
	RUN_DIR=$(RUN_DIR) BIN=$(BIN) HOST_ROOT=$(HOST_ROOT) LISTEN=$(LISTEN) deploy/local/run.sh

## inventory: build and print this machine's inventory once
inventory: build
	@mkdir -p $(RUN_DIR)/agent
	$(BIN)/onus-agent inventory --host-root $(HOST_ROOT) --state-dir $(RUN_DIR)/agent

## test: vet, formatting, Prometheus rules, and every test with the race detector
test: vet fmt-check rules-test unit

vet:
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./agent/...
	GOOS=darwin $(GO) vet ./agent/...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## rules-test: promtool check and unit tests of the Prometheus alert and recording rules
rules-test:
	@command -v $(PROMTOOL) >/dev/null 2>&1 || { echo "rules-test: $(PROMTOOL) not found; install it with: apt-get install prometheus (Debian's package provides /usr/bin/promtool; .ci/run installs it)" >&2; exit 1; }
	$(PROMTOOL) check rules deploy/prometheus/onus-rules.yml
	$(PROMTOOL) test rules deploy/prometheus/onus-rules.test.yml

# The alert's fire-and-resolve chain waits out its rule's for: 1m; make e2e runs it.
E2E_SLOW := TestAlertFiresAndResolves
unit:
	$(GO) test -race -count=1 -skip '^($(E2E_SLOW))$$' ./...

## e2e: the end-to-end chains with their timings: a dpkg install on a fixture host seen by the
## collector, the OnusUnownedSoftwareInstalled alert firing in a real Prometheus and resolving
## after an owner rule (a little over a minute), every dashboard query and rule expression
e2e:
	$(GO) test -count=1 -v -run 'TestInstallShowsUpInSeconds|TestAlertFiresAndResolves|TestDashboardsAndRules' ./e2e ./e2e/monitoring

## cardinality: the /metrics series bound on the load generator's fleet of CARDINALITY_HOSTS
## hosts through the real report path (100,000 takes tens of minutes on 2 cores)
CARDINALITY_HOSTS ?= 100000
cardinality:
	ONUS_CARDINALITY_HOSTS=$(CARDINALITY_HOSTS) $(GO) test -count=1 -v -timeout 3h -run TestMetricsCardinalityFleet ./loadgen

## chaos: the fault campaign with real processes on 127.0.0.1 (chaos/; docs/operations.md):
## kill -9 of the collector under the load generator, a 3-member etcd cluster under two
## collectors and real onus-agents losing one member then quorum, etcd out of space; builds
## bin/etcd and bin/etcdctl of the etcd release the collector embeds, prints the figures
CHAOS_TIMEOUT ?= 15m
.PHONY: chaos
chaos: build
	@rm -rf $(BIN)/.etcd-module && mkdir -p $(BIN)/.etcd-module
	@# A module of its own with this go.mod's versions, so etcd's main and its command-line
	@# dependencies build without entering this module's go.sum.
	sed 's#^module .*#module onus.local/chaos-etcd#' go.mod >$(BIN)/.etcd-module/go.mod
	cp go.sum $(BIN)/.etcd-module/go.sum
	cd $(BIN)/.etcd-module && CGO_ENABLED=0 $(GO) build -mod=mod -trimpath -o $(abspath $(BIN))/etcd go.etcd.io/etcd/server/v3
	@# etcdctl of the same release, for the runbook's recovery; added after etcd is built, so
	@# that it cannot change the versions etcd was built with.
	cd $(BIN)/.etcd-module && $(GO) get go.etcd.io/etcd/etcdctl/v3@$$(sed -n 's#^\tgo.etcd.io/etcd/server/v3 ##p' $(CURDIR)/go.mod) && \
	  CGO_ENABLED=0 $(GO) build -mod=mod -trimpath -o $(abspath $(BIN))/etcdctl go.etcd.io/etcd/etcdctl/v3
	ONUS_CHAOS=1 ONUS_CHAOS_BIN=$(abspath $(BIN)) $(GO) test -count=1 -v -timeout $(CHAOS_TIMEOUT) ./chaos

## lint: staticcheck
lint:
	$(GO) run $(STATICCHECK) ./...

## bench: every benchmark, with allocations, plus the agent process's CPU and peak RSS
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## fuzz: a short run of every fuzz target (FUZZTIME each). Go 1.26's fuzz coordinator can end
## a run with a bare "context deadline exceeded" (go.dev/issue/75804); a failure that writes no
## new input under testdata/fuzz/ is reported as that flake, any other failure stops make.
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
	  pkg=./$$(dirname $$f); \
	  for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/^func //'); do \
	    echo "== $$pkg $$t"; \
	    before=$$(ls $$pkg/testdata/fuzz/$$t 2>/dev/null | wc -l); out=$$(mktemp); \
	    if ! $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $$pkg >$$out 2>&1; then \
	      cat $$out; after=$$(ls $$pkg/testdata/fuzz/$$t 2>/dev/null | wc -l); \
	      if [ "$$after" -gt "$$before" ] || ! grep -q 'context deadline exceeded' $$out; then rm -f $$out; exit 1; fi; \
	      echo "== $$t: stopped by the fuzz coordinator without a failing input (go.dev/issue/75804), not a finding"; \
	    else cat $$out; fi; rm -f $$out; \
	  done; \
	done

## loadtest: simulate HOSTS agents (default 1000) against an in-process collector with
## embedded etcd; prints reports/s, latency percentiles, RSS and etcd size
loadtest: build
	rm -rf $(RUN_DIR)/loadtest
	$(BIN)/onus-loadgen --embedded-collector $(RUN_DIR)/loadtest --hosts $(HOSTS) --steady-duration $(STEADY)

## loadtest-split: the collector in its own process (embedded etcd, 127.0.0.1, temporary
## data), HOSTS agents from onus-loadgen, one report per host per INTERVAL (10s) for STEADY:
## the collector's own CPU per report by kind and RSS (/proc), cold start, /metrics latency,
## data directory size, restart to ready on the run's data
loadtest-split: build
	BIN=$(BIN) HOSTS=$(HOSTS) STEADY=$(STEADY) INTERVAL=$(INTERVAL) deploy/local/loadtest-split.sh

## golden: rewrite golden files from the current output (review the diff)
golden:
	$(GO) test $$($(GO) list -f '{{.ImportPath}} {{join .TestImports " "}}' ./... | grep testutil/golden | cut -d' ' -f1) -update

clean:
	rm -rf $(BIN) $(RUN_DIR)

## dashboards-test: run every Grafana panel query and rule expression against a real Prometheus
## (/usr/bin/prometheus, Debian package) scraping a real collector, and time install → alert
.PHONY: dashboards-test
dashboards-test:
	$(GO) test -count=1 -v -run TestDashboardsAndRules ./e2e/monitoring
