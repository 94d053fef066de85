# make demo  — set up, then run the main job on embedded defaults
# make test  — set up, then run the test suite
PY ?= python3
OUT ?= convexlaw-demo

.PHONY: setup demo test lint bench

.setup-done: pyproject.toml scripts/setup.sh
	PYTHON=$(PY) bash scripts/setup.sh
	touch .setup-done

setup: .setup-done

demo: setup
	$(PY) -m convexlaw demo --out $(OUT)

test: setup
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check src tests bench

bench: setup
	$(PY) bench/bound.py
