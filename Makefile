# Landmark recognition platform — developer entry points. `make help` lists them.
SHELL := /bin/bash
DOTNET ?= dotnet
DATA ?= data
DATASET ?= ../shared/datasets/landmarks-mini
SPLIT ?= val
SERVER ?=
REPORT ?=
CLI := $(DOTNET) run --project services/cli/Landmark.Cli.csproj -c Release --
CLI_ARGS := --data $(DATA) $(if $(SERVER),--server $(SERVER),)

.PHONY: help build test run up down import train jobs evaluate recognize stats models import-model publish rollback rollout bench bench-train tune images render clean

help: ## This list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

build: ## Build everything (warnings are errors)
	$(DOTNET) build Landmark.Services.sln -nologo

test: ## Run every test (unit, integration with real RabbitMQ and S3, end-to-end); ends with "N passed, N failed"
	build/run-tests.sh

run: ## Run the whole platform in one process (gRPC on localhost:8080, data in $(DATA)/)
	$(DOTNET) run --project services/platform/Landmark.Platform.csproj -c Release -- --Landmark:DataDirectory=$(abspath $(DATA))

up: ## Distributed mode on this machine: RabbitMQ + S3 server + the six services as separate processes
	tools/up.sh

down: ## Stop what `make up` started
	tools/down.sh

import: ## Import DATASET into the gallery (embedded, or SERVER=host:port)
	$(CLI) import --dataset $(DATASET) $(CLI_ARGS)

train: ## Train a model on DATASET's gallery (imported if needed), roll it out and leave it live; TRAIN_ARGS="--epochs 4 --set Head=ArcFace"
	$(CLI) train --dataset $(DATASET) $(CLI_ARGS) $(TRAIN_ARGS)

jobs: ## Training jobs and their state
	$(CLI) jobs $(CLI_ARGS)

evaluate: ## GAP and accuracy of DATASET's SPLIT (imports the gallery if needed); REPORT=DIR also writes DIR/index.html and DIR/report.json
	$(CLI) evaluate --dataset $(DATASET) --split $(SPLIT) $(CLI_ARGS) $(if $(REPORT),--report $(REPORT),)

recognize: ## Recognize FILES="a.jpg b.jpg"
	$(CLI) recognize $(FILES) $(CLI_ARGS)

stats: ## Gallery counts
	$(CLI) stats $(CLI_ARGS)

models: ## Models in the registry (* = live)
	$(CLI) models $(CLI_ARGS)

import-model: ## Import an ONNX embedding model MODEL=file.onnx after the platform's checks; IMPORT_ARGS="--mean 0.485,0.456,0.406 --std 0.229,0.224,0.225"
	@test -n "$(MODEL)" || { echo "usage: make import-model MODEL=<file.onnx> [IMPORT_ARGS=\"--input-size N --mean r,g,b --std r,g,b --name NAME\"]"; exit 2; }
	$(CLI) models import $(MODEL) $(CLI_ARGS) $(IMPORT_ARGS)

publish: ## Roll model VERSION=... out (gallery re-embedded in the background, then switched) and wait until it is live
	@test -n "$(VERSION)" || { echo "usage: make publish VERSION=<model version> (see make models)"; exit 2; }
	$(CLI) models publish $(VERSION) --wait $(CLI_ARGS)

rollback: ## Roll back to the previously live model (or VERSION=...) and wait until it is live
	$(CLI) models rollback $(VERSION) --wait $(CLI_ARGS)

rollout: ## The model roll-out in progress (or the last one)
	$(CLI) models rollout $(CLI_ARGS)

bench: ## Benchmarks (not part of `make test`): import images/s and recognition latency/throughput on a fresh data dir
	rm -rf artifacts/bench-data
	$(CLI) benchmark --dataset $(DATASET) --split $(SPLIT) --data artifacts/bench-data

bench-train: ## Fine-tuning images/s beside PyTorch (Debian's python3-torch, same net/size/batch) and the embedder's ResNet-18 images/s
	@command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import torch, onnx' 2>/dev/null || echo "PyTorch peer missing: apt-get install -y python3-torch python3-onnx"
	$(DOTNET) run --project benchmarks/Landmark.TrainingBench -c Release -- --speed

tune: ## Scorer settings, flip TTA, DBA and query expansion for the live model on DATASET's val (TUNE_ARGS="--flip --qe 2 --dba 1")
	$(DOTNET) run --project benchmarks/Landmark.Tuning -c Release -- $(DATASET) $(TUNE_ARGS)

REGISTRY ?= landmark
TAG ?= dev
SERVICES := ingest preprocess trainer embedder retrieval scorer platform
GPU_SERVICES := trainer embedder

images: ## Build every container image (needs a Docker engine): CPU images, plus -gpu variants of trainer and embedder
	@for s in $(SERVICES); do \
	  echo "== $(REGISTRY)/landmark-$$s:$(TAG)"; \
	  docker build -f services/$$s/Dockerfile -t $(REGISTRY)/landmark-$$s:$(TAG) . || exit 1; \
	done
	@for s in $(GPU_SERVICES); do \
	  echo "== $(REGISTRY)/landmark-$$s:$(TAG)-gpu"; \
	  docker build -f services/$$s/Dockerfile --build-arg VARIANT=gpu -t $(REGISTRY)/landmark-$$s:$(TAG)-gpu . || exit 1; \
	done

render: ## Render the kustomize overlays into artifacts/k8s (offline; needs kubectl)
	mkdir -p artifacts/k8s
	kubectl kustomize k8s/overlays/dev-cpu > artifacts/k8s/dev-cpu.yaml
	kubectl kustomize k8s/overlays/prod-gpu > artifacts/k8s/prod-gpu.yaml
	@echo "rendered to artifacts/k8s/"

clean: ## Remove build output (keeps $(DATA)/)
	$(DOTNET) clean Landmark.Services.sln -nologo >/dev/null; rm -rf artifacts
