"""SVOLA operator: partition of unity, reduction to the uniform blur, adjointness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblurkit.physics.functional import blur
from deblurkit.physics.svola import SVOLABlur, axis_grid, default_grid, grid_windows, parse_grid

CASES = [((64, 80), (2, 3), 5), ((50, 50), (1, 1), 7), ((97, 61), (5, 3), 9), ((40, 33), (4, 4), 3), ((70, 90), (3, 2), 31)]


@pytest.mark.parametrize(("shape", "grid", "S"), CASES)
def test_windows_are_a_partition_of_unity(shape, grid, S):
    w = grid_windows(*shape, grid, torch.float64)
    assert w.shape == (grid[0] * grid[1], *shape)
    assert float(w.min()) >= 0 and float(w.max()) <= 1
    torch.testing.assert_close(w.sum(0), torch.ones(shape, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize(("shape", "grid", "S"), CASES)
@pytest.mark.parametrize("mode", ["valid", "same"])
def test_identical_kernels_give_the_uniform_operator(shape, grid, S, mode):
    if mode == "same" and S // 2 >= min(shape):
        pytest.skip("kernel too large for reflect padding")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, *shape, generator=g, dtype=torch.float64)
    k = torch.rand(S, S, generator=g, dtype=torch.float64)
    k /= k.sum()
    op = SVOLABlur(grid, mode)
    torch.testing.assert_close(op.A(x, k), blur(x, k, mode), atol=1e-12, rtol=0)
    ks = k.expand(grid[0] * grid[1], 1, S, S)
    torch.testing.assert_close(op.A(x, ks), blur(x, k, mode), atol=1e-12, rtol=0)


@pytest.mark.parametrize(("shape", "grid", "S"), CASES)
def test_matches_the_definition_and_is_adjoint(shape, grid, S):
    g = torch.Generator().manual_seed(1)
    P = grid[0] * grid[1]
    x = torch.rand(1, 2, *shape, generator=g, dtype=torch.float64)
    ks = torch.rand(P, 1, S, S, generator=g, dtype=torch.float64)
    op = SVOLABlur(grid)
    y = op.A(x, ks)
    w = grid_windows(*shape, grid, torch.float64)
    ref = sum(blur(x * w[i], ks[i : i + 1], "valid") for i in range(P))  # Σ_i k_i ⊛ (w_i ⊙ x)
    torch.testing.assert_close(y, ref, atol=1e-12, rtol=0)
    v = torch.rand(y.shape, generator=g, dtype=torch.float64)
    lhs, rhs = float((y * v).sum()), float((x * op.A_adjoint(v, ks)).sum())
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)


def test_gradients_flow_to_image_and_kernels():
    x = torch.rand(1, 1, 20, 24, dtype=torch.float64, requires_grad=True)
    ks = torch.rand(4, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: SVOLABlur((2, 2)).A(a, b), (x, ks), eps=1e-6, atol=1e-6)


def test_bad_arguments_raise():
    op = SVOLABlur((2, 2))
    x = torch.rand(1, 1, 32, 32)
    with pytest.raises(ValueError, match="4 patches"):
        op.A(x, torch.rand(3, 1, 5, 5))
    with pytest.raises(ValueError, match="odd"):
        op.A(x, torch.rand(4, 1, 4, 4))
    with pytest.raises(ValueError, match="mode"):
        SVOLABlur((2, 2), "circular")
    with pytest.raises(ValueError, match="ROWSxCOLS"):
        parse_grid("3by4")
    with pytest.raises(ValueError):
        axis_grid(10, 11)


def test_grid_rule_and_parsing():
    assert default_grid(512, 512) == (4, 4)
    assert default_grid(321, 481) == (3, 4)
    assert default_grid(40, 40) == (1, 1)
    assert parse_grid("5x10") == (5, 10) and parse_grid("2×3") == (2, 3)
    a = axis_grid(100, 3)
    assert a.spacing == 34 and a.centres[0] - a.spacing <= 0 and a.centres[-1] + a.spacing >= 99
    assert np.allclose(grid_windows(30, 30, (1, 1)).numpy(), 1.0)
