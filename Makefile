# Two commands do all set-up on a fresh machine: `make book` and `make test` (see README.md).
PROFILE ?= cpu
# more `lmvid run` options for `make book`, e.g. RUN_ARGS="--force" or RUN_ARGS="--only 02 --no-html"
RUN_ARGS ?=
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: book test bench lab venv clean

# Create .venv if missing; torch first, pinned, so pip takes the build on disk and nothing resolves another torch.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[test,book,lab,bench,web]"
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 2 -q

# `lmvid run`: notebooks up to date in runs/$(PROFILE) are skipped (see README, "Reruns")
book: $(STAMP)
	$(PY) -m lmvid_lib.cli run --profile $(PROFILE) $(RUN_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.run

# jupytext pairs nbs/*.py with .ipynb (nbs/jupytext.toml); .py files open as notebooks by default.
lab: $(STAMP)
	mkdir -p $(VENV)/share/jupyter/lab/settings
	echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' \
		> $(VENV)/share/jupyter/lab/settings/overrides.json
	$(VENV)/bin/jupyter lab --notebook-dir=nbs

clean:
	rm -rf _build book/_build book/*.ipynb
