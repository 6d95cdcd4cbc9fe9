# The whole set-up on a fresh machine is one of these two targets:
#   make pipeline   create .venv if missing, install (the real-music packages too), run the pipeline (dvc repro)
#                   on params.yaml's profile
#   make test       create .venv if missing, install, run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-deps
MUSIC_STAMP := $(VENV)/.music
# Real produced music for the pipeline's corpus (params.yaml: corpus.packages; ~420 MB). hyperrogue-music and
# wesnoth*-music are reserved for independent evaluation and never installed or read by the project.
MUSIC_PACKAGES := ufoai-music warzone2100-music nexuiz-music singularity-music

.PHONY: pipeline test lint dvc-yaml clean-venv

# Debian packages: Chromaprint's fpcalc (the fingerprint baseline) and the ffmpeg command line (the README's pipe
# examples, run by tests/test_readme.py). apt-get as root, else through sudo.
$(SYSTEM_STAMP):
	@{ command -v fpcalc && command -v ffmpeg; } >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    libchromaprint-tools ffmpeg; }
	@mkdir -p $(VENV) && touch $@

$(STAMP): pyproject.toml constraints.txt $(SYSTEM_STAMP)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-cache-dir --constraint constraints.txt --editable '.[dev]'
	@touch $(STAMP)

# Where apt exists; elsewhere the corpus step says the packages are missing and falls back to the demo corpus.
$(MUSIC_STAMP): $(SYSTEM_STAMP)
	@dpkg -s $(MUSIC_PACKAGES) >/dev/null 2>&1 || ! command -v apt-get >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(MUSIC_PACKAGES); }
	@touch $@

pipeline: $(STAMP) $(MUSIC_STAMP)
	$(BIN)/soundsafe pipeline run

# One pytest worker per CPU (pytest-xdist), a test file per worker: a module's fixtures (the README sandbox, the
# DVC clone) are built once, and the two pipeline runs (DVC, Kubeflow) go to different workers. pytest exits 5
# when it collects no tests; that is not a failure of the suite.
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check soundsafe tests components pipelines benchmarks

dvc-yaml: $(STAMP)
	$(BIN)/soundsafe pipeline dvc render

clean-venv:
	rm -rf $(VENV)
