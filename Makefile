# Both targets build their own virtual environment from nothing but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/deliverability-econ demo

# The report's browser test needs Chromium (Debian's `chromium`, /usr/bin/chromium). Install it
# where missing, best effort: without root or a package mirror the test skips and says why.
test: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium for the report's headless-browser test (best effort)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } \
	    >/dev/null 2>&1 || echo "could not install chromium; the browser test will be skipped"; \
	} || true
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check deliverability_econ tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
