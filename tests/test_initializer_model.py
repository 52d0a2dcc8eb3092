"""The kernel initializer's model: shapes, input transforms, config checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblurkit.models.initializer import InitializerConfig, KernelInitializer, gradient_autocorrelation, standardize
from deblurkit.physics import blur


@pytest.mark.parametrize(
    ("features", "hw"),
    [("luma", (32, 32)), ("luma", (64, 48)), ("luma", (255, 255)), ("autocorr", (40, 48)), ("autocorr", (255, 300))],
)
def test_initializer_shapes(features, hw):
    E = KernelInitializer(InitializerConfig(features=features)).eval()
    with torch.no_grad():
        assert E(torch.rand(2, 1, *hw)).shape == (2, 100, 1, 1)
    with pytest.raises(ValueError):
        E(torch.rand(2, 3, 64, 64))


def test_config_rejects_unknown_features():
    with pytest.raises(ValueError, match="features"):
        InitializerConfig(features="rgb")


def test_autocorr_needs_room_for_the_lags():
    E = KernelInitializer(InitializerConfig(size=31, features="autocorr"))
    with pytest.raises(ValueError, match="H, W >"):
        E(torch.rand(1, 1, 32, 64))


def test_standardize_is_contrast_invariant():
    y = torch.rand(2, 1, 20, 30)
    torch.testing.assert_close(standardize(0.3 * y + 0.2), standardize(y), atol=1e-5, rtol=1e-4)
    assert torch.isfinite(standardize(torch.full((1, 1, 8, 8), 0.5))).all()


def _brute_autocorr(y: np.ndarray, r: int) -> np.ndarray:
    gx = y[:-1, 1:] - y[:-1, :-1]
    gy = y[1:, :-1] - y[:-1, :-1]
    h, w = gx.shape
    out = np.zeros((2 * r + 1, 2 * r + 1))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            ys, xs = slice(max(0, -dy), min(h, h - dy)), slice(max(0, -dx), min(w, w - dx))
            yd, xd = slice(max(0, dy), min(h, h + dy)), slice(max(0, dx), min(w, w + dx))
            n = (h - abs(dy)) * (w - abs(dx))
            out[dy + r, dx + r] = ((gx[ys, xs] * gx[yd, xd]).sum() + (gy[ys, xs] * gy[yd, xd]).sum()) / n
    return out / out[r, r]


def test_gradient_autocorrelation_matches_its_definition():
    rng = np.random.default_rng(0)
    y = rng.random((21, 17))
    got = gradient_autocorrelation(torch.from_numpy(y)[None, None].float(), 5)[0, 0].double().numpy()
    np.testing.assert_allclose(got, _brute_autocorr(y, 5), atol=1e-5)


def test_gradient_autocorrelation_shows_the_blur_direction():
    """A horizontal 9-px box blur of noise correlates the gradients along x, not along y."""
    torch.manual_seed(0)
    k = torch.zeros(15, 15)
    k[7, 3:12] = 1 / 9
    ac = gradient_autocorrelation(blur(torch.rand(1, 1, 160, 160), k, mode="same"), 15)[0, 0]
    assert ac.shape == (31, 31) and ac[15, 15] == 1
    assert ac[15, 15 + 4] > 0.3 and ac[15 + 4, 15].abs() < 0.05


@pytest.mark.parametrize(("size", "side"), [(31, 63), (55, 56), (75, 76)])
def test_autocorr_input_is_pooled_to_about_64_pixels(size, side):
    E = KernelInitializer(InitializerConfig(size=size, features="autocorr"))
    assert E.features(torch.rand(1, 1, 200, 180)).shape == (1, 1, side, side)
    assert E(torch.rand(1, 1, 200, 180)).shape == (1, 100, 1, 1)


def test_without_the_stem_pool_the_first_stage_sees_a_twice_finer_map():
    """``stem_pool=False`` drops the max-pool only: same parameters, 2× finer maps after the stem."""
    with_pool = KernelInitializer(InitializerConfig(size=31, features="autocorr"))
    without = KernelInitializer(InitializerConfig(size=31, features="autocorr", stem_pool=False))
    assert [p.shape for p in with_pool.parameters()] == [p.shape for p in without.parameters()]
    x = torch.rand(1, 1, 63, 63)
    sizes = []
    for E in (with_pool, without):
        n = E.net
        sizes.append(n.layer1(n.maxpool(n.relu(n.bn1(n.conv1(x))))).shape[-1])
        with torch.no_grad():
            assert E.eval()(torch.rand(2, 1, 64, 80)).shape == (2, 100, 1, 1)
    assert sizes == [16, 32]


def test_config_rejects_unknown_code():
    with pytest.raises(ValueError, match="code"):
        InitializerConfig(code="u")


def test_w_code_generator_reads_relu_of_flat_feature_maps():
    from deblurkit.models import WCodeGenerator, build_kernel_gan, code_generator

    G, _ = build_kernel_gan(31, seed=0)
    G.eval()
    Gw = WCodeGenerator(G)
    assert code_generator(G, "z") is G and isinstance(code_generator(G, "w"), WCodeGenerator)
    assert Gw.config.size == 31 and Gw.config.latent_dim == 256 * 3 * 3
    with pytest.raises(ValueError, match="code"):
        code_generator(G, "u")
    z = G.sample_latent(3, torch.Generator().manual_seed(0))
    with torch.no_grad():
        flat = G.first_layer(z).reshape(3, -1, 1, 1)
        torch.testing.assert_close(Gw(flat), G(z))  # g1's output is ≥ 0: relu changes nothing
        torch.testing.assert_close(Gw.sample_latent(3, torch.Generator().manual_seed(0)), flat)
        code = torch.randn(2, Gw.config.latent_dim, 1, 1)
        torch.testing.assert_close(Gw(code), G.from_w(torch.relu(code).reshape(2, 256, 3, 3)))
        k = Gw(code)
    assert k.shape == (2, 1, 31, 31) and torch.allclose(k.sum((-2, -1)), torch.ones(2, 1))
    raw = WCodeGenerator(G, nonnegative=False)
    torch.testing.assert_close(raw.to_w(code), code.reshape(2, 256, 3, 3))


@pytest.mark.parametrize("code", ["z", "w"])
def test_initial_feature_map_and_kernel_for_both_codes(code):
    from deblurkit.models import build_kernel_gan
    from deblurkit.solvers import initial_feature_map, initial_kernel

    G, _ = build_kernel_gan(31, seed=0)
    G.eval()
    dim = 100 if code == "z" else 256 * 3 * 3
    E = KernelInitializer(InitializerConfig(size=31, latent_dim=dim, features="autocorr", code=code)).eval()
    y = torch.rand(2, 1, 80, 80)
    with torch.no_grad():
        e = E(y)
        expected_w = G.first_layer(e) if code == "z" else torch.relu(e).reshape(2, 256, 3, 3)
    w0 = initial_feature_map(E, G, y)
    torch.testing.assert_close(w0, expected_w)
    assert float(w0.min()) >= 0
    with torch.no_grad():
        torch.testing.assert_close(initial_kernel(E, G, y), G.from_w(expected_w))
    other = "w" if code == "z" else "z"  # the other code's interpretation of the same head length
    wrong = KernelInitializer(InitializerConfig(size=31, latent_dim=dim, features="autocorr", code=other)).eval()
    with pytest.raises(ValueError, match="do not match"):
        initial_kernel(wrong, G, y)
