# attanet_ros developer commands. Everything installs into .venv, idempotently.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint format pytest demo bench bench-gpu clean

install: $(STAMP)

# Re-runs only when the requirements or setup.py change.
$(STAMP): requirements.txt setup.py setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# ruff, then the layering contracts in pyproject.toml ([tool.importlinter]).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Tests draw offscreen (tests/gui/conftest.py sets it too); `make demo` keeps the desktop's platform so its
# viewer is visible.
pytest: install
	QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-offscreen} $(PY) -m pytest -q

test: install lint pytest

demo: install
	$(VENV)/bin/attanet demo

bench: install
	$(VENV)/bin/attanet bench --suite cpu --markdown bench/RESULTS.md

bench-gpu: install
	$(VENV)/bin/attanet bench --suite gpu --markdown bench/RESULTS-gpu.md

clean:
	rm -rf build install log .pytest_cache
