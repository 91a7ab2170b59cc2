# Sluice. `make run` builds and serves on the embedded defaults; `make test`
# runs everything CI runs. Both install missing prerequisites first.

GO      ?= go
BIN     := bin/sluice
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test unit integration check bench deps clean

all: build

deps:
	@bash scripts/setup.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sluice

run: build
	./$(BIN) serve

# Static checks, unit tests with the race detector (covers fuzz seeds and the
# store contract suite), then end-to-end tests against a real `sluice serve`
# with aws-cli, boto3 and aws-sdk-go-v2.
test: deps check unit integration

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

integration:
	$(GO) test -tags integration -count=1 -timeout 15m ./integration/

# Benchmarks against peer servers; never part of `make test`.
bench: deps
	bash bench/run.sh

clean:
	rm -rf bin .bench
