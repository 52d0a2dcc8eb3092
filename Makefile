# One-command set-up: every target creates .venv and installs the package when needed.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   ?= demo-out

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: blur a built-in example with a synthesized kernel (the deblurring demo comes with `deblur`).
demo: $(STAMP)
	$(BIN)/deblurkit example camera -o $(DEMO)/camera.png
	$(BIN)/deblurkit blur $(DEMO)/camera.png --random-kernel --size 31 --noise 0.01 --seed 0 -o $(DEMO)/camera_blurred.png
	$(BIN)/deblurkit synth-kernels --size 31 --count 64 --seed 0 -o $(DEMO)/kernels.npz --preview $(DEMO)/kernels.png
	@echo "demo outputs in $(DEMO)/: camera.png (sharp), camera_blurred.png, camera_blurred_kernel.png/.npy, kernels.png"

## test: the whole test suite (fast; runs in CI through .ci/run).
test: $(STAMP)
	$(BIN)/python -m pytest -q

## bench: speed benchmarks; results go to docs/benchmarks.md by hand, with the machine.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(DEMO) .pytest_cache
