# audit-grants: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: demo test lint build unit templates bench

## Run the main job locally: emulator up, set up, grant, show, sweep, show, emulator down.
demo:
	$(CARGO) build --quiet
	scripts/moto.sh scripts/demo.sh

## Every check and every test, against a local AWS emulator that this starts and stops.
test:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --quiet -- -D warnings
	scripts/check-templates.sh
	$(CARGO) build --quiet --examples
	scripts/moto.sh $(CARGO) test --lib --bins --tests

## Format and lint only.
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## cfn-lint, sam validate --lint and checkov on both templates.
templates:
	scripts/check-templates.sh

## Unit tests only (no emulator).
unit:
	$(CARGO) test --lib

## Benchmarks with the release build against the emulator (figures in BENCHMARKS.md).
bench:
	scripts/bench.sh

build:
	$(CARGO) build --release
