# audit-grants: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: demo test lint build unit templates bench bench-scale lambda-local iam

## Run the main job locally: emulator up, set up, grant, show, sweep, show, emulator down.
demo:
	$(CARGO) build --quiet
	scripts/moto.sh scripts/demo.sh

## Every check and every test, against a local AWS emulator that this starts and stops.
test:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings
	scripts/check-templates.sh
	$(CARGO) build --quiet --workspace --all-targets
	$(CARGO) test --lib --bins --test properties --test standin
	$(CARGO) run --quiet --example policy_documents > target/iam-documents.json
	.venv-cfn/bin/python scripts/check-policies.py --document target/iam-documents.json auditor_policy
	tests/iam/run.sh target/iam-documents.json
	tests/browser/install.sh
	scripts/moto.sh scripts/test-emulator.sh
	scripts/moto.sh scripts/cargo-lambda-check.sh

## Format and lint only.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## cfn-lint, sam validate --lint and checkov on both templates.
templates:
	scripts/check-templates.sh

## Every business rule over in-memory fakes, and the property tests (no emulator; seconds).
unit:
	$(CARGO) test --lib --test properties --test standin

## Benchmarks with the release build: round trips against the stand-in, start-up phases,
## and cold start, latency and memory against the emulator (figures in BENCHMARKS.md).
bench:
	scripts/bench.sh

## The sweeper at scale against the stand-in for IAM, STS and DynamoDB (no emulator):
## 1,000 due roles over 100 accounts at concurrency 1, 4, 16, 32, 64 (knobs: examples/scale.rs).
bench-scale:
	$(CARGO) run --release --quiet --example scale

build:
	$(CARGO) build --release

## The function under `cargo lambda watch` with sample events (see README).
lambda-local:
	$(CARGO) build --quiet
	scripts/moto.sh scripts/cargo-lambda-check.sh

## The independent IAM evaluation of every policy document (tests/iam, Node; no emulator).
iam:
	$(CARGO) run --quiet --example policy_documents > target/iam-documents.json
	tests/iam/run.sh target/iam-documents.json
