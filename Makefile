# lagscale: `make demo` runs the demo, `make test` runs every check and test tier.
# Both install what they need (Debian packages, virtualenv, Kafka jars, Kubernetes binaries).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= kafka
export LAGSCALE_CACHE ?= $(HOME)/.cache/lagscale
export LAGSCALE_STATE ?= /tmp/lagscale

.PHONY: setup test lint unit demo demo-local demo-clean render bench bench-fleet images clean kafka-up kafka-down k8s-up k8s-down e2e-keda lab-shell

$(VENV)/.installed: pyproject.toml scripts/setup
	scripts/setup
	touch $@

setup: $(VENV)/.installed

test: setup
	scripts/run-tests

lint: setup
	scripts/run-tests lint

unit: setup
	$(VENV)/bin/pytest -q tests/unit

# DEMO=local|minikube|keda picks the variant (default: minikube when a profile runs, else local).
demo: setup
	scripts/demo

demo-local: setup
	DEMO=local scripts/demo

# Removes what the minikube demo created (objects, Kafka volume, namespace, KEDA, images).
demo-clean:
	scripts/demo-clean

render: setup
	$(VENV)/bin/lagscale render --ignore-env --profile eventhubs -o deploy/eventhubs
	$(VENV)/bin/lagscale render --ignore-env --profile kafka -o deploy/kafka

# The producer, consumer and scaler images (docker when an engine answers, else buildah; see docs/images.md).
images: setup
	scripts/images build

# Benchmarks (not tests): each writes its table into docs/benchmarks.md. They use the running
# broker, or start one (scripts/kafka up) and leave it running for the next run; bench_fleet.py also
# the control plane and the KEDA operator (scripts/k8s, scripts/keda).
bench: setup
	$(PY) bench/bench_clients.py --update-docs docs/benchmarks.md
	$(PY) bench/bench_evaluation.py --update-docs docs/benchmarks.md
	$(PY) bench/bench_rebalance.py --update-docs docs/benchmarks.md
	$(PY) bench/bench_fleet.py --sizes 100 --update-docs docs/benchmarks.md

# The large fleet run against the real KEDA operator: SIZES=100,300,1000 by default.
SIZES ?= 100,300,1000
bench-fleet: setup
	$(PY) bench/bench_fleet.py --sizes $(SIZES) --update-docs docs/benchmarks.md

# Real KEDA (operator + metrics adapter), the real HPA and real consumer processes, in the lab's own
# network namespace (scripts/lab; see docs/keda-loop.md). Also part of `make test`'s e2e tier.
e2e-keda: setup
	scripts/lab prepare
	scripts/lab run $(VENV)/bin/pytest -q tests/e2e/test_keda_loop.py tests/e2e/test_pod_backer.py \
		tests/e2e/test_keda_operator.py tests/e2e/test_keda_external_scaler.py \
		tests/e2e/test_keda_kafka_scenarios.py tests/e2e/test_keda_fleet.py

# A shell inside a fresh lab (everything up; `exit` stops it all).
lab-shell: setup
	scripts/lab prepare
	scripts/lab run bash

kafka-up: setup
	scripts/kafka up

kafka-down:
	scripts/kafka down

k8s-up: setup
	scripts/k8s up

k8s-down:
	scripts/k8s down

clean:
	-scripts/kafka down
	-scripts/k8s down
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
