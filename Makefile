# The two commands a newcomer runs: `make demo` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.seedance-installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help install redis demo test lint format info clean train-tiny serve

help:
	@echo "make demo    generate a video from a prompt with the embedded model (no servers)"
	@echo "make test    run the test suite"
	@echo "make lint    ruff"
	@echo "make info    configs and parameter counts"
	@echo "make serve   run the serving platform locally until Ctrl-C (then: seedance client ...)"
	@echo "make train-tiny  train the tiny model on ShapesWorld (~5 h on 2 idle cores)"
	@echo "make bench   benchmarks (installs diffusers for the side-by-side anchors)"
	@echo "make protos  regenerate the gRPC stubs"

# The virtualenv. torch goes in FIRST and pinned (2.13.0, a CPU build here) so nothing pulls a
# multi-GB CUDA build; a machine whose python already has torch (a GPU box) reuses it instead.
$(STAMP): pyproject.toml setup.py
	@if [ ! -x $(PY) ]; then \
	  if $(PYTHON) -c "import torch" 2>/dev/null; then \
	    echo "using the system torch"; $(PYTHON) -m venv --system-site-packages $(VENV); \
	  else $(PYTHON) -m venv $(VENV); fi; \
	fi
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

# Redis for the serving platform's task store (`seedance serve`, the serving tests): a system
# package, installed with apt when missing and we may (root, or passwordless sudo).
REDIS := $(shell command -v redis-server 2>/dev/null)
redis:
ifeq ($(REDIS),)
	@echo "installing redis-server (apt)"; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	($$SUDO apt-get install -y -qq redis-server >/dev/null 2>&1 || \
	 ($$SUDO apt-get update -qq >/dev/null 2>&1 && $$SUDO apt-get install -y -qq redis-server >/dev/null)) || \
	 { echo "could not install redis-server: install it yourself (Debian/Ubuntu: apt-get install redis-server)"; exit 1; }
endif

install: $(STAMP) redis

DEMO_PROMPT ?= a red circle moves to the right
demo: install
	@mkdir -p outputs
	$(VENV)/bin/seedance generate "$(DEMO_PROMPT)" -o outputs/demo.mp4 --seed 1

test: install
	$(PY) -m pytest

# The serving platform on loopback until Ctrl-C (Redis, SeaweedFS, Ray Serve, the public endpoint).
serve: install
	$(VENV)/bin/seedance serve

# Train every stage of the tiny model on ShapesWorld and write model/weights/tiny (resumable:
# rerun to continue). Expect about 5 h on 2 idle CPU cores (docs/TRAINING.md has the stage times); stage
# times land in .cache/train-tiny/recipe_log.json.
train-tiny: install
	$(PY) -m seedance.training.recipes.tiny --work .cache/train-tiny --model-out model/weights/tiny

lint: install
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .

info: install
	$(VENV)/bin/seedance info

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache *.egg-info

# gRPC stubs under protos/seedance/ from the .proto files, with the pinned grpcio-tools
# (protos/generate.py checks the version); tests/test_protos.py fails when they are stale.
.PHONY: protos
protos: install
	$(PY) protos/generate.py

# Benchmarks (never part of `make test`): diffusers goes into the venv here only, for the anchors
# (Wan transformer, Wan VAE, WanPipeline); results -> benchmarks/results/*.json, docs/BENCHMARKS.md.
DIFFUSERS_VERSION ?= 0.42.1
.PHONY: bench
bench: install
	@$(PY) -c "import diffusers" 2>/dev/null || $(PY) -m pip install -q --disable-pip-version-check "diffusers==$(DIFFUSERS_VERSION)"
	TORCHINDUCTOR_CACHE_DIR=$(CURDIR)/.cache/inductor $(PY) benchmarks/run.py $(BENCH_ARGS)
