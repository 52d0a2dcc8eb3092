"""Shared set-up of the initializer analysis scripts (issue #4): options and the frozen models."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from deblurkit.datasets import load_sharp_images
from deblurkit.errors import DeblurkitError
from deblurkit.kernels import synthesize_training_set
from deblurkit.models.initializer import KernelInitializer
from deblurkit.models.kernel_gan import KernelGenerator
from deblurkit.models.serialization import load_initializer, load_kernel_generator
from deblurkit.reports.initializer import validation_samples


def add_model_args(ap: argparse.ArgumentParser, count: int) -> None:
    """``--size --gan --initializer --images --count --seed`` (the report's validation set: ``--count``
    crops of the ``--images`` validation split, fresh kernels of synthesis seed ``seed + 10 000``)."""
    ap.add_argument("--size", type=int, default=31)
    ap.add_argument("--gan", default=None, help="default weights/kernel_gan_S.safetensors")
    ap.add_argument("--initializer", default=None, help="default weights/initializer_S.safetensors")
    ap.add_argument("--images", default="../shared/data/train/cbsd432")
    ap.add_argument("--count", type=int, default=count)
    ap.add_argument("--seed", type=int, default=0)


def load_models(args: argparse.Namespace, z_only: bool = False) -> tuple[KernelGenerator, KernelInitializer]:
    """Seed torch, load ``(G, E)`` for ``args.size`` (shipped files by default), both in eval mode, ``G`` frozen.

    Args:
        args: parsed options of :func:`add_model_args`.
        z_only: refuse an encoder into ``w`` (analyses that invert or re-encode in ``z``).

    Raises:
        deblurkit.errors.DeblurkitError: a missing or mismatched weights file; with ``z_only``, an
            encoder into ``w`` (the shipped size-31 file since session 25).
    """
    torch.manual_seed(args.seed)
    S = args.size
    G, _ = load_kernel_generator(args.gan or f"weights/kernel_gan_{S}.safetensors", size=S)
    path = args.initializer or f"weights/initializer_{S}.safetensors"
    E, _ = load_initializer(path, size=S)
    if z_only and E.config.code != "z":
        raise DeblurkitError(
            f"{path} encodes into {E.config.code}; this analysis needs an encoder into z "
            "(e.g. the Algorithm 1 file: git show 9b52f99:weights/initializer_31.safetensors > alg1.safetensors)"
        )
    for p in G.parameters():
        p.requires_grad_(False)
    return G.eval(), E.eval()


def report_validation_set(args: argparse.Namespace) -> list[tuple[str, torch.Tensor, np.ndarray]]:
    """The samples ``deblurkit initializer-report`` validates on: ``args.count`` 256-px crops of the
    ``args.images`` validation split blurred by fresh ``mix`` kernels of synthesis seed ``seed + 10 000``,
    noise σ ≤ 0.01; ``(name, y (1, 1, 256, 256) in [0, 1], kernel (S, S) summing to 1)``.

    Raises:
        deblurkit.errors.DeblurkitError: no usable photos in ``args.images``.
    """
    fresh, _ = synthesize_training_set(args.size, args.count, "mix", args.seed + 10_000)
    photos = load_sharp_images(args.images, split="val", min_side=256)
    return validation_samples(photos, fresh, args.count, seed=args.seed)
