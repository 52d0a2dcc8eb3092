"""Benchmark metrics: shift-aligned PSNR/SSIM (MATLAB semantics), Wang SSIM, kernel errors, pyiqa offline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.signal import correlate2d

from deblurkit.color import rgb_to_luma
from deblurkit.kernels import SynthesisConfig, synthesize_kernels
from deblurkit.metrics import kernel_errors, mnc
from deblurkit.metrics.protocols import compare_upto_shift
from deblurkit.metrics.ssim import (
    _box_downsample,
    downsample_factor,
    gaussian_window,
    matlab_round,
    psnr_matlab,
    ssim_wang,
)

LEVIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "levin"


def smooth_image(rng, h=72, w=80, sigma=2.0):
    img = gaussian_filter(rng.random((h, w)), sigma)
    return (img - img.min()) / (img.max() - img.min())


def bilinear_shift(img, sy, sx, out_shape, origin):
    """Reference bilinear sampling ``img(origin + y + sy, origin + x + sx)``, written pixel by pixel."""
    out = np.zeros(out_shape)
    for r in range(out_shape[0]):
        for c in range(out_shape[1]):
            y, x = origin + r + sy, origin + c + sx
            y0, x0 = math.floor(y), math.floor(x)
            a, b = y - y0, x - x0
            out[r, c] = (
                (1 - a) * (1 - b) * img[y0, x0]
                + (1 - a) * b * img[y0, min(x0 + 1, img.shape[1] - 1)]
                + a * (1 - b) * img[min(y0 + 1, img.shape[0] - 1), x0]
                + a * b * img[min(y0 + 1, img.shape[0] - 1), min(x0 + 1, img.shape[1] - 1)]
            )
    return out


def reference_ssim(a, b):
    """Wang's ssim.m without downsampling, straight from the formula with a 2-D correlation."""
    a, b = a * 255.0, b * 255.0
    win = gaussian_window()
    f = lambda x: correlate2d(x, win, mode="valid")  # noqa: E731
    mu1, mu2 = f(a), f(b)
    s1, s2, s12 = f(a * a) - mu1**2, f(b * b) - mu2**2, f(a * b) - mu1 * mu2
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float(np.mean((2 * mu1 * mu2 + c1) * (2 * s12 + c2) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))))


# --- PSNR / SSIM -----------------------------------------------------------------------------------


def test_identical_images(rng):
    x = smooth_image(rng)
    r = compare_upto_shift(x, x)
    assert r.psnr == math.inf and r.ssim == pytest.approx(1.0, abs=1e-12) and r.shift == (0.0, 0.0)
    assert r.aligned.shape == (72 - 30, 80 - 30)


def test_hand_computed_flat_case():
    # flat images, no search: MSE = 25.5², PSNR = 20 log10(255 / 25.5) = 20 dB;
    # SSIM of flat images = (2 μ1 μ2 + C1) / (μ1² + μ2² + C1) with μ = 127.5 and 153.
    gt = np.full((45, 45), 0.5)
    est = np.full((45, 45), 0.6)
    r = compare_upto_shift(est, gt, maxshift=0)
    assert r.psnr == pytest.approx(20.0, abs=1e-9)
    c1 = (0.01 * 255) ** 2
    assert r.ssim == pytest.approx((2 * 127.5 * 153 + c1) / (127.5**2 + 153**2 + c1), abs=1e-12)
    assert r.ssd == pytest.approx(15 * 15 * 0.01, rel=1e-9)


def test_psnr_peak_rule_of_psnr_m():
    ref = np.zeros((20, 20))
    est = np.full((20, 20), 1.0 / 255)  # max(255·est) = 1 ≤ 2 → psnr.m uses a peak of 1
    assert psnr_matlab(est, ref) == pytest.approx(0.0, abs=1e-9)
    est[0, 0] = 3.0 / 255  # max > 2 → peak 255
    mse = (399 * 1 + 9) / 400
    assert psnr_matlab(est, ref) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-9)


def test_integer_shift_is_found_and_psnr_equals_unshifted(rng):
    gt = smooth_image(rng)
    est0 = np.clip(gt + 0.01 * rng.standard_normal(gt.shape), 0, 1)
    base = compare_upto_shift(est0, gt, maxshift=5)
    assert base.shift == (0.0, 0.0)
    moved = np.roll(est0, shift=(2, -3), axis=(0, 1))  # moved(y, x) = est0(y - 2, x + 3)
    r = compare_upto_shift(moved, gt, maxshift=5)
    assert r.shift == (-3.0, 2.0)  # so moved is sampled at (x - 3, y + 2)
    assert r.psnr == pytest.approx(base.psnr, abs=1e-9) and r.ssim == pytest.approx(base.ssim, abs=1e-12)


@pytest.mark.parametrize("sy,sx", [(1.25, -0.75), (-2.5, 0.25), (0.0, 3.75)])
def test_subpixel_shift_found_to_a_quarter_pixel(rng, sy, sx):
    est = smooth_image(rng, 60, 64)
    maxshift = 5
    # ground truth whose 15-px-cropped part is the estimate sampled at (x + sx, y + sy)
    gt = np.full_like(est, 0.3)
    gt[15:-15, 15:-15] = bilinear_shift(est, sy, sx, (30, 34), origin=15)
    r = compare_upto_shift(est, gt, maxshift=maxshift)
    assert r.shift == (sx, sy)
    assert r.ssd < 1e-20 and r.psnr > 150


def test_coarse_to_fine_equals_exhaustive_search(rng):
    for _ in range(4):
        gt = smooth_image(rng, 50, 52, sigma=1.5)
        est = np.roll(gaussian_filter(gt, 0.8), shift=tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
        est = np.clip(est + 0.02 * rng.standard_normal(est.shape), 0, 1)
        fast = compare_upto_shift(est, gt, maxshift=4)
        full = compare_upto_shift(est, gt, maxshift=4, search="exhaustive")
        assert fast.shift == full.shift
        assert fast.psnr == full.psnr and fast.ssim == full.ssim


def test_lai_uses_the_y_channel(rng):
    gt = np.stack([smooth_image(rng) for _ in range(3)], axis=2)
    est = np.clip(gt + 0.02 * rng.standard_normal(gt.shape), 0, 1)
    r = compare_upto_shift(est, gt, luma=True)
    y = compare_upto_shift(rgb_to_luma(est)[:, :, 0], rgb_to_luma(gt)[:, :, 0])
    assert r.psnr == pytest.approx(y.psnr, abs=1e-9) and r.ssim == pytest.approx(y.ssim, abs=1e-12)
    with pytest.raises(ValueError, match="gray"):
        compare_upto_shift(est, gt)


def test_bad_inputs_raise(rng):
    x = smooth_image(rng)
    with pytest.raises(ValueError, match="ground truth"):
        compare_upto_shift(x, x[:-1])
    with pytest.raises(ValueError, match="at least"):
        compare_upto_shift(x[:40, :40], x[:40, :40])
    with pytest.raises(ValueError, match="maxshift"):
        compare_upto_shift(x, x, maxshift=16)


def test_ssim_matches_the_formula_with_2d_correlation(rng):
    a, b = smooth_image(rng, 60, 70), smooth_image(rng, 60, 70)
    assert ssim_wang(a, b) == pytest.approx(reference_ssim(a, b), abs=1e-12)
    assert ssim_wang(a, a) == pytest.approx(1.0, abs=1e-12)


def test_ssim_downsampling_rule():
    assert matlab_round(0.5) == 1 and matlab_round(1.5) == 2 and matlab_round(2.5) == 3 and matlab_round(-0.5) == -1
    assert downsample_factor(255, 255) == 1 and downsample_factor(225, 1000) == 1
    assert downsample_factor(383, 500) == 1 and downsample_factor(384, 500) == 2  # 1.5 rounds up (MATLAB)
    assert downsample_factor(640, 700) == 3 and downsample_factor(896, 1024) == 4 and downsample_factor(1000, 800) == 3


@pytest.mark.parametrize("f", [2, 3, 4])
def test_box_downsample_is_imfilter_symmetric_same(rng, f):
    img = rng.random((9, 11))
    n, m = img.shape
    centre = (f + 1) // 2  # MATLAB anchors the kernel at floor((f+1)/2), 1-based

    def at(i, j):  # 'symmetric' padding, 0-based
        i = -i - 1 if i < 0 else (2 * n - i - 1 if i >= n else i)
        j = -j - 1 if j < 0 else (2 * m - j - 1 if j >= m else j)
        return img[i, j]

    full = np.array(
        [[np.mean([at(i + k - centre + 1, j + l - centre + 1) for k in range(f) for l in range(f)]) for j in range(m)] for i in range(n)]
    )
    np.testing.assert_allclose(_box_downsample(img, f), full[::f, ::f], atol=1e-12)


def test_ssim_downsamples_large_images(rng):
    a = smooth_image(rng, 400, 420, sigma=3)
    b = np.clip(a + 0.05 * rng.standard_normal(a.shape), 0, 1)
    expected = reference_ssim(_box_downsample(a * 1.0, 2), _box_downsample(b * 1.0, 2))
    assert ssim_wang(a, b) == pytest.approx(expected, abs=1e-12)
    assert ssim_wang(a, b) != pytest.approx(reference_ssim(a, b), abs=1e-4)


# --- kernels -----------------------------------------------------------------------------------------


def test_kernel_errors_zero_for_shifted_or_flipped_copy():
    k, _ = synthesize_kernels(SynthesisConfig(size=21, count=2, seed=0))
    a = k[0]
    shifted = np.zeros((27, 27), np.float32)
    shifted[5:26, 2:23] = a
    for est in (shifted, a[::-1, ::-1], 2.0 * a):
        e = kernel_errors(est, a)
        assert e.mnc == pytest.approx(1.0, abs=1e-9) and e.l1 == pytest.approx(0, abs=1e-9) and e.l2 == pytest.approx(0, abs=1e-9)
    assert kernel_errors(a[::-1, ::-1], a).flipped and not kernel_errors(shifted, a).flipped
    other = kernel_errors(k[1], a)
    assert other.mnc < 0.9 and other.l1 > 0.2 and other.mnc == pytest.approx(mnc(k[1], a)[0])


# --- pyiqa, offline -------------------------------------------------------------------------------------


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Point pyiqa's and torchvision's weight folders at empty folders."""
    import torch
    from pyiqa.utils import download_util

    monkeypatch.setattr(download_util, "DEFAULT_CACHE_DIR", str(tmp_path / "pyiqa"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path


@pytest.fixture
def no_packaged_params(empty_caches, monkeypatch):
    """Empty caches and no package that ships NIQE's/BRISQUE's parameters."""
    from deblurkit.metrics import nr_params

    monkeypatch.setattr(nr_params, "packaged_file", lambda source: None)
    return empty_caches


@pytest.mark.parametrize("name,file", [("NIQE", "niqe_modelparameters.mat"), ("LPIPS", "LPIPS_v0.1_alex"), ("BRISQUE", "brisque_svm_weights.pth")])
def test_missing_weights_give_one_clear_line(no_packaged_params, name, file):
    from deblurkit.metrics.iqa import MetricUnavailable, load_metric
    from deblurkit.metrics.nr_params import PACKAGED_PARAMS

    with pytest.raises(MetricUnavailable) as e:
        load_metric(name)
    msg = str(e.value)
    assert "\n" not in msg and file in msg and str(no_packaged_params / "pyiqa") in msg and msg.startswith(name)
    if name.lower() in PACKAGED_PARAMS:
        assert PACKAGED_PARAMS[name.lower()].install_hint in msg


def test_niqe_and_brisque_run_offline_from_packaged_parameters(empty_caches):
    """With pyiqa's cache empty, the published parameters come from the installed packages
    (``make install``); both metrics rank the built-in example sharper than its blurred copy."""
    from deblurkit.examples import example_image
    from deblurkit.metrics.iqa import load_metric

    sharp = example_image("camera")[128:384, 128:384]
    blurred = gaussian_filter(sharp, sigma=(2.5, 2.5, 0))
    for name in ("NIQE", "BRISQUE"):
        metric = load_metric(name)
        assert not metric.full_reference and metric.lower_better
        assert math.isfinite(metric(sharp)) and metric(sharp) < metric(blurred), name


def test_packaged_parameter_files_are_checked(tmp_path):
    from deblurkit.metrics.nr_params import brisque_params_pth, niqe_params_mat

    svr = "svm_type epsilon_svr\nkernel_type rbf\ngamma 0.05\nnr_class 2\ntotal_sv 1\nrho {rho}\nSV\n-2.5 1:0.5 36:-0.25\n"
    (tmp_path / "ok").write_text(svr.format(rho=-153.591))
    import torch

    coef, sv = torch.load(brisque_params_pth(tmp_path / "ok"), weights_only=False)
    assert coef.tolist() == [-2.5] and sv.shape == (1, 36) and sv[0, 0] == 0.5 and sv[0, 35] == -0.25
    (tmp_path / "other").write_text(svr.format(rho=-155.845))
    with pytest.raises(ValueError, match="not BRISQUE's published SVR"):
        brisque_params_pth(tmp_path / "other")
    np.savez(tmp_path / "bad.npz", mu_pris_param=np.zeros(18), cov_pris_param=np.eye(18))
    with pytest.raises(ValueError, match=r"expected \(1, 36\), \(36, 36\)"):
        niqe_params_mat(tmp_path / "bad.npz")


def test_unlisted_metric_never_downloads(empty_caches):
    from deblurkit.metrics.iqa import MetricUnavailable, load_metric

    with pytest.raises(MetricUnavailable, match=r"MUSIQ unavailable: weights file musiq.*\.pth is not in"):
        load_metric("musiq")


def test_weight_free_metrics_work(rng):
    from deblurkit.metrics.iqa import load_metric

    x = smooth_image(rng, 64, 64)[:, :, None]
    psnr = load_metric("PSNR")
    assert psnr.full_reference and psnr(x, x) > 70
    piqe = load_metric("piqe")
    assert not piqe.full_reference and piqe.lower_better and math.isfinite(piqe(x))


# --- real data -------------------------------------------------------------------------------------------


@pytest.mark.skipif(not LEVIN.is_dir(), reason="../shared/data/levin not available")
def test_levin_blurry_inputs_score_as_documented():
    from deblurkit.io import read_image

    psnrs, ssims = [], []
    for m in range(1, 5):
        gt = read_image(LEVIN / "gt" / f"im{m}.png")[0]
        for n in range(1, 9):
            r = compare_upto_shift(read_image(LEVIN / f"im{m}_kernel{n}_img.png")[0], gt)
            psnrs.append(r.psnr)
            ssims.append(r.ssim)
    assert np.mean(psnrs) == pytest.approx(23.2, abs=0.1)  # ../shared/README.md: 23.2 dB / 0.699
    assert np.mean(ssims) == pytest.approx(0.699, abs=0.002)
