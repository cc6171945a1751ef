# Two entry points, both idempotent: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synthtrace-installed
PIP := $(PY) -m pip install --disable-pip-version-check -q

.PHONY: demo test install clean

install: $(STAMP)

# torch first, pinned to the CPU build, so no dependency pulls a CUDA build;
# invisible-watermark without its declared deps (torch, full opencv) for the same reason.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev,report,c2pa,watermark,lora,service,postgres]"
	$(PIP) --no-deps invisible-watermark==0.2.0
	touch $(STAMP)

# The Ray extra (scale-out scans) only for the tests: `make demo` stays without it.
RAY_STAMP := $(VENV)/.synthtrace-ray-installed

$(RAY_STAMP): $(STAMP)
	$(PIP) -e ".[ray]"
	touch $(RAY_STAMP)

demo: $(STAMP)
	$(VENV)/bin/synthtrace demo

# The layer contracts first (docs/architecture.md): a wrong arrow fails the build in a second.
test: $(STAMP) $(RAY_STAMP)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

clean:
	rm -rf $(VENV) demo-output .pytest_cache
