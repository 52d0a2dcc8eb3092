"""MNC: 1 for shifted or rotated copies, lower for different kernels."""

from __future__ import annotations

import numpy as np
import pytest

from deblurkit.kernels import SynthesisConfig, synthesize_kernels
from deblurkit.metrics import mnc, mnc_batch


def test_mnc_shift_and_flip_tolerant():
    k, _ = synthesize_kernels(SynthesisConfig(size=21, count=2, seed=0))
    a = k[0]
    shifted = np.zeros((27, 27), np.float32)
    shifted[5:26, 2:23] = a
    assert mnc(shifted, a)[0] == pytest.approx(1.0, abs=1e-9)
    score, flipped = mnc(a[::-1, ::-1], a)
    assert score == pytest.approx(1.0, abs=1e-9) and flipped
    assert mnc(a[::-1, ::-1], a, flip=False)[0] < 0.99
    assert mnc(k[1], a)[0] < 0.9
    assert mnc(3.0 * a, a)[0] == pytest.approx(1.0, abs=1e-9)


def test_mnc_batch_shapes_and_errors():
    k, _ = synthesize_kernels(SynthesisConfig(size=15, count=4, seed=1))
    r = mnc_batch(k, k[0])
    assert r.mnc.shape == (4,) and r.mnc[0] == pytest.approx(1.0) and (r.mnc[1:] < 1).all()
    with pytest.raises(ValueError):
        mnc_batch(np.zeros((5, 5)), k[0])
    with pytest.raises(ValueError):
        mnc_batch(k[:2], k[:3])
