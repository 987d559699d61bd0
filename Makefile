# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app app
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run run-prod install install-dev migrate demo test lint format bench load clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 或更高版本是必需的 (Python 3.11+ required)")'
	$(PYTHON) -m venv $(VENV)

# Editable install: templates/ and migrations/ live beside the package, not inside it.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(FLASK) instance init
	$(FLASK) db upgrade

demo: migrate
	$(FLASK) demo load

# The scheduler runs as its own process beside the web server and stops with it.
run: demo
	@echo "落实 Luoshi: http://$(HOST):$(PORT)"
	@$(FLASK) scheduler & SCHEDULER_PID=$$!; \
	trap 'kill $$SCHEDULER_PID 2>/dev/null' EXIT INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT) --no-reload --no-debugger

# Production on one machine: gunicorn (gunicorn.conf.py) against the local PostgreSQL server, the
# scheduler beside it. A real deployment follows docs/deployment.md.
PROD_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/luoshi
PROD_BIND ?= 127.0.0.1:8000
PROD := LUOSHI_DATABASE_URL=$(PROD_DATABASE_URL)
run-prod: install
	$(PROD) $(FLASK) instance init
	$(PROD) $(FLASK) db create-database
	$(PROD) $(FLASK) db upgrade
	$(PROD) $(FLASK) demo load
	@echo "落实 Luoshi (production): http://$(PROD_BIND)"
	@$(PROD) LUOSHI_PRODUCTION=true $(FLASK) scheduler & SCHEDULER_PID=$$!; \
	trap 'kill $$SCHEDULER_PID 2>/dev/null' EXIT INT TERM; \
	$(PROD) LUOSHI_BIND=$(PROD_BIND) $(BIN)/gunicorn -c gunicorn.conf.py 'app:create_app()'

# One pytest worker per CPU (pytest-xdist); a file's tests stay together on one worker.
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n auto --dist loadfile

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install-dev
	$(BIN)/python bench/run.py

# 50 simulated users × 60 s of the daily flow against gunicorn, on PostgreSQL (BENCH_DATABASE_URL,
# TEST_DATABASE_URL or the local server) and on SQLite with 4 workers; fails when a check fails.
load: install-dev
	$(BIN)/python bench/load_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
