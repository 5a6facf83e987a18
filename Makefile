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

.PHONY: help build test test-unit run up down import train jobs evaluate recognize stats models import-model publish rollback rollout bench clean-bench bench-index bench-index-sweep bench-index-startup bench-train bench-hostile tune images render clean

help: ## This list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

build: ## Build everything (warnings are errors)
	$(DOTNET) build Landmark.Services.sln -nologo

test: ## Run every test (unit, integration with real RabbitMQ and S3, end-to-end); ends with "N passed, N failed"
	build/run-tests.sh

test-unit: ## The fast inner loop: unit test projects only (no servers, no end-to-end runs); ends with "N passed, N failed"
	build/run-tests.sh --unit

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

# Each run imports into a new directory and deletes nothing first: on ext4 without a journal (this VM's disk) an import
# within five minutes of deleting the previous run's ~6,000 files spent 2-5 % of its CPU walking past the freed inodes
# (perf: recently_deleted, find_inode_bit), a cost of the benchmark's clean-up, not of the platform. `make clean-bench`.
BENCH_RUN := artifacts/bench/$(shell date -u +%Y%m%dT%H%M%SZ)

bench: ## Benchmarks (not part of `make test`): import and recognition beside the bare model, new data dir per run under artifacts/bench/; BENCH_ARGS="--flood-seconds 20" adds an overload flood
	$(CLI) benchmark --dataset $(DATASET) --split $(SPLIT) --data $(BENCH_RUN) $(BENCH_ARGS)
	@echo "this run's data: $(BENCH_RUN) ($$(du -sh $(BENCH_RUN) | cut -f1)); make clean-bench removes every run's"

clean-bench: ## Remove the data of every `make bench` run (artifacts/bench/)
	rm -rf artifacts/bench artifacts/bench-data

bench-index: ## Vector index: embedded HNSW vs exact scan vs hnswlib (python3-hnswlib) on clustered 512-d vectors; POINTS="100000 1000000"
	@/usr/bin/python3 -c 'import hnswlib' 2>/dev/null || echo "hnswlib peer missing: apt-get install -y python3-hnswlib"
	$(DOTNET) run --project benchmarks/Landmark.VectorIndex.Benchmarks -c Release -- --compare $(or $(POINTS),100000)

bench-index-sweep: ## Recall@10 and QPS per search ef on the collection (graph on huge pages, and on 4 KiB pages) and hnswlib index bench-index left (no build), rounds alternating; POINTS=1000000 EF="48 64 80"
	$(DOTNET) run --project benchmarks/Landmark.VectorIndex.Benchmarks -c Release -- --sweep $(or $(POINTS),1000000) $(EF)

bench-index-startup: ## Embedded index start-up: opens the collection bench-index left on disk (builds one if missing) three times; POINTS=1000000
	$(DOTNET) run --project benchmarks/Landmark.VectorIndex.Benchmarks -c Release -- --startup $(or $(POINTS),1000000)

bench-train: ## Fine-tuning images/s beside PyTorch (Debian's python3-torch, same net/size/batch) and the embedder's ResNet-18 images/s
	@command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import torch, onnx' 2>/dev/null || echo "PyTorch peer missing: apt-get install -y python3-torch python3-onnx"
	$(DOTNET) run --project benchmarks/Landmark.TrainingBench -c Release -- --speed

bench-hostile: ## Hostile images (generated corpus, eight 8,900×8,900 PNGs) through preprocess at the configured concurrency: answers and peak resident memory (VmHWM); HOSTILE_ARGS="--Landmark:Preprocess:ConcurrencyLimit=4"
	$(DOTNET) run --project benchmarks/Landmark.HostileBench -c Release -- $(HOSTILE_ARGS)

tune: ## Scorer settings, flip TTA, DBA and query expansion for the live model on DATASET's val (TUNE_ARGS="--flip --qe 2 --dba 1")
	$(DOTNET) run --project benchmarks/Landmark.Tuning -c Release -- $(DATASET) $(TUNE_ARGS)

REGISTRY ?= landmark
TAG ?= dev
SERVICES := ingest preprocess trainer embedder retrieval scorer platform
GPU_SERVICES := trainer embedder
# libtorch of the -gpu trainer: TorchSharp-cpu here (the only one served); TorchSharp-cuda-linux where it can be restored.
TORCH_PACKAGE ?= TorchSharp-cpu

# Base images: build/base-images.env, where SDK_IMAGE, ASPNET_IMAGE or CUDA_IMAGE given to make win (one pin by hand:
# make images ASPNET_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0@sha256:<digest of docker buildx imagetools inspect>).
BASE_IMAGE_ARGS := SDK_IMAGE ASPNET_IMAGE CUDA_IMAGE

images: ## Build every container image (needs a Docker engine) on the digest-pinned bases of build/base-images.env (SDK_IMAGE=, ASPNET_IMAGE=, CUDA_IMAGE= override one): CPU images, plus -gpu variants of trainer and embedder
	@set -a; . build/base-images.env; $(foreach a,$(BASE_IMAGE_ARGS),$(if $($(a)),$(a)='$($(a))';)) set +a; \
	for a in $(BASE_IMAGE_ARGS); do \
	  if [[ ! "$${!a}" =~ @sha256:[0-9a-f]{64}$$ ]]; then \
	    if [ "$(ALLOW_UNPINNED)" != 1 ]; then echo "$$a='$${!a}' is not pinned by digest: run tools/pin-base-images.sh (build/base-images.env) or pass $$a=<image>@sha256:<digest> (ALLOW_UNPINNED=1 builds on bare tags)"; exit 2; fi; \
	    echo "warning: $$a is not pinned by digest: building on $${!a:-the default tag of the Dockerfiles}"; \
	  fi; \
	done; \
	pins=""; for a in $(BASE_IMAGE_ARGS); do [ -n "$${!a}" ] && pins="$$pins --build-arg $$a=$${!a}"; done; \
	labels="--build-arg VERSION=$(TAG) --build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) --build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) --build-arg SOURCE=$$(git config --get remote.origin.url 2>/dev/null || echo unknown)"; \
	for s in $(SERVICES); do \
	  echo "== $(REGISTRY)/landmark-$$s:$(TAG)"; \
	  docker build -f services/$$s/Dockerfile $$pins $$labels -t $(REGISTRY)/landmark-$$s:$(TAG) . || exit 1; \
	done; \
	for s in $(GPU_SERVICES); do \
	  echo "== $(REGISTRY)/landmark-$$s:$(TAG)-gpu"; \
	  docker build -f services/$$s/Dockerfile $$pins $$labels --build-arg VARIANT=gpu --build-arg TORCH_PACKAGE=$(TORCH_PACKAGE) -t $(REGISTRY)/landmark-$$s:$(TAG)-gpu . || exit 1; \
	done

render: ## Render the kustomize overlays into artifacts/k8s (offline; needs kubectl)
	mkdir -p artifacts/k8s
	kubectl kustomize k8s/overlays/dev-cpu > artifacts/k8s/dev-cpu.yaml
	kubectl kustomize k8s/overlays/prod-gpu > artifacts/k8s/prod-gpu.yaml
	@echo "rendered to artifacts/k8s/"

clean: ## Remove build output (keeps $(DATA)/)
	$(DOTNET) clean Landmark.Services.sln -nologo >/dev/null; rm -rf artifacts
