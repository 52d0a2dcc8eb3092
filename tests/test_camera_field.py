"""Camera-motion kernel field: rendering matches the synthesis, zero roll is uniform, estimation recovers a roll."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from pathlib import Path

from deblurkit.kernels.camera_shake import CameraShake, patch_kernels, render_camera_shake
from deblurkit.metrics.kernels import mnc
from deblurkit.physics.camera_field import CameraMotionField, pose_homographies, splat_paths
from deblurkit.models.serialization import load_kernel_generator
from deblurkit.physics.svola import grid_centres
from deblurkit.solvers.camera_field import CameraFieldConfig, FieldDataTerm, estimate_camera_field
from deblurkit.solvers.nonuniform import deblur_image_nonuniform

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "kernel_gan_31.safetensors"


def _line_kernel(S: int = 15) -> torch.Tensor:
    k = torch.zeros(S, S, dtype=torch.float64)
    k[7, 3:12] = torch.linspace(1, 2, 9, dtype=torch.float64)
    k[8, 10:13] = 0.5
    return k / k.sum()


def test_zero_roll_field_is_the_uniform_kernel_on_every_patch():
    k = _line_kernel()
    field = CameraMotionField.from_kernel(k, 120, 160, threshold=0.0)
    ks = field.kernels(grid_centres(120, 160, (3, 4)).double(), 15)
    assert ks.shape == (12, 15, 15)
    assert torch.allclose(ks, k.expand(12, 15, 15), atol=1e-12)


def test_field_renders_the_synthesis_psf_of_the_same_motion():
    rng = np.random.default_rng(0)
    T, H, W = 24, 90, 120
    roll = np.cumsum(rng.normal(0, 0.004, T))
    shifts = np.cumsum(rng.normal(0, 0.6, (T, 2)), axis=0)
    roll, shifts = roll - roll.mean(), shifts - shifts.mean(0)
    shake = CameraShake(H, W, 120.0, np.stack([roll, 0 * roll, 0 * roll], 1), shifts)
    centres = np.array([[10, 15], [45, 60], [80, 110]], dtype=np.float64)
    truth = patch_kernels(shake, centres, 21)
    radius = 0.5 * np.hypot(H, W)
    field = CameraMotionField(H, W, torch.from_numpy(roll * radius), torch.from_numpy(shifts), torch.ones(T, dtype=torch.float64), focal=120.0)
    ks = field.kernels(torch.from_numpy(centres), 21).detach().numpy()
    assert np.abs(ks - truth).max() < 1e-9
    # and the homographies are those of the synthesis
    Hs = pose_homographies(torch.from_numpy(shake.angles), torch.from_numpy(shake.shifts), 120.0, H, W).numpy()
    assert np.allclose(Hs, shake.homographies())


def test_splatting_keeps_mass_and_is_differentiable_in_position():
    d = torch.tensor([[[0.3, -1.7], [2.2, 0.5]]], dtype=torch.float64, requires_grad=True)
    k = splat_paths(d, torch.tensor([0.25, 0.75], dtype=torch.float64), 9)
    assert torch.isclose(k.sum(), torch.tensor(1.0, dtype=torch.float64)) and bool((k >= 0).all())
    (k * torch.arange(81, dtype=torch.float64).reshape(1, 9, 9)).sum().backward()
    assert d.grad is not None and float(d.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="odd"):
        splat_paths(d.detach(), torch.ones(2, dtype=torch.float64), 8)
    with pytest.raises(ValueError, match="positive"):
        CameraMotionField(10, 10, torch.zeros(1), torch.zeros(1, 2), torch.zeros(1))


def _rolled_case():
    img = cv2.resize(data.camera(), (128, 128), interpolation=cv2.INTER_AREA) / 255.0
    H = W = 128
    T = 32
    t = np.linspace(-1, 1, T)
    roll = 0.09 * t  # ± 8 px at the corners: the blur turns across the frame
    shifts = np.stack([4 * t, 1.5 * t**2 - 0.5], axis=1)
    shifts = shifts - shifts.mean(0)
    shake = CameraShake(H, W, float(W), np.stack([roll, 0 * roll, 0 * roll], 1), shifts)
    x = torch.from_numpy(img)[None, None]
    y = render_camera_shake(x, shake)
    y = (y + 0.003 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype)).clamp(0, 1)
    grid = (2, 2)
    centres = grid_centres(H, W, grid).numpy()
    truth = patch_kernels(shake, centres, 21)
    return y.float(), truth, grid


def test_estimated_field_recovers_a_roll_better_than_the_uniform_kernel():
    y, truth, grid = _rolled_case()
    start = torch.from_numpy(truth.mean(0))  # a uniform kernel that is right on average, wrong at every corner
    res = estimate_camera_field(y, start, grid, CameraFieldConfig(iterations=4, steps=40))
    uniform = np.mean([mnc(truth.mean(0), t)[0] for t in truth])
    field = np.mean([mnc(k, t)[0] for k, t in zip(res.kernels.numpy(), truth)])
    assert field > uniform + 0.02, (field, uniform)
    assert res.energies[-1] < res.energies[0]
    assert res.kernels.shape == (4, 21, 21) and torch.allclose(res.kernels.sum(dim=(1, 2)), torch.ones(4), atol=1e-5)
    # the data term prefers the true field to the uniform start on the restored image
    term = FieldDataTerm(res.latent, y, grid, 21, 0.0)
    assert float(term(torch.from_numpy(truth))) < float(term(start.expand(4, 21, 21)))


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="shipped kernel_gan_31 weights not in this checkout")
def test_nonuniform_solver_with_the_camera_field():
    y, truth, grid = _rolled_case()
    G, _ = load_kernel_generator(WEIGHTS, size=31)
    img = y[0, 0].numpy()[:, :, None]
    r = deblur_image_nonuniform(img, G, grid=grid, field="camera", seed=0)
    assert r.field == "camera" and r.kernels.shape == (2, 2, 31, 31)
    assert r.global_result.returned_input or r.camera_motion is not None
    rec = r.summary()
    assert rec["field"] == "camera" and np.isfinite(r.image).all() and r.image.shape == img.shape
    with pytest.raises(ValueError, match="unknown kernel field"):
        deblur_image_nonuniform(img, G, grid=grid, field="rigid")
