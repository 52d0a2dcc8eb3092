"""Kernel estimation on a reduced-scale copy (deblurkit.solvers.multiscale) and its use as the
global stage of the non-uniform solver."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblurkit.models.kernel_gan import build_kernel_gan
from deblurkit.physics.blur import blur
from deblurkit.solvers import multiscale, nonuniform
from deblurkit.solvers.multiscale import deblur_image_at_scale, resize_kernel
from deblurkit.solvers.nonblind import deconvolve
from deblurkit.solvers.presets import FAST, NonUniformPreset, Preset

INF = float("inf")


def _tiny(steps: int = 3, **kw) -> Preset:
    base = dict(
        name="tiny", steps=steps, width=8, scales=3, skip_channels=4, crop=None, final="nonblind", max_restarts=1,
        accept_residual_ratio=INF, max_residual_ratio=INF,  # the residual check is tested elsewhere
    )
    return Preset(**{**base, **kw})


def _blurry(n: int = 96) -> np.ndarray:
    g = torch.Generator().manual_seed(0)
    x = torch.full((1, 3, n, n), 0.5)
    for _ in range(12):
        r0, c0 = torch.randint(0, n - 8, (2,), generator=g).tolist()
        x[..., r0 : r0 + 12, c0 : c0 + 20] = 0.1 + 0.8 * torch.rand(3, 1, 1, generator=g)
    k = torch.zeros(7, 7)
    k[3, :] = 1 / 7
    y = blur(x, k, mode="same")[0] + 0.01 * torch.randn(3, n, n, generator=g)
    return y.clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float32).copy()


def test_resize_kernel_scales_the_extent_and_keeps_the_mass_centred():
    k = np.zeros((15, 15))
    k[7, 4:11] = 1 / 7  # a 7-px horizontal line
    out = resize_kernel(k, 2.0, 31)
    assert out.shape == (31, 31) and out.dtype == np.float32 and out.min() >= 0
    assert out.sum() == pytest.approx(1.0, abs=1e-6)
    cols = np.nonzero(out.sum(0) > 1e-3)[0]
    assert 12 <= cols.max() - cols.min() + 1 <= 17  # twice the 7 px
    r = np.arange(31)
    assert abs((out.sum(0) * r).sum() - 15) <= 0.5 and abs((out.sum(1) * r).sum() - 15) <= 0.5
    assert np.allclose(resize_kernel(k, 1.0, 15), k, atol=1e-6)  # factor 1 in its own window: unchanged
    with pytest.raises(ValueError, match="odd size"):
        resize_kernel(k, 2.0, 30)
    with pytest.raises(ValueError, match="factor"):
        resize_kernel(k, 0.0, 31)
    with pytest.raises(ValueError, match="positive mass"):
        resize_kernel(np.zeros((15, 15)), 2.0, 31)


def test_deblur_image_at_scale_estimates_on_the_reduced_copy(monkeypatch):
    y = _blurry(96)
    seen = []
    real = multiscale.deblur_image

    def spy(img, **kw):
        seen.append(img.shape)
        return real(img, **kw)

    monkeypatch.setattr(multiscale, "deblur_image", spy)
    r = deblur_image_at_scale(y, 0.5, kernel_prior="fcn", preset=_tiny(), kernel_size=9, seed=0)
    assert seen == [(48, 48, 3)]
    assert r.image.shape == y.shape and r.kernel_raw.shape == (9, 9) and r.kernel_code is None
    assert r.kernel_raw.sum() == pytest.approx(1.0, abs=1e-5) and "scale 0.5" in r.notes[0]
    assert r.crop == (0, 0, 96, 96)  # the whole 48-px copy, in full-resolution pixels
    # the image is the full-resolution deconvolution with the resized, cleaned kernel
    rgb = torch.from_numpy(y).permute(2, 0, 1)
    nb, noise = _tiny().nonblind.resolve_with_noise(rgb)
    expect = deconvolve(rgb, torch.from_numpy(r.kernel), nb).clamp(0, 1).permute(1, 2, 0).numpy()
    assert np.allclose(r.image, expect, atol=1e-5) and r.nonblind["noise_std"] == pytest.approx(noise)
    # a copy narrower than 4 kernel sides: estimated at full resolution, and the notes say so
    seen.clear()
    r2 = deblur_image_at_scale(y[:64, :64], 0.5, kernel_prior="fcn", preset=_tiny(), kernel_size=9, seed=0)
    assert seen == [(64, 64, 3)] and "full resolution" in r2.notes[0]
    with pytest.raises(ValueError, match="scale"):
        deblur_image_at_scale(y, 1.5, kernel_prior="fcn", preset=_tiny(), kernel_size=9)


def test_nonuniform_global_scale_reaches_the_global_stage(monkeypatch):
    with pytest.raises(ValueError, match="global_scale"):
        NonUniformPreset("bad", FAST, FAST.with_(crop=None), global_scale=0.0)
    scales = []
    real = nonuniform.deblur_image_at_scale

    def spy(img, scale, **kw):
        scales.append(scale)
        return real(img, scale, **kw)

    monkeypatch.setattr(nonuniform, "deblur_image_at_scale", spy)
    G, _ = build_kernel_gan(31, seed=0)
    tiny = _tiny(2, crop=None)
    preset = NonUniformPreset("test", tiny, tiny.with_(name="test-svola"), global_scale=0.5)
    # grey, 128 px: the half-size copy (64 px) is narrower than 4 × 31, so the stage itself falls back to full
    # resolution (its note names the scale); this test checks the plumbing, the resized path is tested above
    y = _blurry(128)[:, :, :1].copy()
    r = nonuniform.deblur_image_nonuniform(y, G, grid=(1, 2), preset=preset, global_prior="fcn", seed=0)
    assert scales == [0.5] and r.image.shape == y.shape
    assert any("scale 0.5" in n for n in r.global_result.notes)
