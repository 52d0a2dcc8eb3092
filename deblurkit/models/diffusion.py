"""Unconditional image diffusion models (diffusers ``UNet2DModel`` + scheduler) for the diffusion priors.

A diffusion model is a diffusers pipeline folder, the layout ``DDPMPipeline.save_pretrained`` writes
(von Platen et al., *Diffusers: state-of-the-art diffusion models*, 2022)::

    MODEL/
      model_index.json                      (optional)
      unet/config.json                      UNet2DModel config
      unet/diffusion_pytorch_model.safetensors
      scheduler/scheduler_config.json       DDPM / DDIM scheduler config (β schedule, T)

Any unconditional ε-prediction ``UNet2DModel`` with 1 (gray) or 3 (RGB) channels works, e.g. a user's
copy of an unconditional 256×256 DDPM, or the project's own small model trained by
``deblurkit train-diffusion`` (:func:`deblurkit.train.diffusion.train_diffusion`). Images enter the
model in ``[−1, 1]`` (DDPM's convention, Ho et al. 2020). The UNet is fully convolutional, so the
priors run it on windows of any size (a multiple of its down-sampling factor).

:func:`small_unet` builds the project's architecture; :func:`load_diffusion_model` loads a folder with
one clear error per malformed case.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from deblurkit.errors import DeblurkitError

#: The layout :func:`load_diffusion_model` expects (quoted in its errors).
LAYOUT = "a diffusers folder with unet/config.json, unet/diffusion_pytorch_model.safetensors and scheduler/scheduler_config.json"


def import_diffusers():
    """Import ``diffusers`` with the optional back-ends' start-up warnings silenced; returns the module.

    ``diffusers`` imports ``bitsandbytes`` when it is installed (pyiqa pulls it in), whose CPU
    back-end logs a warning about an optional kernel download on every start; nothing here uses it.
    """
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    import diffusers

    diffusers.utils.logging.set_verbosity_error()
    return diffusers


@dataclass
class DiffusionModel:
    """A loaded diffusion model.

    Attributes:
        unet: the frozen, eval-mode ``UNet2DModel`` predicting the noise ``ε(x_t, t)``.
        alphas_cumprod: ``(T,)`` float32 ``ᾱ_t`` of the training schedule (Ho et al. 2020 Eq. (4)).
        channels: image channels of the model (1 or 3).
        factor: the UNet's total down-sampling factor; window sides must be multiples of it.
    """

    unet: torch.nn.Module
    alphas_cumprod: torch.Tensor
    channels: int
    factor: int

    @property
    def timesteps(self) -> int:
        """``T``, the number of training diffusion steps."""
        return int(self.alphas_cumprod.numel())

    def eps(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """The predicted noise ``ε_θ(x_t, t)``.

        Args:
            x: ``(B, channels, H, W)`` float32 noisy image in the model's ``[−1, 1]`` scale (``H, W``
                multiples of :attr:`factor`).
            t: time step in ``[0, T)``.

        Returns:
            ``(B, channels, H, W)`` float32, differentiable in ``x``.
        """
        tt = torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)
        return self.unet(x, tt).sample


def small_unet(size: int, channels: int = 1, widths: tuple[int, ...] = (16, 32, 64, 128)):
    """The project's small unconditional ε-prediction UNet (diffusers ``UNet2DModel``).

    Residual blocks only (no attention), so the network is fully convolutional and runs on windows
    larger than its training crops; one residual block per level, GroupNorm with 8 groups.

    Args:
        size: training crop side in pixels (the config's ``sample_size``; 64 or 128).
        channels: image channels (1: luminance).
        widths: channels per resolution level (each level halves the resolution).

    Returns:
        A randomly initialised ``diffusers.UNet2DModel``.
    """
    n = len(widths)
    return import_diffusers().UNet2DModel(
        sample_size=size,
        in_channels=channels,
        out_channels=channels,
        layers_per_block=1,
        block_out_channels=widths,
        down_block_types=("DownBlock2D",) * n,
        up_block_types=("UpBlock2D",) * n,
        norm_num_groups=8,
    )


def from_modules(unet: torch.nn.Module, scheduler, path: Path | None = None) -> DiffusionModel:
    """A :class:`DiffusionModel` from a diffusers UNet and scheduler (the UNet frozen and put in eval mode).

    Args:
        unet: a ``diffusers.UNet2DModel`` (1 or 3 channels in and out).
        scheduler: a diffusers DDPM/DDIM scheduler; its ``alphas_cumprod`` ``(T,)`` is copied as float32.
        path: the folder it came from, named in the errors (``None`` for in-memory modules).

    Returns:
        :class:`DiffusionModel` (``factor = 2^(levels − 1)`` of the UNet's ``block_out_channels``).

    Raises:
        DeblurkitError: a UNet that is not 1- or 3-channel or not ε-predicting, or a scheduler
            without ``alphas_cumprod``.
    """
    where = f" in {path}" if path is not None else ""
    cfg = unet.config
    if cfg.in_channels not in (1, 3) or cfg.out_channels != cfg.in_channels:
        raise DeblurkitError(f"diffusion model{where}: need a 1- or 3-channel UNet with as many outputs, got {cfg.in_channels} → {cfg.out_channels}")
    pred = getattr(scheduler.config, "prediction_type", "epsilon")
    if pred != "epsilon":
        raise DeblurkitError(f"diffusion model{where}: only ε-prediction is supported, the scheduler says {pred!r}")
    ac = getattr(scheduler, "alphas_cumprod", None)
    if ac is None:
        raise DeblurkitError(f"diffusion model{where}: the scheduler has no noise schedule (alphas_cumprod)")
    unet.eval()
    for p in unet.parameters():
        p.requires_grad_(False)
    factor = 2 ** (len(cfg.block_out_channels) - 1)
    return DiffusionModel(unet, torch.as_tensor(ac).float().clone(), int(cfg.in_channels), factor)


def load_diffusion_model(path: str | Path, device: torch.device | str = "cpu") -> DiffusionModel:
    """Load a diffusers diffusion-model folder (layout in the module docstring), nothing downloaded.

    Args:
        path: the folder.
        device: where to put the UNet.

    Returns:
        :class:`DiffusionModel` (UNet frozen, eval mode).

    Raises:
        DeblurkitError: a missing folder or file, an unreadable config or weights file, or a
            model of another kind — one line naming the path and the expected layout.
    """
    root = Path(path)
    if not root.is_dir():
        raise DeblurkitError(f"no diffusion model at {root}: expected {LAYOUT}")
    for rel in ("unet/config.json", "scheduler/scheduler_config.json"):
        f = root / rel
        if not f.is_file():
            raise DeblurkitError(f"diffusion model {root}: {rel} is missing (expected {LAYOUT})")
        try:
            json.loads(f.read_text())
        except (OSError, ValueError) as e:
            raise DeblurkitError(f"diffusion model {root}: {rel} is not valid JSON ({e})") from None
    if not any((root / "unet" / n).is_file() for n in ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")):
        raise DeblurkitError(f"diffusion model {root}: unet/diffusion_pytorch_model.safetensors is missing (expected {LAYOUT})")
    diffusers = import_diffusers()
    try:
        unet = diffusers.UNet2DModel.from_pretrained(root / "unet", local_files_only=True)
        scheduler = diffusers.DDPMScheduler.from_pretrained(root / "scheduler", local_files_only=True)
    except Exception as e:  # diffusers raises OSError, ValueError, safetensors errors ...
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DeblurkitError(f"diffusion model {root} could not be loaded ({msg}); expected {LAYOUT}") from None
    model = from_modules(unet, scheduler, root)
    model.unet.to(device)
    return model
