# The two commands a newcomer needs:  `make run`  and  `make test`.
# Both create .venv/ from pyproject.toml on first use (about 75 s), then reuse it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test venv spark bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## spark: add the optional Spark target (dbt-spark + PySpark, docs/scale-out.md) to .venv, and
## Java 17 from Debian's packages when `java` is missing (as root or with sudo). Idempotent.
SPARK_STAMP := $(VENV)/.spark-installed
spark: $(SPARK_STAMP)

$(SPARK_STAMP): $(STAMP)
	command -v java >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }
	command -v java >/dev/null 2>&1 || { echo "make spark: java is still missing (Spark needs Java 17)" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

## run: the main job end to end on the embedded DuckDB warehouse
run: $(STAMP)
	$(BIN)/homewatch run

## test: the whole test suite (builds a tiny seeded warehouse once per session and worker).
## Two workers, each taking whole files (a file's warehouse fixtures are built once): much of
## a dbt build is single-threaded Python, so two at once finish in two thirds of the time.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

## bench: the benchmark scripts under bench/ (slow; results go to bench/RESULTS.md)
bench: $(STAMP)
	$(BIN)/python bench/bench_simulate.py
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_dbt.py

clean:
	rm -rf $(VENV) warehouse/data reports artifacts
