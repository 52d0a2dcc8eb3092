"""Random camera-shake trajectories after Boracchi & Foi, "Modeling the performance of image
restoration from motion blur", IEEE TIP 21(8), 2012 (the generator popularised by DeblurGAN).

The camera moves at constant speed; at each of ``T`` steps its velocity is perturbed by Gaussian
shake, pulled back towards the start by a centripetal term, and, with a small probability, turned
abruptly (a "big shake"). Parameters follow ``../shared/docs/reference-notes.md`` §5: centripetal
term ``0.7·U``, big-shake probability ``0.2·U``, Gaussian shake ``10·U``, anxiety
``expl`` log-uniform in ``[0.001, 0.01]``. Fixes over the popular port: everything is vectorised over
kernels, every kernel covers a random (never empty) part of the exposure, kernels are centred on
their centre of mass (:func:`~deblurkit.kernels.render.fit_to_window`), and only NumPy ≥ 1.24 /
2.x APIs are used.
"""

from __future__ import annotations

import numpy as np

#: Path length (arbitrary units) and number of time steps of the raw trajectory (canvas 64, length 60).
MAX_LEN = 60.0
NUM_STEPS = 1000


def boracchi_trajectories(rng: np.random.Generator, n: int, num_steps: int = NUM_STEPS) -> tuple[np.ndarray, dict]:
    """Sample ``n`` random camera trajectories (Boracchi & Foi 2012, Sec. II).

    Args:
        rng: NumPy random generator (all randomness comes from it).
        n: number of trajectories.
        num_steps: time samples per trajectory, ``T ≥ 8``.

    Returns:
        ``(points, params)``: ``points`` is ``(n, T')`` complex (``x + i·y``, arbitrary units) —
        the part of each trajectory seen during a random exposure fraction in ``[0.5, 1]``
        (``T' ≤ T``, padded by repeating the last sample so all rows have equal length, which
        adds no new positions but weights the last one; see ``weights``); ``params`` holds
        per-trajectory ``(n,)`` arrays ``expl``, ``centripetal``, ``prob_big_shake``,
        ``gaussian_shake``, ``exposure`` and ``weights`` ``(n, T')`` (1 inside the exposure, 0 after).

    Raises:
        ValueError: if ``n < 1`` or ``num_steps < 8``.
    """
    if n < 1 or num_steps < 8:
        raise ValueError("need n ≥ 1 trajectories of at least 8 steps")
    centripetal = 0.7 * rng.random(n)
    prob_big_shake = 0.2 * rng.random(n)
    gaussian_shake = 10.0 * rng.random(n)
    expl = np.exp(rng.uniform(np.log(1e-3), np.log(1e-2), n))
    angle = rng.uniform(0.0, 2 * np.pi, n)
    step = MAX_LEN / (num_steps - 1)

    v = np.exp(1j * angle) * expl
    x = np.zeros((n, num_steps), dtype=np.complex128)
    for t in range(num_steps - 1):
        u_big, u_dir = rng.random(n), rng.random(n)
        shake = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        big = u_big < prob_big_shake * expl
        next_direction = np.where(big, 2.0 * v * np.exp(1j * (np.pi + (u_dir - 0.5))), 0.0)
        dv = next_direction + expl * (gaussian_shake * shake - centripetal * x[:, t]) * step
        v = v + dv
        v = v / np.maximum(np.abs(v), 1e-12) * step
        x[:, t + 1] = x[:, t] + v

    exposure = rng.uniform(0.5, 1.0, n)
    last = np.maximum(8, np.round(exposure * num_steps).astype(np.int64))
    weights = (np.arange(num_steps)[None, :] < last[:, None]).astype(np.float64)
    params = {
        "expl": expl,
        "centripetal": centripetal,
        "prob_big_shake": prob_big_shake,
        "gaussian_shake": gaussian_shake,
        "exposure": exposure,
        "weights": weights,
    }
    return x, params
