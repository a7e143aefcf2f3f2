# evtrace: build, test, vendor. Targets that load BPF need root.
#
#   make              build ./evtrace
#   make test         everything CI runs: checks, unit and host integration
#                     tests (root), and the end-to-end tests in a Debian VM
#   make vendor       re-vendor and re-apply scripts/patches
#   make demo         see evtrace listen work in the Debian VM
#   make tutorial STEP=N [ARGS=...]  one tutorial step in the Debian VM
#   make man          regenerate docs/man from the CLI and docs/man/src
#   make install      install the binary, man pages and completions
#                     (PREFIX=/usr/local, DESTDIR for packaging)

GO ?= go
# Everything go build reads: Go files and every file a go:embed pulls in
# (probes/*.c, probes/*.h, probes/tutorial/*.c), so make build never goes stale.
GOFILES := $(shell find . -name '*.go' -not -path './vendor/*') $(wildcard probes/*.c probes/*.h probes/tutorial/*.c) go.mod go.sum

# The packages that build without cgo: all but the bcc backend (the one
# package with cgo), main (which links it) and the VM tests.
NOCGO_PKGS = $$($(GO) list ./... | grep -v -e '/tracer/bccbackend$$' -e '/tracer/testenv/realbackends$$' -e '^github.com/evtrace/evtrace$$' -e '/e2e$$')

.PHONY: all build deps test check unit e2e demo tutorial bench vendor vendor-check clean man install

PREFIX ?= /usr/local
DESTDIR ?=

all: build
build: evtrace

evtrace: $(GOFILES)
	$(GO) build -buildvcs=auto -o $@ .

# Host packages to build and test evtrace (bcc library and headers, kernel
# headers for the host tests). Idempotent.
deps:
	scripts/provision.sh --dev

# Static checks: formatting, vet, and vendor/ equal to go mod vendor + patches.
check: vendor-check
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^vendor/')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags vmguest ./e2e/guest
	@cgo=$$($(GO) list -f '{{if .CgoFiles}}{{.ImportPath}}{{end}}' ./...); \
	if [ "$$cgo" != "github.com/evtrace/evtrace/tracer/bccbackend" ]; then echo "cgo must be in tracer/bccbackend only, found in: $$cgo"; exit 1; fi
	@command -v vagrant >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends vagrant >/dev/null
	vagrant validate --ignore-provider

# Unit tests and host integration tests (real BPF through tracepoints; root).
# -p 1: packages whose tests read trace_pipe must not run at once (it has
# one reader for the machine: lines would go to the wrong test).
# First the packages that need no libbcc, without cgo: they must build and
# pass without it.
unit: deps
	CGO_ENABLED=0 $(GO) test -count=1 $(NOCGO_PKGS)
	$(GO) test -race -count=1 -p 1 $$($(GO) list ./... | grep -v '/e2e$$')

# End-to-end tests of the real binary in the Debian VM (kernel with kprobes):
# builds the VM image the first time (~2 min), then one boot.
e2e: deps
	EVTRACE_E2E=1 $(GO) test -count=1 -v -timeout 55m ./e2e

test: deps check unit e2e

# See evtrace listen work, on any Debian 12 machine: build, boot the VM,
# start evtrace listen and a few real servers, show the events.
demo: deps evtrace
	scripts/vm/run.sh --timeout 1200 -- sh scripts/vm/demo-guest.sh

# A tutorial step in the Debian VM, for machines without kprobes: boots
# the VM, starts the step, opens the tutorial's listeners, prints what the
# step printed. STEP=all runs them in turn; ARGS are the step's options
# (ARGS='-D DIRECT_READ' for step 3's pitfall).
STEP ?= all
tutorial: deps evtrace
	scripts/vm/run.sh --timeout 1500 -- sh scripts/vm/tutorial-guest.sh $(STEP) $(ARGS)

# evtrace against bcc's Python on the same program and load; writes
# docs/benchmarks.md (root; takes several minutes).
bench: deps evtrace
	$(GO) build -o loadgen ./scripts/bench/loadgen
	$(GO) run ./scripts/bench -evtrace ./evtrace -loadgen ./loadgen

# The man pages are generated from the CLI's own flags and descriptions
# (man.go), plus docs/man/src; TestManPages fails when they are stale.
man:
	EVTRACE_UPDATE_MAN=1 $(GO) test -count=1 -run '^TestManPages$$' .

# evtrace in sbin (it needs root, as bcc's tools), its man pages, and
# completion for bash and zsh.
install: evtrace
	install -D -m 0755 evtrace $(DESTDIR)$(PREFIX)/sbin/evtrace
	install -d $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 docs/man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -D -m 0644 scripts/completion/evtrace.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/evtrace
	install -D -m 0644 scripts/completion/_evtrace $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_evtrace

vendor:
	rm -rf vendor
	$(GO) mod vendor
	scripts/patch-vendor.sh

vendor-check: vendor
	@git diff --exit-code --stat -- vendor || { echo "vendor/ differs from go mod vendor + scripts/patches"; exit 1; }
	@extra=$$(git status --porcelain --untracked-files=all -- vendor); \
	if [ -n "$$extra" ]; then echo "vendor/ has files not committed: $$extra"; exit 1; fi

clean:
	rm -f evtrace loadgen
