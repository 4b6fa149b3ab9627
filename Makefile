# The two commands of the README: `make demo` and `make test`. Both bootstrap first.
SHELL := /bin/bash
BIN := .venv/bin

.PHONY: demo test test-fast lint pytest bootstrap services-up services-down clean loadtest bench bench-cluster

demo: bootstrap
	$(BIN)/ecm demo

test: bootstrap lint pytest

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports  # the import contract in .importlinter (docs/architecture.md)

pytest: bootstrap
	$(BIN)/pytest

# The inner loop: every test that needs no real servers (those are marked integration
# automatically, tests/conftest.py). `make test` still runs everything.
test-fast: bootstrap
	$(BIN)/pytest -q -m "not integration"

bootstrap:
	@scripts/bootstrap.sh

# Locust against a private stack; results in loadtests/results/ (docs/auth.md, "Load tests").
# Scale with e.g. `make loadtest LOADTEST_ARGS="--users 30 --duration 20s"`.
loadtest: bootstrap
	$(BIN)/python -m loadtests.run $(LOADTEST_ARGS)

services-up: bootstrap
	$(BIN)/ecm services up

services-down: bootstrap
	$(BIN)/ecm services down

clean: services-down
	rm -rf .state

# Sim -> Mosquitto -> ingest -> PostgreSQL on a private stack; writes loadtests/results/ingest.*
bench: bootstrap
	$(BIN)/python -m loadtests.ingest_bench

# The clustered stack (3 NATS JetStream nodes, PostgreSQL primary + synchronous standby): events/s
# with 1-3 workers beside the single box, and a national morning peak hour at 10x speed;
# writes loadtests/results/cluster.* (docs/scaling.md). `BENCH_ARGS=--small` for a quick run.
bench-cluster: bootstrap
	$(BIN)/python -m loadtests.cluster_bench $(BENCH_ARGS)
