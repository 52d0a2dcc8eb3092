"""The built-in demonstration: blur a bundled sharp image, deblur it blindly, score and show it.

Steps: :func:`deblurkit.examples.example_image` → a synthesised camera-shake kernel
(:func:`deblurkit.kernels.synthesize_kernels`) and noise → :func:`deblurkit.pipeline.deblur_file`
(the same code as ``deblurkit deblur``, shipped weights) → shift-aligned PSNR/SSIM against the
sharp original (:func:`deblurkit.metrics.protocols.compare_upto_shift`) → a side-by-side PNG
(:func:`deblurkit.viz.contact_sheet`). No CLI code here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from deblurkit.examples import example_image
from deblurkit.io import read_image, write_image, write_kernel
from deblurkit.kernels import SynthesisConfig, synthesize_kernels
from deblurkit.metrics.protocols import compare_upto_shift
from deblurkit.physics import add_gaussian_noise, blur
from deblurkit.pipeline import DeblurSettings, deblur_file, load_models, output_paths
from deblurkit.viz import SheetRow, contact_sheet


def run_demo(
    out_dir: Path,
    name: str = "camera",
    size: int = 256,
    kernel_size: int = 31,
    noise: float = 0.005,
    settings: DeblurSettings | None = None,
    device: torch.device | str = "cpu",
    progress: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Run the demonstration and write its files into ``out_dir``.

    Args:
        out_dir: output folder (``sharp.png``, ``blurry.png``, ``true_kernel.png``, the
            ``deblur`` outputs of ``blurry.png`` and ``side_by_side.png``).
        name: built-in example (:data:`deblurkit.examples.EXAMPLES`).
        size: the example is centre-cropped to ``size × size`` pixels (keeps the demo quick on a CPU).
        kernel_size: window of the synthesised kernel (pixels).
        noise: Gaussian noise σ ([0, 1] units).
        settings: deblurring settings (default: :class:`DeblurSettings` defaults, seed 0).
        device: where to compute.
        progress: solver progress callback ``(step, total, loss)``.

    Returns:
        ``{"files": {...}, "psnr_blurry", "psnr_deblurred", "ssim_blurry", "ssim_deblurred"}``
        (dB on the 0–255 scale; shift-aligned Levin protocol on the luminance).

    Raises:
        DeblurkitError: unknown example, or a failure of the deblurring.
    """
    settings = settings or DeblurSettings()
    device = torch.device(device)
    sharp = example_image(name)
    h, w = sharp.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    sharp = np.ascontiguousarray(sharp[top : top + size, left : left + size])
    k = synthesize_kernels(SynthesisConfig(size=kernel_size, count=1, seed=settings.seed))[0][0]
    x = torch.from_numpy(sharp).permute(2, 0, 1)[None]
    y = add_gaussian_noise(blur(x, torch.from_numpy(k), "same"), noise, torch.Generator().manual_seed(settings.seed))
    blurry = np.clip(y[0].permute(1, 2, 0).numpy(), 0, 1)
    files = {"sharp": out_dir / "sharp.png", "blurry": out_dir / "blurry.png", "true_kernel": out_dir / "true_kernel.png"}
    write_image(files["sharp"], sharp)
    write_image(files["blurry"], blurry)
    write_kernel(files["true_kernel"], k)
    blurry = read_image(files["blurry"])[0]  # the 8-bit file, as a user's input would be

    models: dict[int, object] = {}
    deblur_file(files["blurry"], out_dir, settings, lambda s: models.setdefault(s, load_models(s, settings, device)),
                device, progress)
    outs = output_paths(files["blurry"], out_dir)
    restored = read_image(outs["image"])[0]
    k_est = np.load(outs["kernel_npy"])
    before = compare_upto_shift(blurry, sharp, luma=True)
    after = compare_upto_shift(restored, sharp, luma=True)
    sheet = contact_sheet(
        [SheetRow([blurry, restored, sharp], [None, k_est, k], f"{name}: blurry {before.psnr:.2f} dB -> deblurred {after.psnr:.2f} dB")],
        titles=["blurry", "deblurred (estimated kernel)", "sharp (true kernel)"],
    )
    files["side_by_side"] = write_image(out_dir / "side_by_side.png", sheet)
    files.update({k2: v for k2, v in outs.items()})
    return {
        "files": {k2: str(v) for k2, v in files.items()},
        "psnr_blurry": before.psnr,
        "psnr_deblurred": after.psnr,
        "ssim_blurry": before.ssim,
        "ssim_deblurred": after.ssim,
    }
