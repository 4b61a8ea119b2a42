# The single entry point: CI runs `make test` through .ci/run; the README documents `make local` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CDK := node_modules/.bin/cdk

# Node 20 prints an end-of-life banner under jsii; the CDK CLI must not phone home (notices, telemetry).
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: help java-check setup layer demo local test test-fast synth deploy bench bench-replies bench-report bench-sla bench-surge eval models lock clean

help:
	@echo "make demo    run the whole system on this machine with seeded traffic and print a report"
	@echo "             (installs what it needs on first use)"
	@echo "make test    run the whole test suite (likewise)"
	@echo "make local   serve the local stack until Ctrl+C"
	@echo "make synth   synthesize the CloudFormation template into cdk.out (no AWS account needed)"
	@echo "make deploy  cdk deploy into the AWS account of your current credentials"
	@echo "make bench   measure acknowledgement latency and cold import time"

$(PY_STAMP): pyproject.toml requirements-lock.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

java-check:
	@command -v java >/dev/null || { echo "Java 17+ is required for DynamoDB Local (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"; exit 1; }

setup: $(PY_STAMP) $(NODE_STAMP) layer java-check

layer: $(PY_STAMP)
	$(PY) -m infra.layer_build

demo: setup
	$(VENV)/bin/responder demo $(ARGS)

local: setup
	$(VENV)/bin/responder local $(ARGS)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(PY_STAMP)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

synth: setup
	$(CDK) synth --quiet

deploy: setup
	$(CDK) deploy $(ARGS)

bench: setup
	$(PY) -m bench.ingest_bench $(ARGS)

# The review page (time to first byte, cold import) and the sender (approve-to-platform latency, cost per reply).
bench-replies: setup
	$(PY) -m bench.review_bench $(ARGS)
	$(PY) -m bench.sender_bench --replies 300

# `responder report` on 100,000 synthetic mentions: compute, files and plots, the local read, the deployed read's calls.
# Breach detection delay of the SLA timers locally, and their cost per million mentions.
bench-sla: setup
	$(PY) -m bench.sla_bench $(ARGS)

bench-report: setup
	$(PY) -m bench.report_bench $(ARGS)

# A seeded viral surge scored against its ground truth (see bench/surge_bench.py for the knobs).
bench-surge: setup
	$(PY) -m bench.surge_bench $(ARGS)

# Classifier evaluation on the development data (a folder with tweeteval/, bitext/, twcs/).
DATA ?= ../shared/data
eval: setup
	$(PY) -m responder_cli.eval_cmd --data $(DATA) $(ARGS)

# Rebuild the sentiment and offensive-language models (recipe and sources: responder/data/SOURCES.md).
models: setup
	nice $(PY) -m bench.train_models sentiment --semeval $(DATA)/semeval --tweeteval $(DATA)/tweeteval
	nice $(PY) -m bench.train_models offensive --tweeteval $(DATA)/tweeteval

# Regenerate the lock after changing pinned versions in pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^responder' > requirements-lock.txt
	rm -rf .lock-venv

clean:
	rm -rf cdk.out .build .pytest_cache
