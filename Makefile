# PayLab: `make run` to use it, `make test` to check it. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask --app wsgi
PORT   ?= 8000
export PORT

.PHONY: run test test-postgresql setup test-setup db flask unlock-card clean help screenshots fuzz bench bench-quick bench-classroom release classroom classroom-setup

help:
	@echo "make run   - set up, migrate, seed and serve PayLab on http://localhost:$(PORT) (this computer only; HOST=0.0.0.0 for every address)"
	@echo "make test  - set up (including Chromium and nginx) and run the whole test suite (with CI=true, again on PostgreSQL)"
	@echo "make test-postgresql - the whole suite on fresh PostgreSQL databases of this machine's server"
	@echo "make fuzz  - the API and form fuzz tests with FUZZ_SCALE (default 20) times their cases, new ones each run"
	@echo "make bench - PayLab against a floor app of its stack, from outside (about 10 min): a table and a JSON file"
	@echo "make bench-quick - the same in about a minute and a half, 1 run and 20 sockets (CI checks that it works)"
	@echo "make bench-classroom - a class on this machine's PostgreSQL and Redis: 300 learners, 900 sockets, a burst of 300 checkouts"
	@echo "make db    - set up, migrate and seed (safe to repeat), without serving"
	@echo "make release   - a class's release step on every deploy: migrate and seed its PostgreSQL (safe to repeat, even at once)"
	@echo "make classroom - serve a class: WEB_PROCESSES gevent servers, the worker and nginx (README: Host it for a class)"
	@echo "make unlock-card CUSTOMER=thandi   - unlock a card locked by 5 wrong PINs (or CARD=<card number>)"
	@echo "make flask ARGS=\"bank create-customer --help\"   - any PayLab command (flask --app wsgi ...), set up first"

$(VENV)/.runtime-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.classroom-installed tests/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.runtime-installed node_modules/.installed

db: setup
	$(FLASK) release

# A class (README: Host it for a class): the deployment's own packages (gunicorn), then the release
# step and the stack, with the settings of the environment (or .env).
$(VENV)/.classroom-installed: $(VENV)/.runtime-installed deploy/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r deploy/requirements.txt
	touch $@

classroom-setup: setup $(VENV)/.classroom-installed

release: classroom-setup
	$(FLASK) release

classroom: classroom-setup
	$(PY) deploy/classroom.py

# wsgi.py migrates and seeds itself, in-process and only what is missing: a second start is quick.
run: setup
	$(PY) wsgi.py

# The operator's commands, each set up first as `make run` is, so they work in a fresh clone too.
# CUSTOMER, not USER: USER is always set (to your login name), so a forgotten USER= would pick that.
ifneq ($(filter unlock-card,$(MAKECMDGOALS)),)
ifeq ($(CUSTOMER)$(CARD),)
$(error Whose card? make unlock-card CUSTOMER=thandi (or CARD=<card number>))
endif
endif
unlock-card: db
	$(FLASK) bank unlock-card $(if $(CARD),--card "$(CARD)",--username "$(CUSTOMER)")

flask: db
	$(FLASK) $(ARGS)

test-setup: setup $(VENV)/.test-installed
	bash tests/tools/ensure-chromium.sh
	bash tests/tools/ensure-nginx.sh

# CI (CI=true) runs the suite a second time on PostgreSQL: see test-postgresql.
test: test-setup
	$(PY) -m pytest $(PYTEST_ARGS)
	@if [ -n "$$CI" ]; then $(MAKE) --no-print-directory test-postgresql; fi

# The whole suite again with every app on fresh PostgreSQL databases (this machine's server, or
# TEST_DATABASE_URL's), dropped as it goes. Left out: what runs its own stack whatever the suite's
# database is (the classroom and the bench on PostgreSQL already; a fresh clone's `make run` on SQLite),
# and, marked sqlite_only, the tests of SQLite's own files and lock.
POSTGRESQL_PASS_SKIPS := --deselect tests/integration/test_classroom.py --deselect tests/integration/test_bench_quick.py \
	--deselect tests/integration/test_documented_commands.py
test-postgresql: test-setup
	PAYLAB_TEST_DATABASE=postgresql $(PY) -m pytest $(POSTGRESQL_PASS_SKIPS) $(PYTEST_ARGS)

# The fuzz tests run in `make test` too, with a small budget and a fixed seed; this runs them longer.
FUZZ_SCALE ?= 20
fuzz: test-setup
	PAYLAB_FUZZ_SCALE=$(FUZZ_SCALE) $(PY) -m pytest tests/fuzz -q $(PYTEST_ARGS)

# The benchmark (tests/bench/): it starts its own PayLab, floor app and push service on free ports.
bench: test-setup
	$(PY) -m tests.bench $(BENCH_ARGS)

bench-quick: test-setup
	$(PY) -m tests.bench --quick $(BENCH_ARGS)

# The classroom's figures (tests/bench/classroom.py): the stack of `make classroom`, driven through nginx.
bench-classroom: test-setup
	$(PY) -m tests.bench.classroom $(BENCH_ARGS)

screenshots: test-setup
	SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest tests/browser -q

clean:
	rm -rf $(VENV) node_modules .pytest_cache
