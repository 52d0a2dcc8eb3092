"""Non-uniform camera-shake synthesis."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblurkit.kernels.camera_shake import (
    CameraShakeConfig,
    max_extent,
    patch_kernels,
    random_camera_shake,
    render_camera_shake,
    synthesize_nonuniform,
)
from deblurkit.physics.functional import blur


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.random((h // 8 + 1, w // 8 + 1))
    return np.kron(img, np.ones((8, 8)))[:h, :w].astype(np.float32)


def test_motion_is_reproducible_and_hits_its_extent():
    a = random_camera_shake(96, 128, np.random.default_rng(3))
    b = random_camera_shake(96, 128, np.random.default_rng(3))
    np.testing.assert_array_equal(a.angles, b.angles)
    cfg = CameraShakeConfig()
    assert cfg.min_extent * 0.98 <= max_extent(a) <= cfg.max_extent * 1.02
    assert abs(a.angles.mean(0)).max() < 1e-12 and abs(a.shifts.mean(0)).max() < 1e-9


def test_patch_kernels_are_the_local_blur():
    """Near a patch centre the rendered blur equals the uniform blur by that centre's PSF."""
    H, W = 96, 128
    x = torch.from_numpy(_texture(H, W))[None, None].double()
    shake = random_camera_shake(H, W, np.random.default_rng(5), CameraShakeConfig(min_extent=8, max_extent=12))
    y = render_camera_shake(x, shake)
    centres = np.array([[30, 40], [60, 90]])
    ks = patch_kernels(shake, centres, 31)
    assert ks.shape == (2, 31, 31) and np.allclose(ks.sum(axis=(1, 2)), 1) and ks.min() >= 0
    for (r, c), k in zip(centres, ks):
        local = blur(x, torch.from_numpy(k)[None, None], "same")
        sl = (..., slice(r - 6, r + 7), slice(c - 6, c + 7))
        err = float((local[sl] - y[sl]).abs().mean())
        blurred = float((x[sl] - y[sl]).abs().mean())
        assert err < 0.15 * blurred


def test_rotation_makes_the_kernels_differ():
    s = synthesize_nonuniform(np.dstack([_texture(96, 128)] * 3), np.random.default_rng(1), (2, 2), size=31, noise=0.0)
    assert s.blurry.shape == (96, 128, 3) and s.kernels.shape[:2] == (2, 2) and s.centres.shape == (2, 2, 2)
    k = s.kernels.reshape(4, *s.kernels.shape[2:])
    assert max(np.abs(k[i] - k[0]).sum() for i in range(1, 4)) > 0.2  # not one kernel everywhere
    with pytest.raises(ValueError, match="odd"):
        patch_kernels(s.shake, s.centres.reshape(-1, 2), 30)
