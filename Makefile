# Visualizer: make run (the studio on the embedded default), make test (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501
# uv installs the lock; its own version is pinned too, so a fresh machine installs the same.
UV_VERSION := 0.13.9
LOCK := requirements.lock
LOCK_ARGS := pyproject.toml --extra dev --extra notebooks --universal --python-version 3.11
# The embedded default's data, as an absolute path (the notebooks run from notebooks/).
VISUALIZER_HOME ?= $(CURDIR)/.visualizer
HOME_ABS := $(abspath $(VISUALIZER_HOME))

.PHONY: install run test test-fast bench lint lock notebooks format clean docs

install: $(STAMP)

# Everything at the versions of the lock (the tests' and the notebooks' needs included); a
# dependency added to pyproject.toml but not locked yet is still installed (`make lock` pins it).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r $(LOCK) -e '.[dev,notebooks]'
	touch $(STAMP)

# Re-pin every dependency to the newest versions pyproject.toml allows (then run make test).
# After adding a dependency to pyproject.toml: make lock (keeps the other pins, adds the new one).
lock:
	test -x $(BIN)/uv || $(MAKE) install
	$(BIN)/uv pip compile $(LOCK_ARGS) -o $(LOCK) --quiet $(if $(UPGRADE),--upgrade,)

run: install
	$(BIN)/visualizer db upgrade
	$(BIN)/visualizer demo --if-missing
	$(BIN)/visualizer studio --port $(PORT)

notebooks: install
	VISUALIZER_HOME="$(HOME_ABS)" $(BIN)/visualizer db upgrade
	VISUALIZER_HOME="$(HOME_ABS)" $(BIN)/visualizer demo --if-missing
	VISUALIZER_HOME="$(HOME_ABS)" $(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)/notebooks" $(JUPYTER_ARGS)

# On every core (pytest-xdist): each worker process has its own PostgreSQL database, SQLite
# files, S3 server, VISUALIZER_HOME and free ports, and claims a Redis database under a lock;
# a free worker takes the next test (worksteal), so one long test does not hold up a batch.
# PYTEST_PARALLEL= runs in this process only (a debugger, -x on the first failure).
PYTEST_PARALLEL ?= -n auto --dist worksteal

test: install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The tests that need neither PostgreSQL nor Redis (markers postgres, redis) and take seconds
# rather than a minute (marker slow: the browsers), with both servers' addresses pointing at a
# closed port: a test that reaches one without its mark fails here. make test runs them all.
test-fast: install
	TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:9/none \
	TEST_REDIS_URL=redis://127.0.0.1:9/0 \
	$(BIN)/python -m pytest -m "not postgres and not redis and not slow" $(PYTEST_PARALLEL) $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_architecture.py
	$(MAKE) docs

# The documentation site (docs/, mkdocs.yml) into site/; strict: a broken link, an anchor that
# is not there or a page left out of the navigation fails the build (and so make lint and CI).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .visualizer .pytest_cache .mypy_cache .ruff_cache site
