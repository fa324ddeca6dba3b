# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test
# the demo needs only the tour's data packages, not the test tools
TOURSTAMP := $(VENV)/.installed-tour
# torch is pinned and installed first: an open range could pull a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: demo test install bench clean
.PRECIOUS: $(VENV)/.installed-%

# .venv/.installed-EXTRA: the venv with torch and glassnet's EXTRA extras installed
$(VENV)/.installed-%: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[$*]'
	touch $@

install: $(STAMP)

# `make demo` runs the quick tour (under a minute); `make demo FULL=1` the full one (a few minutes)
demo: $(TOURSTAMP)
	$(BIN)/glassnet tour $(if $(filter 1 yes true,$(FULL)),,--quick)

test: $(STAMP)
	KERAS_BACKEND=torch $(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	KERAS_BACKEND=torch $(BIN)/python benchmarks/rnn_speed.py --quick --json bench-out/rnn_speed.json

clean:
	rm -rf $(VENV) build *.egg-info tour-report
