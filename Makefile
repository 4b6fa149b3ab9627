# The two commands of the README: `make demo` and `make test`. Both bootstrap first.
SHELL := /bin/bash
BIN := .venv/bin

.PHONY: demo test lint pytest bootstrap services-up services-down clean

demo: bootstrap
	$(BIN)/ecm demo

test: bootstrap lint pytest

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

pytest: bootstrap
	$(BIN)/pytest

bootstrap:
	@scripts/bootstrap.sh

services-up: bootstrap
	$(BIN)/ecm services up

services-down: bootstrap
	$(BIN)/ecm services down

clean: services-down
	rm -rf .state
