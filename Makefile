# The README's two commands: `make up` (start the whole platform) and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: up test lint format install static migrate test-deps bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-installs only when pyproject.toml changes. Only the pinned dependencies go into
# the venv: the platform runs from this folder and is never installed, so a model's
# snippet can be tested in an interpreter where no project code is importable.
$(VENV)/.deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	  print('\n'.join(p['dependencies'] + p['optional-dependencies']['dev']))" > $(VENV)/requirements.txt
	$(BIN)/pip install -r $(VENV)/requirements.txt
	touch $@

# Chart.js comes from the npm registry (package-lock.json pins it); never committed.
static/vendor/chart.umd.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chart.umd.min.js

install: $(VENV)/.deps static/vendor/chart.umd.min.js

static: static/vendor/chart.umd.min.js

migrate: install
	$(BIN)/python manage.py migrate --noinput

up: migrate
	exec $(BIN)/python manage.py up

# Browser tests drive Debian's chromium; the compose test uses the docker-compose
# CLI (no engine needed). Install them where we may (root + apt), else those tests skip.
test-deps:
	@for tool in chromium docker-compose; do \
	  command -v $$tool >/dev/null 2>&1 && continue; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q --no-install-recommends $$tool >/dev/null 2>&1 \
	      || (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$tool >/dev/null)) \
	      && echo "installed $$tool for the tests" || echo "could not install $$tool: its tests will be skipped"; \
	  else echo "$$tool not found: its tests will be skipped"; fi; \
	done

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The whole suite on SQLite, then the suites marked `postgres` again on
# PostgreSQL when one answers at PG_TEST_URL.
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
test: install test-deps lint
	$(BIN)/pytest
	@if $(BIN)/python -c "import psycopg; psycopg.connect('$(PG_TEST_URL)', connect_timeout=3).close()" 2>/dev/null; then \
	  echo "== PostgreSQL suite against $(PG_TEST_URL) =="; \
	  DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -m postgres; \
	else echo "PostgreSQL not reachable at $(PG_TEST_URL): PostgreSQL suite skipped"; fi

# Every benchmark in bench/, one after the other (about 30 minutes on 2 cores), into one
# report: var/bench/report.md and report.json. One of them: bench/report.py --only NAME.
bench: install
	$(BIN)/python bench/report.py

clean:
	rm -rf var staticfiles node_modules static/vendor
