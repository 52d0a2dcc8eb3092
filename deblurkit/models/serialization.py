"""Model weights as ``.safetensors`` files that carry their own architecture.

One generic core (:func:`save_model`, :func:`load_model_state`) and a thin pair of functions per
network: the kernel generator (GLKM §IV-B) and the kernel initializer (GLKM §IV-C).

Layout (diffusers' rule: the config travels with the weights, so loading never guesses):

- tensors: the generator's ``state_dict`` (weights and BatchNorm running statistics), float32;
- metadata header (string → string):

  ========================  =====================================================================
  ``format``                ``"deblurkit.kernel_generator"`` or ``"deblurkit.kernel_initializer"``
  ``arch_version``          the ``ARCH_VERSION`` of the model's module in the code that saved it
  ``size``                  kernel side ``S`` (e.g. ``"31"``)
  ``latent_dim``            length of ``z`` (``"100"``)
  ``config``                the model's config dataclass as JSON
  ``training_command``      the command line that trained the weights
  ``training``              JSON of training facts (data, epochs, seed, wall time, …), may be ``{}``
  ``deblurkit_version``     package version that saved the file
  ========================  =====================================================================

Loading validates the header, the architecture and every tensor's name and shape, and raises a
one-line :class:`~deblurkit.errors.DeblurkitError` on any mismatch, a missing or corrupt file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch

from deblurkit.errors import DeblurkitError
from deblurkit.io.atomic import PathLike, atomic_write_bytes
from deblurkit.models import initializer as _initializer
from deblurkit.models import kernel_gan as _kernel_gan
from deblurkit.models.initializer import InitializerConfig, KernelInitializer
from deblurkit.models.kernel_gan import ARCH_VERSION, KernelGANConfig, KernelGenerator, config_for_size

FORMAT = "deblurkit.kernel_generator"
INITIALIZER_FORMAT = "deblurkit.kernel_initializer"


def save_model(
    path: PathLike,
    model: torch.nn.Module,
    fmt: str,
    arch_version: str,
    config: dict,
    training_command: str = "",
    training: dict | None = None,
    protect: Iterable[PathLike] = (),
) -> Path:
    """Write a model's ``state_dict`` and the metadata header (module doc) atomically.

    Args:
        path: destination ``.safetensors`` file (folders are created).
        model: the network (any device; floating tensors saved as CPU float32, integer
            counters such as BatchNorm's ``num_batches_tracked`` keep their dtype).
        fmt: the ``format`` tag, e.g. :data:`FORMAT`.
        arch_version: the architecture version of the model's code.
        config: the architecture as a JSON-serialisable dict; must contain ``size`` and ``latent_dim``.
        training_command: the command line that produced the weights.
        training: JSON-serialisable training facts (data, epochs, seed, wall time, ...).
        protect: input paths that must not be overwritten.

    Returns:
        The written path.

    Raises:
        DeblurkitError: if ``path`` is an input or cannot be written.
    """
    from safetensors.torch import save

    from deblurkit import __version__

    tensors = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        tensors[k] = (v.to(torch.float32) if v.is_floating_point() else v).contiguous()
    meta = {
        "format": fmt,
        "arch_version": arch_version,
        "size": str(config["size"]),
        "latent_dim": str(config["latent_dim"]),
        "config": json.dumps(config, sort_keys=True),
        "training_command": training_command,
        "training": json.dumps(training or {}, sort_keys=True),
        "deblurkit_version": __version__,
    }
    return atomic_write_bytes(path, save(tensors, metadata=meta), protect)


def save_kernel_generator(
    path: PathLike,
    generator: KernelGenerator,
    training_command: str = "",
    training: dict | None = None,
    protect: Iterable[PathLike] = (),
) -> Path:
    """Write a kernel generator's weights and metadata (:func:`save_model`, format :data:`FORMAT`).

    Raises:
        DeblurkitError: if ``path`` is an input or cannot be written.
    """
    return save_model(
        path, generator, FORMAT, _kernel_gan.ARCH_VERSION, generator.config.to_dict(), training_command, training, protect
    )


def save_initializer(
    path: PathLike,
    encoder: KernelInitializer,
    training_command: str = "",
    training: dict | None = None,
    protect: Iterable[PathLike] = (),
) -> Path:
    """Write a kernel initializer's weights and metadata (:func:`save_model`, format :data:`INITIALIZER_FORMAT`).

    Raises:
        DeblurkitError: if ``path`` is an input or cannot be written.
    """
    from dataclasses import asdict

    return save_model(
        path, encoder, INITIALIZER_FORMAT, _initializer.ARCH_VERSION, asdict(encoder.config), training_command, training, protect
    )


def read_metadata(path: PathLike) -> dict[str, str]:
    """The metadata header of a weights file, without loading the tensors.

    Raises:
        DeblurkitError: missing file or not a safetensors file.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise DeblurkitError(f"no such weights file: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:  # noqa: BLE001 - safetensors raises several types for corrupt files
        raise DeblurkitError(f"{path}: not a readable .safetensors file ({type(e).__name__}: {e})") from None


def read_header(path: PathLike, fmt: str, arch_version: str, what: str, size: int | None = None) -> tuple[dict, dict]:
    """Read and check a weights file's header.

    Args:
        path: ``.safetensors`` file.
        fmt: the expected ``format`` tag.
        arch_version: the architecture version of this code.
        what: the model's name for messages (e.g. ``"kernel-generator"``).
        size: expected kernel side, or ``None`` for any.

    Returns:
        ``(metadata, config dict)``.

    Raises:
        DeblurkitError: missing/corrupt file, wrong format, another architecture version,
            malformed metadata, or a size other than ``size``.
    """
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != fmt:
        raise DeblurkitError(f"{path}: not a deblurkit {what} file (format {meta.get('format')!r})")
    if meta.get("arch_version") != arch_version:
        raise DeblurkitError(
            f"{path}: architecture version {meta.get('arch_version')!r} does not match this deblurkit's "
            f"{arch_version!r}; retrain or use a matching deblurkit"
        )
    try:
        config = json.loads(meta["config"])
        file_size = int(meta["size"])
        if int(config["size"]) != file_size:
            raise ValueError(f"metadata size {file_size} disagrees with its config size {config['size']}")
    except (KeyError, ValueError, TypeError) as e:
        raise DeblurkitError(f"{path}: malformed metadata ({type(e).__name__}: {e})") from None
    if size is not None and file_size != size:
        raise DeblurkitError(f"{path}: weights are for {file_size}×{file_size} kernels, but size {size} was asked for")
    return meta, config


def load_model_state(path: PathLike, model: torch.nn.Module) -> None:
    """Load a weights file's tensors into ``model`` after checking names, shapes and finiteness.

    Raises:
        DeblurkitError: corrupt file; missing, unexpected, mis-shaped or non-finite tensors.
    """
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except Exception as e:  # noqa: BLE001
        raise DeblurkitError(f"{path}: corrupt weights ({type(e).__name__}: {e})") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    if missing or extra:
        raise DeblurkitError(f"{path}: tensors do not match the architecture (missing {missing[:3]}, unexpected {extra[:3]})")
    for k, v in own.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise DeblurkitError(f"{path}: tensor {k} has shape {tuple(tensors[k].shape)}, expected {tuple(v.shape)}")
        if v.is_floating_point() and not torch.isfinite(tensors[k]).all():
            raise DeblurkitError(f"{path}: tensor {k} contains NaN or infinite values")
    model.load_state_dict(tensors)


def load_kernel_generator(
    path: PathLike, size: int | None = None, device: str | torch.device = "cpu"
) -> tuple[KernelGenerator, dict[str, str]]:
    """Load a generator saved by :func:`save_kernel_generator`, checking its metadata.

    Args:
        path: ``.safetensors`` weights file.
        size: expected kernel side; ``None`` accepts any tabulated size.
        device: where to put the model.

    Returns:
        ``(generator, metadata)``: the generator in **eval mode** (BatchNorm uses its running
        statistics, as GLKM's ``w_k`` requires) with ``requires_grad`` left on, and the header.

    Raises:
        DeblurkitError: missing/corrupt file; wrong ``format``; an ``arch_version`` other than
            this code's; a size other than ``size``; a config that differs from the tabulated
            architecture; missing, unexpected or mis-shaped tensors.
    """
    meta, config = read_header(path, FORMAT, ARCH_VERSION, "kernel-generator", size)
    try:
        cfg = KernelGANConfig.from_dict(config)
        expected = config_for_size(cfg.size, cfg.latent_dim)
    except (KeyError, ValueError, TypeError) as e:
        raise DeblurkitError(f"{path}: {e}") from None
    if cfg != expected:
        raise DeblurkitError(f"{path}: architecture {cfg.to_dict()} differs from the tabulated one for size {cfg.size}")
    model = KernelGenerator(cfg)
    load_model_state(path, model)
    return model.to(device).eval(), meta


def load_initializer(
    path: PathLike, size: int | None = None, device: str | torch.device = "cpu"
) -> tuple[KernelInitializer, dict[str, str]]:
    """Load a kernel initializer saved by :func:`save_initializer`, checking its metadata.

    Args:
        path: ``.safetensors`` weights file.
        size: expected kernel side of its generator; ``None`` accepts any.
        device: where to put the model.

    Returns:
        ``(encoder, metadata)``, the encoder in eval mode.

    Raises:
        DeblurkitError: as :func:`load_kernel_generator`.
    """
    meta, config = read_header(path, INITIALIZER_FORMAT, _initializer.ARCH_VERSION, "kernel-initializer", size)
    try:
        cfg = InitializerConfig(
            size=int(config["size"]),
            latent_dim=int(config["latent_dim"]),
            features=str(config["features"]),
            stem_pool=bool(config.get("stem_pool", True)),
            code=str(config.get("code", "z")),
        )
    except (KeyError, ValueError, TypeError) as e:
        raise DeblurkitError(f"{path}: malformed config ({type(e).__name__}: {e})") from None
    model = KernelInitializer(cfg)
    load_model_state(path, model)
    return model.to(device).eval(), meta
