"""Batch deblurring of files: inputs, outputs, resume, sharding (the machinery behind ``deblur``).

Per input ``<stem>.<ext>`` the outputs in the output folder are

- ``<stem>_deblurred.<ext>`` — the restored image, in the input's bit depth (a byte copy of the input when
  the "do no harm" fallback returns it);
- ``<stem>_kernel.png`` (scaled for viewing) and ``<stem>_kernel.npy`` (exact, true convolution);
  for non-uniform deblurring ``<stem>_kernels.png`` (the kernel field: every patch kernel drawn at
  its patch centre over the dimmed output) and ``<stem>_kernels.npy`` (``(rows, cols, S, S)``);
- ``<stem>.json`` — the run record (settings, seed, kernel size, loss summary, timings, device,
  weights' sha256), written **last**: an input counts as finished only when its JSON exists, so an
  interrupted run never leaves a finished-looking partial result, and a re-run skips finished inputs.

Under ``torchrun`` each rank takes the inputs ``i`` with ``i mod WORLD_SIZE == RANK``: a disjoint
share, so every output is written exactly once. No CLI code here.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from deblurkit import __version__
from deblurkit.errors import DeblurkitError
from deblurkit.io import (
    IMAGE_EXTENSIONS,
    atomic_write_bytes,
    read_image,
    write_image,
    write_kernel,
)
from deblurkit.models.kernel_gan import SIZES
from deblurkit.models.serialization import load_initializer, load_kernel_generator

#: Files whose lines list inputs (one path per line; blank lines and ``#`` comments ignored).
LIST_EXTENSIONS = (".txt", ".lst")
#: Where the shipped weights live (the repository's ``weights/`` folder).
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def collect_inputs(inputs: Sequence[Path], glob: str | None = None) -> list[Path]:
    """Expand files, folders (recursive) and list files into a sorted list of unique image paths.

    Args:
        inputs: image files, folders, or ``.txt``/``.lst`` files listing paths (relative paths
            are taken relative to the list file).
        glob: pattern for folders (e.g. ``"*_blur.png"``); default every image extension.

    Returns:
        Unique paths, in the order given (folders sorted).

    Raises:
        DeblurkitError: a missing input, or nothing found.
    """
    out: list[Path] = []
    for p in map(Path, inputs):
        if p.is_dir():
            found = p.rglob(glob) if glob else (q for q in p.rglob("*") if q.suffix.lower() in IMAGE_EXTENSIONS)
            out += sorted(q for q in found if q.is_file())
        elif p.suffix.lower() in LIST_EXTENSIONS and p.is_file():
            for line in p.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    q = Path(line)
                    out.append(q if q.is_absolute() else p.parent / q)
        elif p.exists():
            out.append(p)
        else:
            raise DeblurkitError(f"no such file or folder: {p}")
    unique = list(dict.fromkeys(out))
    if not unique:
        raise DeblurkitError("no input images found")
    return unique


def output_paths(source: Path, out_dir: Path, nonuniform: bool = False) -> dict[str, Path]:
    """The four outputs of one input (see module doc); keys ``image``, ``kernel_png``, ``kernel_npy``, ``json``."""
    stem = source.stem
    kern = "kernels" if nonuniform else "kernel"
    return {
        "image": out_dir / f"{stem}_deblurred{source.suffix.lower()}",
        "kernel_png": out_dir / f"{stem}_{kern}.png",
        "kernel_npy": out_dir / f"{stem}_{kern}.npy",
        "json": out_dir / f"{stem}.json",
    }


def shard(items: Sequence, rank: int, world_size: int) -> list:
    """The share of rank ``rank`` among ``world_size``: items ``i`` with ``i mod world_size == rank``."""
    return list(items[rank::world_size])


@functools.lru_cache(maxsize=2)
def _diffusion_model(path: Path, device: torch.device):  # noqa: ANN202
    """The diffusion model of a folder and its weights' sha256, read once per batch run."""
    from deblurkit.models.diffusion import load_diffusion_model

    model = load_diffusion_model(path, device)
    weights = path / "unet" / "diffusion_pytorch_model.safetensors"
    return model, sha256(weights) if weights.is_file() else None


def diffusion_prior(settings: DeblurSettings, device: torch.device, record: dict):
    """The built BIRD / BlindDPS prior of ``settings``; the model's path and sha256 go into ``record``.

    The model is loaded once per folder and device (cached); ``settings.steps`` (if given) sets
    BIRD's iterations / BlindDPS's reverse steps.

    Raises:
        DeblurkitError: a missing or malformed diffusion-model folder.
    """
    from deblurkit.solvers.image_priors import make_image_prior

    path = Path(settings.diffusion_model) if settings.diffusion_model else WEIGHTS_DIR / "diffusion_64"
    model, digest = _diffusion_model(path, torch.device(device))
    record["diffusion_model"] = {"path": str(path), "sha256": digest}
    return make_image_prior(settings.prior, diffusion=model, steps=settings.steps)


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: What ``--kernel-prior auto`` resolves to for ``deblur`` when the generator of the size ships:
#: GLKM, coarse to fine (``docs/benchmarks.md``); else the free pixel kernel in the same loop.
AUTO_KERNEL_PRIOR = "glkm"

#: What ``--kernel-prior auto`` resolves to for the global stage of ``deblur-nonuniform`` when an
#: initializer of the kernel size ships: GLKM started by it. On six images of the synthetic
#: non-uniform set (2×2 grid, ``fast``) it gave 23.62 dB against FCN's 22.86 (blurry 23.37), none of
#: them more than 0.01 dB below its input; on all 20 of the set 23.29 dB (blurry 23.16)
#: (``docs/benchmarks.md``). Without an initializer: FCN.
AUTO_GLOBAL_PRIOR_NONUNIFORM = "glkm"


@dataclass(frozen=True)
class DeblurSettings:
    """Settings of a batch run (recorded in every JSON).

    Attributes:
        prior: image prior: ``"l0"`` (uniform default: the coarse-to-fine estimator's prior only),
            ``"dip"`` (uniform: adds the DIP refinement; non-uniform: the DIP image prior) or a VDIP
            variant ``"vdip-std" | "vdip-sparse" | "vdip-extreme"`` or a diffusion prior ``"bird" | "blinddps"``
            (uniform: the refinement with that prior).
        kernel_prior: ``"glkm"``, ``"free"``, ``"fcn"`` or ``"auto"`` (uniform:
            :data:`AUTO_KERNEL_PRIOR` when its generator ships, else ``"free"``; non-uniform: the
            global stage's :data:`AUTO_GLOBAL_PRIOR_NONUNIFORM`, GLKM, when an initializer of the
            size ships).
        preset: ``"fast"`` or ``"paper"``.
        kernel_size: ``"auto"`` or an odd kernel side in pixels (3 … 151); the GLKM prior and
            non-uniform deblurring need a generator size (31, 45, 55, 65, 75).
        seed: random seed.
        gan: generator weights, or ``None`` for ``weights/kernel_gan_S.safetensors``.
        initializer: initializer weights, or ``None`` for ``weights/initializer_S.safetensors``.
        init_only: only write the initial kernel ``G(E(y))`` (no optimisation, no image).
        steps: override of the preset's number of optimisation steps (``None``: the preset's; for
            non-uniform deblurring, of both stages).
        estimates: uniform only: override of the preset's ``min_estimates`` (kernel estimates
            cross-checked before one is accepted; ``None``: the preset's).
        workers: uniform only: kernel estimates computed at once (threads, each on
            ``threads / workers`` CPU threads; ``None``: automatic,
            :func:`deblurkit.solvers.attempts.estimate_workers`).
        nonuniform: spatially varying blur (GLKM Algorithm 4, SVOLA) instead of one kernel.
        grid: non-uniform only: ``"auto"`` or ``"ROWSxCOLS"``.
        field: non-uniform only: ``"camera"`` or ``"free"`` patch kernels
            (:func:`deblurkit.solvers.nonuniform.deblur_image_nonuniform`).
        diffusion_model: ``prior`` ``"bird"`` / ``"blinddps"``: a diffusers folder, or ``None`` for
            ``weights/diffusion_64`` (:func:`deblurkit.models.diffusion.load_diffusion_model`).
    """

    prior: str = "l0"
    kernel_prior: str = "auto"
    preset: str = "fast"
    kernel_size: str = "auto"
    seed: int = 0
    gan: str | None = None
    initializer: str | None = None
    init_only: bool = False
    steps: int | None = None
    estimates: int | None = None
    workers: int | None = None
    nonuniform: bool = False
    grid: str = "auto"
    field: str = "camera"
    diffusion_model: str | None = None

    def resolved_preset(self):  # noqa: ANN201
        """The :class:`~deblurkit.solvers.presets.Preset` (or, non-uniform,
        :class:`~deblurkit.solvers.presets.NonUniformPreset`) with ``steps`` (and, uniform,
        ``estimates``) applied.

        Raises:
            DeblurkitError: unknown preset name.
        """
        from dataclasses import replace

        from deblurkit.solvers.presets import get_nonuniform_preset, get_preset

        try:
            preset = (get_nonuniform_preset if self.nonuniform else get_preset)(self.preset)
        except ValueError as e:
            raise DeblurkitError(str(e)) from None
        if self.nonuniform:
            if self.steps is None:
                return preset
            return replace(preset, global_=replace(preset.global_, steps=self.steps), joint=replace(preset.joint, steps=self.steps))
        if self.steps is not None:
            preset = replace(preset, steps=self.steps)
        if self.estimates is not None:
            preset = replace(preset, min_estimates=self.estimates)
        return preset

    def resolved_kernel_size(self) -> str | int:
        """``"auto"`` or the kernel side in pixels.

        Raises:
            DeblurkitError: neither ``auto`` nor an odd integer in ``[3, 151]``.
        """
        if self.kernel_size == "auto":
            return "auto"
        try:
            size = int(self.kernel_size)
        except ValueError:
            size = 0
        if size < 3 or size > 151 or size % 2 == 0:
            raise DeblurkitError(f"--kernel-size must be auto or an odd number of pixels from 3 to 151, not {self.kernel_size!r}")
        return size

    def resolved_grid(self) -> str | tuple[int, int]:
        """``"auto"`` or ``(rows, cols)``.

        Raises:
            DeblurkitError: a malformed grid.
        """
        from deblurkit.physics.svola import parse_grid

        if self.grid == "auto":
            return "auto"
        try:
            return parse_grid(self.grid)
        except ValueError as e:
            raise DeblurkitError(str(e)) from None


@dataclass
class Models:
    """Kernel models for one size, loaded once per batch.

    Attributes:
        size: kernel side.
        generator: the kernel generator or ``None``.
        initializer: the initializer or ``None``.
        files: ``{"gan": (path, sha256), "initializer": (path, sha256)}`` of what was loaded.
    """

    size: int
    generator: torch.nn.Module | None = None
    initializer: torch.nn.Module | None = None
    files: dict = field(default_factory=dict)


def load_models(size: int, settings: DeblurSettings, device: torch.device) -> Models:
    """Load the generator and initializer of one size (missing default files are simply absent).

    Raises:
        DeblurkitError: an explicitly given weights file that is missing or invalid.
    """
    models = Models(size)
    for key, attr, given, loader in (
        ("gan", "generator", settings.gan, load_kernel_generator),
        ("initializer", "initializer", settings.initializer, load_initializer),
    ):
        path = Path(given) if given else WEIGHTS_DIR / f"{'kernel_gan' if key == 'gan' else 'initializer'}_{size}.safetensors"
        if given is None and not path.is_file():
            continue
        model, _ = loader(path, size=size, device=device)
        setattr(models, attr, model)
        models.files[key] = {"path": str(path), "sha256": sha256(path)}
    return models


def deblur_file(
    source: Path,
    out_dir: Path,
    settings: DeblurSettings,
    models_for: Callable[[int], Models],
    device: torch.device,
    progress: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Deblur one file and write its outputs (JSON last); returns the JSON record.

    Args:
        source: the blurry image.
        out_dir: output folder.
        settings: run settings.
        models_for: ``size → Models`` (cached by the caller).
        device: where to compute.
        progress: ``(step, total, loss)`` callback of the solver.

    Raises:
        DeblurkitError: unreadable input, missing weights the settings need, or a write failure.
    """
    from deblurkit.solvers import initial_kernel, luminance_tensor
    from deblurkit.solvers.deblur import deblur_image
    from deblurkit.solvers.image_priors import DIFFUSION_PRIOR_NAMES
    from deblurkit.solvers.kernel_size import (
        auto_kernel_size,
        auto_kernel_sizes,
        refined_kernel_size,
    )

    started = time.perf_counter()
    img, info = read_image(source)
    h, w = img.shape[:2]
    if min(h, w) < 32:
        raise DeblurkitError(f"{source}: image is {h}×{w}; at least 32×32 pixels are needed")
    requested = settings.resolved_kernel_size()
    size = auto_kernel_size(h, w) if requested == "auto" else requested
    notes = []
    shipped = [s for s in SIZES if models_for(s).generator is not None]
    if settings.nonuniform and settings.kernel_size == "auto":
        # the patch kernels live in a generator's latent space: the largest shipped size up to the
        # rule's, else the smallest shipped one
        if shipped:
            below = [s for s in shipped if s <= size]
            pick = below[-1] if below else shipped[0]
            if pick != size:
                notes.append(f"kernel size {pick} (the size rule gives {size}; no generator of that size)")
            size = pick
    kernel_prior = settings.kernel_prior
    sizes = [size]
    if not settings.nonuniform:
        if kernel_prior == "auto":
            # GLKM when a generator of the (requested or candidate) size ships, else the free kernel
            ok = shipped if requested == "auto" else [s for s in shipped if s == requested]
            kernel_prior = AUTO_KERNEL_PRIOR if ok else "free"
        pyramid = kernel_prior == "free" or (kernel_prior == "glkm" and settings.resolved_preset().estimator == "pyramid")
        if pyramid and requested == "auto":
            sizes = auto_kernel_sizes(h, w, tuple(shipped) if kernel_prior == "glkm" and shipped else (31, 55, 75))
            size = sizes[-1]
    models = models_for(size)
    if kernel_prior == "auto":
        # non-uniform global stage: GLKM started by the initializer when it ships (docs/benchmarks.md)
        kernel_prior = AUTO_GLOBAL_PRIOR_NONUNIFORM if models.initializer is not None else "fcn"
    if kernel_prior == "glkm" and models.generator is None:
        raise DeblurkitError(f"--kernel-prior glkm needs weights/kernel_gan_{size}.safetensors (or --gan)")
    if settings.nonuniform and models.generator is None:
        raise DeblurkitError(f"non-uniform deblurring needs a kernel generator: weights/kernel_gan_{size}.safetensors (or --gan)")
    paths = output_paths(source, out_dir, settings.nonuniform)
    record = {
        "input": str(source),
        "settings": asdict(settings),
        "kernel_prior": kernel_prior,
        "kernel_size": size,
        "weights": models.files,
        "device": str(device),
        "machine": f"{platform.machine()} {platform.system()}, {torch.get_num_threads()} threads",
        "deblurkit": __version__,
        "outputs": {k: str(v) for k, v in paths.items()},
        "notes": notes,
    }
    if settings.init_only:
        if models.generator is None or models.initializer is None:
            raise DeblurkitError(f"--init-only needs a generator and an initializer of size {size}")
        k = initial_kernel(models.initializer, models.generator, luminance_tensor(img, device))[0, 0].cpu().numpy()
        del record["outputs"]["image"]
    elif settings.nonuniform:
        from deblurkit.solvers.nonuniform import deblur_image_nonuniform
        from deblurkit.viz import kernel_field

        try:
            result = deblur_image_nonuniform(
                img, models.generator, grid=settings.resolved_grid(), preset=settings.resolved_preset(),
                global_prior=kernel_prior, initializer=models.initializer, field=settings.field, seed=settings.seed,
                progress=progress, device=device,
            )
        except ValueError as e:
            raise DeblurkitError(f"{source}: {e}") from None
        write_restored(paths["image"], result.image, result.returned_input, source, info.bit_depth)
        write_image(paths["kernel_png"], kernel_field(result.image, result.kernels, result.centres), bit_depth=8, protect=[source])
        buf = io.BytesIO()
        np.save(buf, result.kernels.astype(np.float32))
        atomic_write_bytes(paths["kernel_npy"], buf.getvalue(), [source])
        record["result"] = result.summary()
        record["seconds"] = round(time.perf_counter() - started, 2)
        atomic_write_bytes(paths["json"], (json.dumps(record, indent=2, default=_json_default) + "\n").encode(), [source])
        return record
    else:
        diffusion = diffusion_prior(settings, device, record) if settings.prior in DIFFUSION_PRIOR_NAMES else None

        def estimate(s_: int, image_prior: str):
            m = models_for(s_)
            if diffusion is not None and image_prior == settings.prior:
                image_prior = diffusion
            try:
                return deblur_image(
                    img, kernel_prior=kernel_prior, preset=settings.resolved_preset(), kernel_size=s_,
                    generator=m.generator, initializer=m.initializer if kernel_prior == "glkm" else None,
                    seed=settings.seed, progress=progress, device=device, workers=settings.workers,
                    image_prior=image_prior,
                )
            except ValueError as e:
                raise DeblurkitError(f"{source}: {e}") from None

        # the largest candidate window first, then the smallest one holding its support; a network
        # image prior (minutes) runs once, at the final size, after an l0 probe of the size
        probe = settings.prior if len(sizes) == 1 else "l0"
        tried = [sizes[-1]]
        result = estimate(tried[0], probe)
        smaller = refined_kernel_size(result.kernel, sizes)
        if smaller < tried[0] or probe != settings.prior:
            tried.append(smaller)
            result = estimate(smaller, settings.prior)
        if len(tried) > 1 or len(sizes) > 1:
            record["kernel_size"] = tried[-1]
            record["weights"] = models_for(tried[-1]).files
            notes.append(
                f"kernel size {tried[-1]} (auto: estimated in the largest window {tried[0]}, "
                f"then in the smallest window holding its support; sizes run: {', '.join(map(str, tried))})"
            )
        k = result.kernel
        write_restored(paths["image"], result.image, result.returned_input, source, info.bit_depth)
        record["result"] = result.summary()
    write_kernel(paths["kernel_png"], k, protect=[source])
    write_kernel(paths["kernel_npy"], k, protect=[source])
    record["seconds"] = round(time.perf_counter() - started, 2)
    atomic_write_bytes(paths["json"], (json.dumps(record, indent=2, default=_json_default) + "\n").encode(), [source])
    return record


def write_restored(path: Path, restored: np.ndarray, returned_input: bool, source: Path, bit_depth: int) -> None:
    """Write the restored image atomically; when the "do no harm" fallback returned the input,
    copy the input file's bytes instead, so that a returned JPEG is not re-encoded.

    Args:
        path: output path (``<stem>_deblurred.<ext>``, the input's suffix); restored: ``(H, W, C)``
            float32 in ``[0, 1]``; returned_input: the solver's ``returned_input`` flag;
            source: the input file, never overwritten; bit_depth: 8 or 16.

    Raises:
        DeblurkitError: ``path`` is an input file (:func:`deblurkit.io.write_image`'s protection).
    """
    if returned_input:
        atomic_write_bytes(path, source.read_bytes(), [source])
    else:
        write_image(path, restored, bit_depth=bit_depth, protect=[source])


def _json_default(o):  # noqa: ANN001, ANN202
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def is_finished(source: Path, out_dir: Path) -> bool:
    """Whether an input's run record (written last) exists (the same name for both kinds of run)."""
    return output_paths(source, out_dir)["json"].is_file()
