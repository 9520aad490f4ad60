# opsrun — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin/opsrun
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
DEMO    ?= demo

.PHONY: build demo demo-down test test-short lint docs bench-exec bench-run clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/opsrun

# The main job end to end on a local fleet of real hosts (Docker containers).
DEMO_INV := .opsrun/testenv/$(DEMO)/inventory.hcl
HELLO    := examples/hello
demo: build
	@$(BIN) testenv down --name $(DEMO) >/dev/null 2>&1 || true
	$(BIN) testenv up --name $(DEMO) --layers web:2,db:1
	@echo; echo "== what 'setup' would change on the web layer (nothing is changed yet)"
	$(BIN) plan setup $(HELLO) -i $(DEMO_INV)
	@echo; echo "== setup: install and start nginx on every web host, in parallel"
	$(BIN) run setup $(HELLO) -i $(DEMO_INV)
	@echo; echo "== setup again: already converged, nothing changes"
	$(BIN) run setup $(HELLO) -i $(DEMO_INV)
	@echo; echo "== configure: each page is rendered from its host's facts and the layer's topology"
	$(BIN) run configure $(HELLO) -i $(DEMO_INV)
	@echo; echo "== curl both web hosts from web-1, over the fleet's network"
	$(BIN) exec -i $(DEMO_INV) --hosts web-1 -- 'set -e; for h in web-1 web-2; do curl -sf http://$$h/ | sed -n 4,5p; done'
	@echo; echo "== an ad-hoc command on every host"
	$(BIN) exec -i $(DEMO_INV) -- 'echo "$$(hostname): $$(. /etc/os-release && echo $$PRETTY_NAME), kernel $$(uname -r)"'
	@echo; echo "Fleet '$(DEMO)' is still up. Try: $(BIN) run configure $(HELLO) -i $(DEMO_INV) --output json"
	@echo "Log in with OpenSSH: ssh -F .opsrun/testenv/$(DEMO)/ssh_config web-1"
	@echo "Tear it down:        make demo-down   (or $(BIN) testenv down --name $(DEMO))"

demo-down: build
	$(BIN) testenv down --name $(DEMO)

# Every test, race detector on. Tests that need hosts start their own fleet
# and remove it; OPSRUN_REQUIRE_DOCKER makes a missing Docker a failure, not a skip.
test: lint
	OPSRUN_REQUIRE_DOCKER=1 $(GO) test -race -timeout 20m ./...

# Hermetic tests only (no Docker).
test-short:
	$(GO) test -race -short ./...

lint:
	@fmt=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$fmt" ]; then echo "gofmt needed on: $$fmt"; exit 1; fi
	$(GO) vet ./...

# opsrun exec -- true on 30 and 100 light hosts against the OpenSSH client's fan-out.
bench-exec: build
	$(GO) run ./testenv/benchexec -opsrun $(BIN) -sizes 30,100

# opsrun run on 50 light hosts with 20 idempotent resources and nothing to
# change, beside the floor of one bare round trip per host.
bench-run: build
	$(GO) run ./testenv/benchrun -opsrun $(BIN) -hosts 50 -steps 20

# docs/resources.md from the resource schemas; a test fails when it is stale.
docs:
	$(GO) run ./cmd/opsrun doc --markdown > docs/resources.md.tmp && mv docs/resources.md.tmp docs/resources.md
	$(GO) run ./cmd/opsrun doc layers --markdown > docs/layers.md.tmp && mv docs/layers.md.tmp docs/layers.md

clean:
	rm -rf bin
