# make demo  — set up, then run the main job on embedded defaults
# make test  — set up, then run the test suite
# make docs  — set up, then build the documentation site into site/ (strict)
PY ?= python3
OUT ?= convexlaw-demo

.PHONY: setup demo test lint typecheck docs bench

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

typecheck: setup
	$(PY) -m mypy

docs: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

bench: setup
	$(PY) bench/bound.py
