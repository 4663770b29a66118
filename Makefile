# Every target works on a fresh Debian machine with only Go installed: tests,
# the demo and the benchmarks start a throwaway PostgreSQL (installing
# Debian's postgresql package with apt-get when its server is missing) unless
# TEST_DATABASE_URL or DATABASE_URL names one that answers.

GO       ?= go
WITHPG   := $(GO) run ./internal/withpg
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -X main.version=$(VERSION)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9\/_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: ## Run the end-to-end demo: local PostgreSQL, the Graph emulator, connect, sync, mutate, sync, verify
	$(GO) run ./cmd/graphsync demo

.PHONY: test
test: ## Vet, then run every test with the race detector on a real PostgreSQL
	$(GO) vet ./...
	$(WITHPG) $(GO) test -race -timeout 20m ./...

.PHONY: test/short
test/short: ## Run the quick tests only (-short), without the race detector
	$(WITHPG) $(GO) test -short -timeout 5m ./...

.PHONY: bench
bench: ## Run the benchmarks on a real PostgreSQL
	$(WITHPG) $(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: lint
lint: ## Check formatting, vet, and look for known vulnerabilities (govulncheck)
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@if command -v govulncheck >/dev/null 2>&1; then govulncheck ./...; \
	else $(GO) run golang.org/x/vuln/cmd/govulncheck@latest ./...; fi

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
