"""Shared test helpers: a CLI runner that goes through the real entry point's error handling."""

from __future__ import annotations

import os

import numpy as np
import pytest
from typer.testing import CliRunner

from deblurkit.cli import app


class Result:
    """Exit code and combined output of one CLI call."""

    def __init__(self, code: int, output: str) -> None:
        self.code, self.output = code, output


@pytest.fixture
def cli():
    """Run ``deblurkit ARGS...`` in-process; returns a :class:`Result`."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        res = runner.invoke(app, [str(a) for a in args])
        return Result(res.exit_code, res.output)

    return run


@pytest.fixture
def rng():
    """A seeded NumPy generator."""
    return np.random.default_rng(1234)


def pytest_configure(config):
    """Under pytest-xdist, each worker uses one torch thread so that the workers share the cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Give every test the worker's torch thread count back (a CLI ``--threads`` or a test may change it)."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
