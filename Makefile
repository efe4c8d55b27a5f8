# The single entry point: `make run` and `make test` are all a new machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install protos lint test test-db mutation bench run up down clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing shopmesh and its tools into $(VENV)..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip \
		> $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' \
		>> $(VENV)/install.log 2>&1 || (cat $(VENV)/install.log; exit 1)
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# generated/ (messages, stubs, .pyi, Envoy's descriptor set) from protos/.
PROTO_SOURCES := $(shell find protos third_party -name '*.proto')
DESCRIPTOR_SET := generated/shopmesh.binpb

$(DESCRIPTOR_SET): $(PROTO_SOURCES) | $(STAMP)
	$(BIN)/python tools/gen_protos.py

protos: $(STAMP)
	$(BIN)/python tools/gen_protos.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/buf lint
	@if git rev-parse --verify --quiet main >/dev/null; then \
		echo "buf breaking --against main"; \
		PATH=$(abspath $(BIN)):$$PATH $(BIN)/buf breaking --against '.git#branch=main'; \
	else echo "buf breaking: no main branch to compare against"; fi

test: $(STAMP)
	$(BIN)/pytest

# The database-facing tests alone (CI runs them again against DATABASE_URL).
test-db: $(STAMP)
	$(BIN)/pytest -m database

# Would the unit tests notice a changed rule? Mutation testing of the pure
# modules (domain/ and meshkit's errors, paging, principal, callctx); fails
# below 95 % or on a survivor not listed in tests/unit/equivalent_mutants.toml.
mutation: $(STAMP)
	$(BIN)/python tools/mutation.py

# Its own mesh on loopback, one table: sustained CreateOrder flow (errors,
# latencies, outbox backlog, CPU per order, RSS) and closed-loop figures
# against anchors measured in the same run (pgbench, a bare gRPC echo).
# Options: `make bench BENCH_ARGS="--rate 50 --duration 10"`, `--help`.
bench: $(STAMP)
	PYTHONPATH=. $(BIN)/python -m bench $(BENCH_ARGS)

run: $(STAMP) $(DESCRIPTOR_SET)
	$(BIN)/shopmesh run

up: $(STAMP) $(DESCRIPTOR_SET)
	$(BIN)/shopmesh up

down: $(STAMP)
	$(BIN)/shopmesh down

clean:
	rm -rf .shopmesh
