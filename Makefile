# attanet_ros developer commands. Everything installs into .venv, idempotently.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# GPU=1: onnxruntime-gpu (TensorRT + CUDA providers) in place of the CPU onnxruntime. Both wheels
# install the same `onnxruntime` module, so the other one is removed first; switching back is
# `make install` (without GPU=1). TensorRT and CUDA/cuDNN libraries come from the machine (docs/ROS.md).
GPU ?=
ifeq ($(GPU),1)
STAMP := $(VENV)/.installed-gpu
ORT_WANTED := onnxruntime-gpu
ORT_OTHER := onnxruntime
OTHER_STAMP := $(VENV)/.installed
else
ORT_WANTED := onnxruntime
ORT_OTHER := onnxruntime-gpu
OTHER_STAMP := $(VENV)/.installed-gpu
endif
PIP := $(PY) -m pip --quiet --disable-pip-version-check

.PHONY: install test lint format pytest demo bench bench-gpu clean

# vision_msgs/LabelInfo is not on PyPI: built against the pip ROS wheels when missing or out of date (a stamp
# of its sources and the ROS versions; a no-op otherwise). Without a compiler/CMake it says what that costs.
install: $(STAMP)
	@$(PY) scripts/build_vision_msgs.py

# Re-runs only when the requirements or setup.py change.
$(STAMP): requirements.txt setup.py setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	rm -f $(OTHER_STAMP)
	! $(PIP) show $(ORT_OTHER) >/dev/null 2>&1 || $(PIP) uninstall -y $(ORT_OTHER)
	grep -v '^onnxruntime' requirements.txt > $(VENV)/requirements-resolved.txt
	echo '$(ORT_WANTED)>=1.18' >> $(VENV)/requirements-resolved.txt
	$(PIP) install -r $(VENV)/requirements-resolved.txt
	$(PIP) install --no-deps --no-build-isolation -e .
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
# viewer is visible. The training tests run in a process of their own, first: they fork data workers (as
# `attanet train` does), and fork() is only safe in a process without the threads the ROS, viewer and OpenVINO
# tests leave behind (Fast DDS participants, Qt, TBB pools); a fork there segfaulted the test runner.
pytest: install
	QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-offscreen} $(PY) -m pytest -q tests/training
	QT_QPA_PLATFORM=$${QT_QPA_PLATFORM:-offscreen} $(PY) -m pytest -q --ignore=tests/training

test: install lint pytest

demo: install
	$(VENV)/bin/attanet demo

# The CPU suite: the old latency table, and every CPU backend/precision round-robin (bench/cpu_matrix.py)
# with mIoU on 20 unseen synthetic frames (seed 1000: no training run uses it).
bench: install
	test -d build/bench-eval || $(VENV)/bin/attanet synth --out build/bench-eval --num 20 --seed 1000 --split val
	$(VENV)/bin/attanet bench --suite cpu --eval-data build/bench-eval --markdown bench/RESULTS.md

bench-gpu: install
	$(VENV)/bin/attanet bench --suite gpu --markdown bench/RESULTS-gpu.md

clean:
	rm -rf build install log .pytest_cache
