"""Training-data pipeline: fixed split, blurry patches, initializer shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deblurkit.datasets import BlurryPatchConfig, BlurryPatches, load_sharp_images, split_of
from deblurkit.errors import DeblurkitError
from deblurkit.io import write_image


def test_split_is_stable_and_about_one_in_ten():
    names = [f"{i:06d}.jpg" for i in range(2000)]
    val = [n for n in names if split_of(n) == "val"]
    assert 120 <= len(val) <= 280
    assert split_of("/some/dir/000001.jpg") == split_of("000001.jpg")


def test_load_and_patches(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(30):
        write_image(tmp_path / f"{i:03d}.png", rng.random((70, 90, 3)).astype(np.float32))
    train = load_sharp_images(tmp_path, "train")
    val = load_sharp_images(tmp_path, "val")
    assert len(train) + len(val) == 30 and train[0].shape == (70, 90) and train[0].dtype == np.float32
    k = torch.zeros(3, 5, 5)
    k[:, 2, 2] = 1.0  # identity kernels: the patch is a crop of a sharp image (plus noise)
    ds = BlurryPatches(train, k, length=12, config=BlurryPatchConfig(crop=32, noise_max=0.0, jpeg_prob=0.0))
    y, idx = ds[4]
    assert y.shape == (1, 32, 32) and idx == 1 and 0 <= y.min() and y.max() <= 1
    y2, _ = ds[4]
    torch.testing.assert_close(y, y2)
    with pytest.raises(DeblurkitError):
        BlurryPatches(train, k, 4, BlurryPatchConfig(crop=128))
    with pytest.raises(DeblurkitError):
        load_sharp_images(tmp_path / "missing")
