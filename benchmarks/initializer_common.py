"""Shared set-up of the initializer analysis scripts (issue #4): options and the frozen models."""

from __future__ import annotations

import argparse

import torch

from deblurkit.models.initializer import KernelInitializer
from deblurkit.models.kernel_gan import KernelGenerator
from deblurkit.models.serialization import load_initializer, load_kernel_generator


def add_model_args(ap: argparse.ArgumentParser, count: int) -> None:
    """``--size --gan --initializer --images --count --seed`` (the report's validation set: ``--count``
    crops of the ``--images`` validation split, fresh kernels of synthesis seed ``seed + 10 000``)."""
    ap.add_argument("--size", type=int, default=31)
    ap.add_argument("--gan", default=None, help="default weights/kernel_gan_S.safetensors")
    ap.add_argument("--initializer", default=None, help="default weights/initializer_S.safetensors")
    ap.add_argument("--images", default="../shared/data/train/cbsd432")
    ap.add_argument("--count", type=int, default=count)
    ap.add_argument("--seed", type=int, default=0)


def load_models(args: argparse.Namespace) -> tuple[KernelGenerator, KernelInitializer]:
    """Seed torch, load ``(G, E)`` for ``args.size`` (shipped files by default), both in eval mode, ``G`` frozen.

    Raises:
        deblurkit.errors.DeblurkitError: a missing or mismatched weights file.
    """
    torch.manual_seed(args.seed)
    S = args.size
    G, _ = load_kernel_generator(args.gan or f"weights/kernel_gan_{S}.safetensors", size=S)
    E, _ = load_initializer(args.initializer or f"weights/initializer_{S}.safetensors", size=S)
    for p in G.parameters():
        p.requires_grad_(False)
    return G.eval(), E.eval()
