# model-rollout: chart, dashboards, images and a local kind cluster.
# `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON       ?= .venv/bin/python
TOOLS_BIN    := $(CURDIR)/.tools/bin
HELM         ?= $(if $(wildcard $(TOOLS_BIN)/helm),$(TOOLS_BIN)/helm,helm)
KUBECTL      ?= $(if $(wildcard $(TOOLS_BIN)/kubectl),$(TOOLS_BIN)/kubectl,kubectl)
KIND         ?= kind
DOCKER       ?= docker
CLUSTER      ?= model-rollout
NAMESPACE    ?= model-rollout
CHART        := charts/model-rollout
VERSION      ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' $(CHART)/Chart.yaml)
REGISTRY     ?=
IMAGE_PREFIX := $(if $(REGISTRY),$(REGISTRY)/,)model-rollout

OPERATOR_IMAGE    := $(IMAGE_PREFIX)-operator:$(VERSION)
GATEWAY_IMAGE     := $(IMAGE_PREFIX)-gateway:$(VERSION)
TRAINER_IMAGE     := $(IMAGE_PREFIX)-trainer:$(VERSION)
TRAINER_GPU_IMAGE := $(IMAGE_PREFIX)-trainer:$(VERSION)-cuda
IMAGES := $(OPERATOR_IMAGE) $(GATEWAY_IMAGE) $(TRAINER_IMAGE)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## Install helm and kubectl into .tools/bin
	bash tools/fetch_k8s_tools.sh

.PHONY: chart-crds
chart-crds: ## Copy the generated crds/ into the chart's files/crds/ (keeps kopf's peering CRDs)
	@test -n "$$(ls crds/*.yaml 2>/dev/null)" || { echo "crds/ is empty: run 'modelrollout crds' first" >&2; exit 1; }
	find $(CHART)/files/crds -name '*.yaml' ! -name kopf-peering.yaml -delete
	cp crds/*.yaml $(CHART)/files/crds/

.PHONY: dashboards
dashboards: ## Rebuild the Grafana dashboards' JSON from tools/rollout_dashboards
	$(PYTHON) tools/build_dashboards.py

.PHONY: chart-check
chart-check: ## Lint the chart and run its tests (helm, promtool, Prometheus)
	$(HELM) lint --strict $(CHART)
	$(PYTHON) tools/build_dashboards.py --check
	$(PYTHON) -m pytest tests/charts -q

.PHONY: images
images: ## Build the operator, gateway and trainer images (CPU); needs a Docker engine
	$(DOCKER) build -f docker/operator.Dockerfile -t $(OPERATOR_IMAGE) .
	$(DOCKER) build -f docker/gateway.Dockerfile -t $(GATEWAY_IMAGE) .
	$(DOCKER) build -f docker/trainer.Dockerfile -t $(TRAINER_IMAGE) .

.PHONY: image-trainer-cuda
image-trainer-cuda: ## Build the CUDA variant of the trainer image
	$(DOCKER) build -f docker/trainer-cuda.Dockerfile -t $(TRAINER_GPU_IMAGE) .

.PHONY: kind-up
kind-up: ## Create the local kind cluster from kind-config.yaml
	$(KIND) get clusters | grep -qx $(CLUSTER) || $(KIND) create cluster --name $(CLUSTER) --config kind-config.yaml

.PHONY: kind-load
kind-load: images ## Build the images and load them into the kind cluster
	$(foreach image,$(IMAGES),$(KIND) load docker-image $(image) --name $(CLUSTER) &&) true

.PHONY: install
install: ## helm install (or upgrade) the chart into the current cluster
	$(HELM) upgrade --install model-rollout $(CHART) --namespace $(NAMESPACE) --create-namespace \
	  --set gateway.service.type=NodePort --set gateway.service.nodePort=30080 \
	  --set monitoring.serviceMonitor.labels.release=kube-prometheus-stack \
	  --set monitoring.prometheusRule.labels.release=kube-prometheus-stack

.PHONY: kind-down
kind-down: ## Delete the local kind cluster
	$(KIND) delete cluster --name $(CLUSTER)
