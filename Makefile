# evtrace: build, test, vendor. Targets that load BPF need root.
#
#   make              build ./evtrace
#   make test         everything CI runs: checks, unit and host integration
#                     tests (root), and the end-to-end tests in a Debian VM
#   make vendor       re-vendor and re-apply scripts/patches
#   make demo         see evtrace listen work in the Debian VM

GO ?= go
GOFILES := $(shell find . -name '*.go' -not -path './vendor/*') probes/listen.c go.mod go.sum

.PHONY: all build deps test check unit vendor vendor-check clean

all: build
build: evtrace

evtrace: $(GOFILES)
	$(GO) build -o $@ .

# Host packages to build and test evtrace (bcc library and headers, kernel
# headers for the host tests). Idempotent.
deps:
	scripts/provision.sh --dev

# Static checks: formatting, vet, and vendor/ equal to go mod vendor + patches.
check: vendor-check
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^vendor/')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# Unit tests and host integration tests (real BPF through tracepoints; root).
# The host's kernel headers may not match it: the tests compile against the
# newest Debian headers tree, merged into one by scripts/kernel-headers.sh.
unit: deps
	EVTRACE_TEST_KERNEL_SOURCE=$$(scripts/kernel-headers.sh) $(GO) test -race -count=1 ./...

test: deps check unit

vendor:
	rm -rf vendor
	$(GO) mod vendor
	scripts/patch-vendor.sh

vendor-check: vendor
	@git diff --exit-code --stat -- vendor || { echo "vendor/ differs from go mod vendor + scripts/patches"; exit 1; }
	@extra=$$(git status --porcelain --untracked-files=all -- vendor); \
	if [ -n "$$extra" ]; then echo "vendor/ has files not committed: $$extra"; exit 1; fi

clean:
	rm -f evtrace
