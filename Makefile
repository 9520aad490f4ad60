# opsrun — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
BIN     := bin/opsrun
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
DEMO    ?= demo

.PHONY: build demo demo-down test test-short lint docs bench-exec bench-run clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/opsrun

# The main job end to end on a local fleet of real hosts (Docker containers):
# the OpsWorks demo of examples/shop. The fleet has a spare app host, left
# out of the first inventory, for trying opsrun up with a new instance.
DEMO_DIR   := .opsrun/testenv/$(DEMO)
DEMO_INV   := $(DEMO_DIR)/inventory.hcl
DEMO_FIRST := $(DEMO_DIR)/first.hcl
# The stack's state lives with the fleet, and goes with it.
DEMO_STATE := --state $(DEMO_DIR)/shop.db
SHOP       := examples/shop
demo: build
	@$(BIN) testenv down --name $(DEMO) >/dev/null 2>&1 || true
	@rm -rf $(DEMO_DIR)/shop.db $(DEMO_DIR)/releases
	$(BIN) testenv up --name $(DEMO) --layers lb:1,app:3,db:1,worker:1
	@awk '/^host "app-3" /{skip=1} !skip{print} skip && /^}/{skip=0}' $(DEMO_INV) > $(DEMO_FIRST)
	@echo; echo "== up: setup on every instance (HAProxy, gunicorn, MariaDB, the worker), then configure everywhere"
	$(BIN) up $(SHOP) -i $(DEMO_FIRST) $(DEMO_STATE)
	@echo; echo "== deploy the shop (a release per app instance, one at a time, health-checked) and its worker"
	$(BIN) deploy shop $(SHOP) -i $(DEMO_FIRST) $(DEMO_STATE)
	$(BIN) deploy shopworker $(SHOP) -i $(DEMO_FIRST) $(DEMO_STATE)
	@echo; echo "== six requests through the load balancer: both app instances answer, the visit count grows"
	@# HAProxy takes a few seconds of health checks to see the last deployed instance up.
	@$(BIN) exec -i $(DEMO_FIRST) --hosts lb-1 -- 'for i in $$(seq 30); do [ "$$(for j in 1 2 3 4; do curl -sf http://localhost/; done | cut -d: -f1 | sort -u | wc -l)" -ge 2 ] && exit 0; sleep 1; done' >/dev/null 2>&1 || true
	$(BIN) exec -i $(DEMO_FIRST) --hosts lb-1 -- 'for i in 1 2 3 4 5 6; do curl -sf http://localhost/; done'
	@echo; echo "== one round of the watcher (opsrun watch --once): every instance answers, its health check passes; load and memory per instance"
	$(BIN) watch $(SHOP) -i $(DEMO_FIRST) $(DEMO_STATE) --once --metrics-sink stdout | awk '$$2 == "load_1" || $$2 == "memory_used"'
	@echo; echo "== the releases, and the history of what ran"
	$(BIN) releases shop $(SHOP) -i $(DEMO_FIRST) $(DEMO_STATE)
	$(BIN) history $(SHOP) --limit 5 $(DEMO_STATE)
	@echo; echo "Fleet '$(DEMO)' is still up. Add the third app instance (setup, deploy, and the LB and the DB learn of it):"
	@echo "  $(BIN) up $(SHOP) -i $(DEMO_INV) $(DEMO_STATE)"
	@echo "Remove it again (configure everywhere without it, then its shutdown):  $(BIN) up $(SHOP) -i $(DEMO_FIRST) $(DEMO_STATE)"
	@echo "Deploy, roll back:  $(BIN) deploy shop $(SHOP) -i $(DEMO_INV) $(DEMO_STATE)   $(BIN) rollback shop $(SHOP) -i $(DEMO_INV) $(DEMO_STATE)"
	@echo "Keep it healthy (health checks, auto-healing, metrics every 30s; Ctrl-C stops it):"
	@echo "  $(BIN) watch $(SHOP) -i $(DEMO_FIRST) $(DEMO_STATE) --metrics-sink stdout"
	@echo "Log in with OpenSSH: ssh -F $(DEMO_DIR)/ssh_config app-1"
	@echo "Tear it down:        make demo-down   (or $(BIN) testenv down --name $(DEMO))"

demo-down: build
	$(BIN) testenv down --name $(DEMO)
	@rm -rf $(DEMO_DIR)/shop.db $(DEMO_DIR)/releases

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
