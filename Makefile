# The CAM course. `make course` builds and runs it; `make test` runs every test.
# Both create .venv on first use and install the pinned dependencies (pyproject.toml).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg \
          --nbval-cell-timeout=600 -p no:cacheprovider
SMOKE  ?= False
JOBS   ?= 2

.PHONY: course site test unit nbval lint format browser-deps lab app bench models outputs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -e ".[test]"
	$(BIN)/python -c "import matplotlib.pyplot"   # build the font cache once, quietly
	touch $(STAMP)

## course: install, execute every chapter with papermill, then build the site into build/site/
course: $(STAMP)
	$(BIN)/python tools/build_course.py --smoke $(SMOKE) --jobs $(JOBS)

## site: the site alone, from build/executed/ (stored notebooks fill in unexecuted chapters)
site: $(STAMP)
	$(BIN)/python tools/build_course.py --site-only

## test: ruff, unit, widget and browser tests, then strict nbval; one summary line at the end
test: $(STAMP) browser-deps
	$(BIN)/python tools/run_tests.py

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q -m "not browser"

nbval: $(STAMP)
	$(BIN)/python -m pytest notebooks $(NBVAL) -q -n 2 --dist loadscope

## lint: ruff over camlib, tests and tools (`make format` rewrites the code in ruff's style)
lint: $(STAMP)
	$(BIN)/ruff check camlib tests tools && $(BIN)/ruff format --check camlib tests tools

format: $(STAMP)
	$(BIN)/ruff format camlib tests tools && $(BIN)/ruff check --fix camlib tests tools

browser-deps:
	@command -v chromium >/dev/null 2>&1 || \
	  { echo "installing Debian's chromium for the browser tests"; \
	    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	    { echo "ERROR: the browser tests need Chromium: run 'sudo apt-get install chromium' \
	(Debian/Ubuntu) or put a chromium binary on PATH"; exit 1; }; }

## lab: open the course in JupyterLab
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/00_start_here.ipynb

## app: the widget lab as a standalone Voila app (controls and pictures, no code)
app: $(STAMP)
	$(BIN)/voila notebooks/lab_app.ipynb --strip_sources=True

## bench: each method's time as a ratio to a forward pass, then the lab's latencies
bench: $(STAMP)
	$(BIN)/python -m camlib.bench
	$(BIN)/python -m camlib.widgets.speed

## models: retrain the model zoo and rewrite data/manifest.json
models: $(STAMP)
	$(BIN)/python -m camlib.train

## outputs: re-run the chapters in place (the stored outputs nbval compares against)
outputs: $(STAMP)
	$(BIN)/python tools/refresh_outputs.py

clean:
	rm -rf build
