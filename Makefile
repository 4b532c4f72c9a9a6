# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The one pin of the Python version: the image is built on it, CI and the docs read it.
PYTHON_VERSION := $(shell cat .python-version)

.PHONY: run test install install-test migrate check clean prove bench docs image emulator

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: requirements/base.txt requirements/constraints.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements/base.txt -c requirements/constraints.txt
	touch $@

$(VENV)/.installed-test: requirements/test.txt $(VENV)/.installed-base
	$(PY) -m pip install --quiet -r requirements/test.txt -c requirements/constraints.txt
	touch $@

install: $(VENV)/.installed-base
install-test: $(VENV)/.installed-test

## Serve on http://127.0.0.1:8000 with the embedded defaults (SQLite, local memory,
## in-process Tokenizer, console SMS and email). Codes appear on this console.
run: install
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver $(HOST):$(PORT)

# The Firebase Auth Emulator (firebase-tools, pinned in package.json / package-lock.json).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## The Firebase Auth Emulator for trying Google sign-in by hand (docs/clients/google.md):
## auth only, on firebase.json's 127.0.0.1:9099, UI off, a "demo-" project (never reaches
## Google). In another terminal:
##   FIREBASE_PROJECT_ID=demo-authenticator FIREBASE_AUTH_EMULATOR_HOST=127.0.0.1:9099 make run
EMULATOR_PROJECT ?= demo-authenticator
emulator: node_modules/.installed
	NO_UPDATE_NOTIFIER=1 node_modules/.bin/firebase emulators:start --only auth --project $(EMULATOR_PROJECT)

# The admin's browser test drives Debian's chromium (headless, through Playwright); a
# fresh machine has none. Root installs it directly, anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
/usr/bin/chromium:
	$(SUDO) apt-get update && $(SUDO) apt-get install -y chromium

# The Sonyflake lease is tested through Debian's PgBouncer in transaction pooling
# (tests/scaling); the tests start their own, so the package's service is not needed.
/usr/sbin/pgbouncer:
	$(SUDO) apt-get update && $(SUDO) apt-get install -y pgbouncer

## The whole suite against PostgreSQL and Redis on 127.0.0.1 (DATABASE_URL, REDIS_URL);
## the Google sign-in tests start and stop a Firebase Auth Emulator themselves.
test: install-test node_modules/.installed /usr/bin/chromium /usr/sbin/pgbouncer
	$(PY) -m pytest $(PYTEST_ARGS)

check: install
	DEBUG=1 $(PY) manage.py check
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles

## Security proofs at full size against a live gunicorn (fuzz 200 examples/operation,
## brute force, 16 processes x 200 redemptions, 1,000-request enumeration, hostile input),
## then the fault proofs (Tokenizer, and PostgreSQL/Redis behind a local proxy; pass
## FAULTS_ARGS=--real to restart the real servers on a machine of your own).
## DATABASE_URL (a scratch database) and REDIS_URL default to the local servers.
## See docs/security/proofs.md.
SCRATCH_ENV = DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/authn_prove} \
              REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/13}
prove: install-test
	$(SCRATCH_ENV) $(PY) -m scripts.prove.run $(PROVE_ARGS)
	$(SCRATCH_ENV) $(PY) -m scripts.prove.faults $(FAULTS_ARGS)

## Throughput and latency of full flows vs a bare Django + DRF endpoint, same run.
## BENCH_ARGS="--users 1000000 --duration 60" for the large table. See docs/security/proofs.md.
bench: install-test
	$(SCRATCH_ENV) $(PY) -m scripts.bench.bench $(BENCH_ARGS)

## The documentation site (mkdocs.yml, docs/), served with live reload on DOCS_ADDR;
## `make test` builds it strictly (tests/test_docs.py).
DOCS_ADDR ?= 127.0.0.1:8001
docs: install-test
	$(PY) -m mkdocs serve --strict --dev-addr $(DOCS_ADDR)

## The service image, on the Python of .python-version (scripts/build-image-offline.sh
## builds it without Docker Hub or a Docker engine).
image:
	docker build --build-arg PYTHON_VERSION=$(PYTHON_VERSION) -t authenticator .
