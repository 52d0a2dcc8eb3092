"""Motion-kernel synthesis: invariants for every family and several sizes, seeds, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deblurkit.kernels import FAMILIES, SynthesisConfig, synthesize_kernels
from deblurkit.kernels.render import fit_to_window, splat


def centroid(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, h, w = k.shape
    yy, xx = np.mgrid[:h, :w]
    return (k * yy).sum(axis=(1, 2)), (k * xx).sum(axis=(1, 2))


def extent(k: np.ndarray, thresh: float = 1e-6) -> np.ndarray:
    out = []
    for ki in k:
        ys, xs = np.nonzero(ki > thresh * ki.max())
        out.append(max(np.ptp(ys), np.ptp(xs)) + 1)
    return np.array(out)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("size", [13, 31, 32, 55, 75])
def test_invariants(family, size):
    k, info = synthesize_kernels(SynthesisConfig(family=family, size=size, count=200, seed=3))
    assert k.shape == (200, size, size) and k.dtype == np.float32
    assert k.min() >= 0
    np.testing.assert_allclose(k.sum(axis=(1, 2)), 1.0, atol=1e-5)
    cy, cx = centroid(k.astype(np.float64))
    c = (size - 1) / 2
    assert np.abs(cy - c).max() <= 1.0 and np.abs(cx - c).max() <= 1.0
    assert (k.reshape(200, -1).max(axis=1) > 0).all()  # no empty kernel
    ext = extent(k)
    # Support spread from a few pixels up to about the whole window.
    assert ext.min() <= max(6, size // 4)
    assert ext.max() >= 0.75 * size
    assert ext.max() <= size
    assert info["length"].shape == (200,)
    assert info["config"]["family"] == family


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_same_seed_same_kernels_and_new_seed_new_kernels(family):
    cfg = SynthesisConfig(family=family, size=31, count=50, seed=11)
    a, _ = synthesize_kernels(cfg)
    b, _ = synthesize_kernels(cfg)
    c, _ = synthesize_kernels(SynthesisConfig(family=family, size=31, count=50, seed=12))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_max_length_controls_extent():
    k, info = synthesize_kernels(SynthesisConfig(size=31, count=300, seed=0, min_length=4, max_length=10))
    ext = extent(k, thresh=1e-3)
    assert ext.max() <= 10 + 2  # bilinear splatting adds at most one pixel each side
    assert (info["length"] >= 4).all() and (info["length"] <= 10).all()


def test_many_chunks_are_all_filled():
    from deblurkit.kernels import synth

    k, info = synthesize_kernels(SynthesisConfig(size=15, count=synth.CHUNK + 5, seed=0))
    assert (k.reshape(len(k), -1).sum(axis=1) > 0.99).all()
    assert len(info["length"]) == synth.CHUNK + 5


@pytest.mark.parametrize(
    "kwargs", [{"family": "nope"}, {"size": 3}, {"count": 0}, {"min_length": 20, "max_length": 10}]
)
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError):
        synthesize_kernels(SynthesisConfig(**kwargs))


def test_splat_preserves_mass_and_centroid():
    pts = np.array([[3.25 + 4.5j, 3.75 + 4.0j, 5.0 + 2.2j]])
    k = splat(pts, 9)
    assert abs(k.sum() - 1) < 1e-12
    cy, cx = centroid(k)
    assert abs(cx[0] - pts.real.mean()) < 1e-12 and abs(cy[0] - pts.imag.mean()) < 1e-12


def test_fit_to_window_keeps_points_inside():
    rng = np.random.default_rng(0)
    pts = np.cumsum(rng.standard_normal((20, 100)) + 1j * rng.standard_normal((20, 100)), axis=1)
    out = fit_to_window(pts, 21, np.full(20, 20.0))
    eps = 1e-9
    assert out.real.min() >= -eps and out.real.max() <= 20 + eps
    assert out.imag.min() >= -eps and out.imag.max() <= 20 + eps
    np.testing.assert_allclose(out.mean(axis=1), 10 + 10j, atol=1e-9)


def test_cli_writes_npz_with_parameters_and_skips_when_done(cli, tmp_path):
    out = tmp_path / "k.npz"
    preview = tmp_path / "k.png"
    r = cli("synth-kernels", "--size", "21", "--count", "30", "--seed", "5", "--family", "gp", "-o", out, "--preview", preview, "-q")
    assert r.code == 0, r.output
    with np.load(out) as z:
        assert z["kernels"].shape == (30, 21, 21) and z["kernels"].dtype == np.float32
        cfg = json.loads(str(z["config"]))
        assert cfg == {"family": "gp", "size": 21, "count": 30, "seed": 5, "min_length": 3.0, "max_length": None}
        assert z["length"].shape == (30,) and z["length_scale"].shape == (30,)
    assert preview.stat().st_size > 0
    mtime = out.stat().st_mtime_ns
    r = cli("synth-kernels", "--size", "21", "--count", "30", "--seed", "5", "-o", out, "--preview", preview)
    assert r.code == 0 and "skipping" in r.output and out.stat().st_mtime_ns == mtime


def test_cli_rejects_bad_values(cli, tmp_path):
    r = cli("synth-kernels", "--size", "21", "--count", "3", "--min-length", "30", "-o", tmp_path / "k.npz")
    assert r.code == 1 and "error:" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "k.npz").exists()
    r = cli("synth-kernels", "--family", "bogus", "-o", tmp_path / "k.npz")
    assert r.code == 2 and "error:" in r.output
    r = cli("synth-kernels", "-o", tmp_path / "k.txt")
    assert r.code == 1 and not (tmp_path / "k.txt").exists()
