# PayLab: `make run` to use it, `make test` to check it. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask --app wsgi
PORT   ?= 8000
export PORT

.PHONY: run test setup test-setup db flask unlock-card clean help screenshots fuzz bench bench-quick

help:
	@echo "make run   - set up, migrate, seed and serve PayLab on http://localhost:$(PORT) (this computer only; HOST=0.0.0.0 for every address)"
	@echo "make test  - set up (including Chromium) and run the whole test suite"
	@echo "make fuzz  - the API and form fuzz tests with FUZZ_SCALE (default 20) times their cases, new ones each run"
	@echo "make bench - PayLab against a floor app of its stack, from outside (about 10 min): a table and a JSON file"
	@echo "make bench-quick - the same in about a minute and a half, 1 run and 20 sockets (CI checks that it works)"
	@echo "make db    - set up, migrate and seed (safe to repeat), without serving"
	@echo "make unlock-card CUSTOMER=thandi   - unlock a card locked by 5 wrong PINs (or CARD=<card number>)"
	@echo "make flask ARGS=\"bank create-customer --help\"   - any PayLab command (flask --app wsgi ...), set up first"

$(VENV)/.runtime-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.runtime-installed tests/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.runtime-installed node_modules/.installed

db: setup
	$(FLASK) release

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

test: test-setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The fuzz tests run in `make test` too, with a small budget and a fixed seed; this runs them longer.
FUZZ_SCALE ?= 20
fuzz: test-setup
	PAYLAB_FUZZ_SCALE=$(FUZZ_SCALE) $(PY) -m pytest tests/fuzz -q $(PYTEST_ARGS)

# The benchmark (tests/bench/): it starts its own PayLab, floor app and push service on free ports.
bench: test-setup
	$(PY) -m tests.bench $(BENCH_ARGS)

bench-quick: test-setup
	$(PY) -m tests.bench --quick $(BENCH_ARGS)

screenshots: test-setup
	SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest tests/browser -q

clean:
	rm -rf $(VENV) node_modules .pytest_cache
