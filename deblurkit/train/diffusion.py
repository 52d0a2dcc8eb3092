"""Training of the small unconditional diffusion model used by the diffusion priors (BIRD, BlindDPS).

DDPM (Ho, Jain & Abbeel, *Denoising Diffusion Probabilistic Models*, NeurIPS 2020, Algorithm 1):
``x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε`` with ``t ~ U{0, …, T−1}``, ``ε ~ N(0, I)``, loss
``‖ε − ε_θ(x_t, t)‖²``, linear β schedule from 1e-4 to 0.02 over ``T = 1000`` steps, Adam, and an
exponential moving average of the weights (decay 0.999) that is what gets saved — all through
diffusers (``UNet2DModel``, ``DDPMScheduler``, ``EMAModel``). The data are random square crops of
the luminance of sharp photos, mapped to ``[−1, 1]``, with random flips and 90° rotations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deblurkit.models.diffusion import import_diffusers, small_unet

#: ``progress(step, total, loss)`` after every optimisation step.
Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class DiffusionTrainConfig:
    """Settings of :func:`train_diffusion`.

    Attributes:
        size: crop side in pixels (64 or 128).
        steps: optimisation steps.
        batch: crops per step.
        lr: Adam learning rate (1e-4 in Ho et al.'s CIFAR-10 runs; 2e-4 for this small model).
        ema: decay of the weights' moving average.
        timesteps: ``T``.
        widths: channels per UNet level (:func:`deblurkit.models.diffusion.small_unet`).
        seed: seeds the network initialisation, the crops and the noise.
    """

    size: int = 64
    steps: int = 10000
    batch: int = 16
    lr: float = 2e-4
    ema: float = 0.999
    timesteps: int = 1000
    widths: tuple[int, ...] = (16, 32, 64, 128)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size < 16 or self.size % 2 ** (len(self.widths) - 1):
            raise ValueError(f"size must be ≥ 16 and a multiple of {2 ** (len(self.widths) - 1)}, got {self.size}")
        if self.steps < 1 or self.batch < 1 or self.lr <= 0 or not 0 <= self.ema < 1:
            raise ValueError("need steps ≥ 1, batch ≥ 1, lr > 0 and 0 ≤ ema < 1")


def random_crops(images: list[np.ndarray], size: int, count: int, rng: np.random.Generator) -> torch.Tensor:
    """``count`` random ``size × size`` crops (random image, position, flip, 90° rotation).

    Args:
        images: ``(H, W)`` float32 luminance arrays in ``[0, 1]``, each at least ``size`` a side.
        size: crop side in pixels.
        count: number of crops.
        rng: numpy random generator.

    Returns:
        ``(count, 1, size, size)`` float32 tensor in ``[−1, 1]``.

    Raises:
        ValueError: no image is large enough.
    """
    usable = [im for im in images if min(im.shape) >= size]
    if not usable:
        raise ValueError(f"no training image has a side of at least {size} px")
    out = np.empty((count, 1, size, size), np.float32)
    for i in range(count):
        im = usable[rng.integers(len(usable))]
        t, l = rng.integers(im.shape[0] - size + 1), rng.integers(im.shape[1] - size + 1)
        c = im[t : t + size, l : l + size]
        if rng.random() < 0.5:
            c = c[:, ::-1]
        c = np.rot90(c, int(rng.integers(4)))
        out[i, 0] = c
    return torch.from_numpy(out) * 2 - 1


def train_diffusion(
    images: list[np.ndarray], config: DiffusionTrainConfig, device: torch.device | str = "cpu", progress: Progress | None = None
):
    """Train the small DDPM of the module docstring.

    Args:
        images: sharp ``(H, W)`` float32 luminance images in ``[0, 1]``
            (:func:`deblurkit.datasets.blurry_patches.load_sharp_images`).
        config: training settings.
        device: where to train.
        progress: ``progress(step, total, loss)``.

    Returns:
        ``(unet, scheduler, losses)``: the EMA weights as a ``diffusers.UNet2DModel`` (eval mode), the
        ``diffusers.DDPMScheduler`` of training and the loss of every step.

    Raises:
        ValueError: no image as large as the crop.
    """
    diffusers = import_diffusers()
    from diffusers.training_utils import EMAModel

    device = torch.device(device)
    torch.manual_seed(config.seed)
    unet = small_unet(config.size, 1, config.widths).to(device)
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=config.timesteps, beta_schedule="linear", prediction_type="epsilon")
    ema = EMAModel(unet.parameters(), decay=config.ema)
    opt = torch.optim.Adam(unet.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    unet.train()
    for step in range(1, config.steps + 1):
        x0 = random_crops(images, config.size, config.batch, rng).to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, config.timesteps, (config.batch,), generator=gen).to(device)
        xt = scheduler.add_noise(x0, noise, t)
        loss = F.mse_loss(unet(xt, t).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.step(unet.parameters())
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step, config.steps, losses[-1])
    ema.copy_to(unet.parameters())
    unet.eval()
    return unet, scheduler, losses


def sample_grid(unet, scheduler, count: int = 16, steps: int = 50, seed: int = 0) -> np.ndarray:
    """Unconditional DDIM samples (η = 0, ``steps`` steps) of a trained model, tiled into one picture.

    Args:
        unet: the trained ``UNet2DModel``; scheduler: its training ``DDPMScheduler`` (the DDIM
            schedule is built from its config); count: samples (a square number reads best);
            steps: DDIM steps; seed: seeds the initial noise.

    Returns:
        ``(rows · s, cols · s, 1)`` float32 grid in ``[0, 1]`` (``s`` the model's ``sample_size``,
        ``cols = ⌈√count⌉``).
    """
    diffusers = import_diffusers()
    ddim = diffusers.DDIMScheduler.from_config(scheduler.config)
    pipe = diffusers.DDIMPipeline(unet=unet, scheduler=ddim)
    pipe.set_progress_bar_config(disable=True)
    imgs = pipe(batch_size=count, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed), output_type="np").images
    n, s = imgs.shape[0], imgs.shape[1]
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.zeros((rows * s, cols * s, 1), np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * s : (r + 1) * s, c * s : (c + 1) * s] = imgs[i][..., :1]
    return grid
