# Weir — the two commands a newcomer needs are `make run` and `make test`.
SWIFT ?= swift
APT_PACKAGES := libsqlite3-dev libssl-dev libnghttp2-dev nghttp2-client curl wrk nginx haproxy python3 openssl postgresql \
	chromium chromium-driver fonts-liberation fonts-dejavu-core
CONFIG ?= examples/quickstart.yaml

.PHONY: deps build release test run bench soak lint clean

## deps: install the system packages Weir and its tests need (Chromium and its driver for the
## dashboard's browser test), and the Python peers the tests use (only what is missing).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@python3 -c 'import prometheus_client' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore prometheus_client
	@python3 -c 'import grpc' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore grpcio
	@python3 -c 'import h2' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore h2
	@python3 -c 'import selenium' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore selenium
	@python3 -c 'import openai' 2>/dev/null || python3 -m pip install -q --root-user-action=ignore openai

## build: debug build of every product.
build:
	$(SWIFT) build

## release: optimized build (used by run and bench).
release:
	$(SWIFT) build -c release

## test: every test (unit, config, integration with real sockets and processes).
test: deps
	$(SWIFT) build
	$(SWIFT) test

## run: two demo model servers and weir in front of them, with a live rollout.
run: deps release
	@scripts/quickstart.sh $(CONFIG)

## bench: throughput and latency of direct vs weir vs nginx vs haproxy, measurement cost, HTTP/2
## (h2load), RSS at 1000 connections, fleet mode (commit -> applied on 3 instances, database
## statements per instance), then the core micro-benchmarks (reports only).
bench: deps release
	@scripts/bench.sh
	@python3 scripts/llm_bench.py .build/release
	@python3 scripts/shadow_bench.py .build/release
	@python3 scripts/fleet_bench.py
	@cd Benchmarks && swift package --disable-sandbox benchmark --no-progress --format markdown

## soak: steady load for SOAK_SECONDS (default 600) with RSS and open fds every 10 s (reports only).
soak: deps release
	@scripts/soak.sh

## lint: swift format in lint mode; the deploy files and example configs are well-formed.
lint:
	$(SWIFT) format lint --recursive --configuration .swift-format Sources Tests Package.swift
	python3 -c 'import sys, yaml; [list(yaml.safe_load_all(open(f))) for f in sys.argv[1:]]' deploy/k8s/*.yaml deploy/compose/*.yml examples/*.yaml examples/scenarios/*.yaml
	python3 -m json.tool deploy/grafana/weir.json > /dev/null
	for f in examples/*.yaml; do $(SWIFT) run -q weir check -c $$f || exit 1; done
	@command -v systemd-analyze >/dev/null && systemd-analyze verify deploy/weir.service 2>&1 | grep -v "is not executable" || true

clean:
	rm -rf .build
