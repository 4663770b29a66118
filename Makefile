# Every target works on a fresh Debian machine with only Go installed: tests,
# the demo and the benchmarks start a throwaway PostgreSQL (installing
# Debian's postgresql package with apt-get when its server is missing) unless
# TEST_DATABASE_URL or DATABASE_URL names one that answers.

GO       ?= go
FUZZTIME ?= 20s
# VULNDB is the Go vulnerability database govulncheck reads; a file:// URL
# of a mirror works where vuln.go.dev cannot be reached.
VULNDB   ?= https://vuln.go.dev
WITHPG   := $(GO) run ./internal/withpg
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -X main.version=$(VERSION)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9\/_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: ## Run the end-to-end demo: local PostgreSQL, the Graph emulator, connect, sync, mutate, sync, verify
	$(GO) run ./cmd/graphsync-demo

.PHONY: test
test: ## Vet, then run every test with the race detector on a real PostgreSQL
	$(GO) vet ./...
	$(WITHPG) $(GO) test -race -timeout 20m ./...

.PHONY: test/short
test/short: ## Run the quick tests only (-short), without the race detector
	$(WITHPG) $(GO) test -short -timeout 5m ./...

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 20s) on a real PostgreSQL
	@set -e; for pkg in ./graphsync ./store; do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "$$pkg $$target"; \
			$(WITHPG) $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

.PHONY: bench
bench: ## Run the benchmarks (BENCH_FLAGS=--quick for a short run): one table, docs/benchmarks.md, profiles in bench-out/
	$(GO) build -o bin/graphsync-bench ./cmd/graphsync-bench
	$(WITHPG) bin/graphsync-bench --out docs/benchmarks.md --profiles bench-out $(BENCH_FLAGS)

.PHONY: bench/go
bench/go: ## Run the Go benchmarks (go test -bench) on a real PostgreSQL
	$(WITHPG) $(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: chaos
chaos: ## Kill workers, restart PostgreSQL, inject faults, run 3 workers, then check the tables equal the ground truth (~10 min; CHAOS_FLAGS=--duration 3m)
	$(GO) build -o bin/graphsync ./cmd/graphsync
	$(GO) run ./cmd/graphsync-chaos --binary bin/graphsync $(CHAOS_FLAGS)

.PHONY: schema
schema: ## Regenerate docs/schema.md from the migrations' COMMENTs
	$(GO) run ./internal/schemadoc -o docs/schema.md

.PHONY: lint
lint: ## Check formatting, vet, and look for known vulnerabilities (govulncheck)
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@# GOTOOLCHAIN=auto: the standard library checked is the one of go.mod's
	@# toolchain line, which release builds use.
	@if command -v govulncheck >/dev/null 2>&1; then GOTOOLCHAIN=auto govulncheck -db $(VULNDB) ./...; \
	else GOTOOLCHAIN=auto $(GO) run golang.org/x/vuln/cmd/govulncheck@latest -db $(VULNDB) ./...; fi

.PHONY: tidy
tidy: ## Tidy go.mod and go.sum
	$(GO) mod tidy

.PHONY: build
build: ## Build bin/graphsync and bin/graphemu
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/graphsync ./cmd/graphsync
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/graphemu ./cmd/graphemu

.PHONY: clean
clean: ## Remove bin/
	rm -rf bin
