"""Uniform blur operator: scipy agreement, FFT = direct, adjointness, gradients, batching."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss
import torch

from deblurkit.physics import UniformBlur, blur, blur_adjoint, correlation_to_convolution

KERNEL_SHAPES = [(1, 1), (3, 3), (4, 6), (7, 2), (9, 9)]


def scipy_reference(x: np.ndarray, k: np.ndarray, mode: str) -> np.ndarray:
    if mode == "valid":
        return ss.convolve2d(x, k, mode="valid")
    if mode == "circular":
        return ss.convolve2d(x, k, mode="same", boundary="wrap")
    h, w = k.shape
    sh, sw = (h - 1) // 2, (w - 1) // 2
    padded = np.pad(x, ((h - 1 - sh, sh), (w - 1 - sw, sw)), mode="reflect")
    return ss.convolve2d(padded, k, mode="valid")


@pytest.mark.parametrize("mode", ["valid", "same", "circular"])
@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("kshape", KERNEL_SHAPES)
def test_matches_scipy_convolve2d(mode, method, kshape):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 17, 20, generator=g, dtype=torch.float64)
    k = torch.rand(*kshape, generator=g, dtype=torch.float64)
    y = blur(x, k, mode=mode, method=method)
    for b in range(2):
        for c in range(3):
            ref = scipy_reference(x[b, c].numpy(), k.numpy(), mode)
            np.testing.assert_allclose(y[b, c].numpy(), ref, rtol=1e-10, atol=1e-10)


def test_same_mode_odd_kernel_matches_scipy_same_symmetric_centre():
    # With an odd kernel the 'same' output is centred exactly like scipy's mode="same".
    x = np.random.default_rng(0).random((12, 12))
    k = np.zeros((5, 5))
    k[2, 4] = 1.0  # a pure shift by two pixels to the right
    y = blur(torch.from_numpy(x)[None, None], torch.from_numpy(k), mode="same")[0, 0].numpy()
    np.testing.assert_allclose(y[:, 4:10], ss.convolve2d(x, k, mode="same")[:, 4:10])
    np.testing.assert_allclose(y[:, 4:10], x[:, 2:8])


def test_correlation_helper_matches_scipy_correlate2d():
    x = np.random.default_rng(1).random((15, 15))
    kc = np.random.default_rng(2).random((5, 4))
    k = correlation_to_convolution(torch.from_numpy(kc))
    y = blur(torch.from_numpy(x)[None, None], k, mode="valid")[0, 0].numpy()
    np.testing.assert_allclose(y, ss.correlate2d(x, kc, mode="valid"), atol=1e-12)


@pytest.mark.parametrize("mode", ["valid", "same", "circular"])
@pytest.mark.parametrize("kshape", [(5, 5), (15, 15), (6, 3)])
def test_fft_equals_direct(mode, kshape):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 1, 40, 33, generator=g)
    k = torch.rand(*kshape, generator=g)
    k = k / k.sum()
    torch.testing.assert_close(blur(x, k, mode, "fft"), blur(x, k, mode, "direct"), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["valid", "same", "circular"])
@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("kshape", [(5, 5), (4, 7)])
def test_adjointness(mode, method, kshape):
    g = torch.Generator().manual_seed(4)
    x = torch.rand(2, 2, 24, 19, generator=g, dtype=torch.float64)
    k = torch.rand(2, 1, *kshape, generator=g, dtype=torch.float64)
    ax = blur(x, k, mode, method)
    y = torch.randn(ax.shape, generator=g, dtype=torch.float64)
    aty = blur_adjoint(y, k, mode, method)
    assert aty.shape == x.shape
    lhs, rhs = (ax * y).sum(), (x * aty).sum()
    assert abs(lhs - rhs) <= 1e-4 * abs(lhs)


def test_adjointness_float32_relative_1e_4():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(1, 3, 64, 64, generator=g)
    k = torch.rand(17, 17, generator=g)
    k = k / k.sum()
    for mode in ("valid", "same", "circular"):
        ax = blur(x, k, mode)
        y = torch.rand(ax.shape, generator=g)
        assert abs((ax * y).sum() - (x * blur_adjoint(y, k, mode)).sum()) <= 1e-4 * (ax * y).sum()


def test_batched_kernels_apply_per_image():
    g = torch.Generator().manual_seed(6)
    x = torch.rand(3, 2, 20, 20, generator=g)
    k = torch.rand(3, 1, 5, 5, generator=g)
    y = blur(x, k, "same")
    for b in range(3):
        torch.testing.assert_close(y[b : b + 1], blur(x[b : b + 1], k[b, 0], "same"))


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_gradients_reach_image_and_kernel(method):
    x = torch.rand(1, 1, 16, 16, requires_grad=True)
    k = torch.rand(1, 1, 5, 5, requires_grad=True)
    target = torch.rand(1, 1, 16, 16)
    ((blur(x, k, "same", method) - target) ** 2).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert k.grad is not None and torch.isfinite(k.grad).all() and k.grad.abs().sum() > 0


def test_kernel_gradient_matches_finite_difference():
    torch.manual_seed(7)
    x = torch.rand(1, 1, 12, 12, dtype=torch.float64)
    k = torch.rand(1, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda kk: blur(x, kk, "same", "fft"), (k,))


def test_identity_kernel_is_identity():
    x = torch.rand(1, 3, 10, 11)
    delta = torch.zeros(5, 5)
    delta[2, 2] = 1
    for mode in ("same", "circular"):
        torch.testing.assert_close(blur(x, delta, mode), x)


def test_operator_class_and_errors():
    op = UniformBlur(torch.ones(3, 3) / 9, mode="circular")
    x = torch.rand(1, 1, 8, 8)
    torch.testing.assert_close(op(x), blur(x, op.kernel, "circular"))
    torch.testing.assert_close(op.A_adjoint(x), blur_adjoint(x, op.kernel, "circular"))
    with pytest.raises(ValueError):
        UniformBlur(mode="bogus")
    with pytest.raises(ValueError):
        UniformBlur().A(x)
    with pytest.raises(ValueError):
        blur(torch.rand(8, 8), torch.ones(3, 3))
    with pytest.raises(ValueError):
        blur(torch.rand(2, 1, 8, 8), torch.ones(3, 1, 3, 3))


def test_fast_fft_size_is_minimal_5_smooth():
    from deblurkit.physics.functional import fast_fft_size

    def smooth(m: int) -> bool:
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        return m == 1

    for n in range(1, 300):
        m = fast_fft_size(n)
        assert m >= n and smooth(m) and not any(smooth(j) for j in range(n, m))
