"""Synthetic blurry patches for training the kernel initializer (GLKM §IV-C, notes §3).

Sharp photos are converted to luminance (BT.601 Y, as at test time), randomly cropped, blurred by
a random kernel of a kernel set (true convolution, reflect padding, same size), degraded by
Gaussian noise of random σ and, optionally, a JPEG round trip, so that real photos are in
distribution. Each sample carries the index of its kernel so that a per-kernel cache (the cached
GAN inversion of the CPU recipe) can be used.

The validation split is fixed by file name (:func:`split_of`), so it stays the same when the
folder grows and is shared by every command that needs held-out images.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from deblurkit.color import rgb_to_luma
from deblurkit.errors import DeblurkitError
from deblurkit.io import IMAGE_EXTENSIONS, read_image
from deblurkit.physics import blur

#: One file in this many (by a hash of its name) is held out for validation.
VALIDATION_EVERY = 10


def split_of(name: str) -> str:
    """``"val"`` or ``"train"`` for a file name, by a stable hash (~1 in :data:`VALIDATION_EVERY` is val).

    Args:
        name: the file name (not the path), e.g. ``"100075.jpg"``.
    """
    digest = hashlib.sha1(Path(name).name.encode()).digest()
    return "val" if digest[0] % VALIDATION_EVERY == 0 else "train"


def load_sharp_images(folder: str | Path, split: str | None = None, min_side: int = 64) -> list[np.ndarray]:
    """Read every image of a folder as luminance.

    Args:
        folder: folder of sharp photos (searched recursively; files sorted by path).
        split: ``"train"``, ``"val"`` or ``None`` (all), see :func:`split_of`.
        min_side: images with a shorter side (pixels) are skipped.

    Returns:
        List of ``(H, W)`` float32 arrays in ``[0, 1]`` (BT.601 Y for colour files, the gray values
        for gray ones).

    Raises:
        DeblurkitError: missing folder, or no usable image in it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DeblurkitError(f"no such folder: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    images = []
    for path in files:
        if split is not None and split_of(path.name) != split:
            continue
        img, _ = read_image(path)
        y = img[:, :, 0] if img.shape[2] == 1 else rgb_to_luma(img)[:, :, 0]
        if min(y.shape) >= min_side:
            images.append(np.ascontiguousarray(y, dtype=np.float32))
    if not images:
        raise DeblurkitError(f"no usable images in {folder} (split {split or 'all'})")
    return images


@dataclass(frozen=True)
class BlurryPatchConfig:
    """How patches are degraded.

    Attributes:
        crop: side of the square crops in pixels.
        noise_max: Gaussian noise σ is drawn uniformly in ``[0, noise_max]`` ([0, 1] units).
        jpeg_prob: probability of a JPEG round trip (quality uniform in ``jpeg_quality``).
        jpeg_quality: inclusive range of JPEG qualities.
    """

    crop: int = 128
    noise_max: float = 0.02
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (60, 95)


class BlurryPatches(torch.utils.data.Dataset):
    """Random blurry crops ``y = k ⊛ x + n`` of sharp images, with the index of their kernel.

    Sample ``i`` uses kernel ``i % N`` and a crop, noise and JPEG draw that depend only on ``i``
    and ``seed`` (so an epoch with a given sampler order is reproducible and every kernel is seen
    once per ``N`` samples).

    Args:
        images: ``(H, W)`` float32 sharp luminance images in ``[0, 1]``, each side ``≥ crop``.
        kernels: ``(N, S, S)`` float32 tensor of true-convolution kernels summing to 1.
        length: number of samples per epoch (e.g. a multiple of ``N``).
        config: degradation settings.
        seed: base seed.

    Shape:
        - item: ``(y, index)`` with ``y`` ``(1, crop, crop)`` float32 in ``[0, 1]`` and ``index`` an int.

    Raises:
        DeblurkitError: if an image is smaller than the crop.
    """

    def __init__(
        self, images: Sequence[np.ndarray], kernels: torch.Tensor, length: int, config: BlurryPatchConfig, seed: int = 0
    ) -> None:
        small = [i for i, im in enumerate(images) if min(im.shape) < config.crop]
        if small:
            raise DeblurkitError(f"{len(small)} training images are smaller than the {config.crop}-pixel crop")
        self.images, self.kernels, self.length, self.config, self.seed = list(images), kernels, length, config, seed

    def __len__(self) -> int:
        """Samples per epoch."""
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        """The ``i``-th blurry crop and its kernel index (see class doc)."""
        rng = np.random.default_rng([self.seed, i])
        cfg = self.config
        img = self.images[rng.integers(len(self.images))]
        top = rng.integers(img.shape[0] - cfg.crop + 1)
        left = rng.integers(img.shape[1] - cfg.crop + 1)
        x = torch.from_numpy(img[top : top + cfg.crop, left : left + cfg.crop].copy())[None, None]
        if rng.random() < 0.5:
            x = x.flip(-1)
        index = i % self.kernels.shape[0]
        y = blur(x, self.kernels[index], mode="same")[0]
        sigma = rng.uniform(0.0, cfg.noise_max)
        y = y + sigma * torch.from_numpy(rng.standard_normal(y.shape).astype(np.float32))
        y = y.clamp(0.0, 1.0)
        if rng.random() < cfg.jpeg_prob:
            quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
            ok, buf = cv2.imencode(".jpg", np.round(y[0].numpy() * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
            y = torch.from_numpy(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0)[None]
        return y.float(), index
