"""The uniform blur operator as an object with a forward and an adjoint (deepinv style)."""

from __future__ import annotations

import torch

from deblurkit.physics.functional import METHODS, MODES, Method, Mode, blur, blur_adjoint


class UniformBlur(torch.nn.Module):
    r"""Spatially invariant blur ``y = k ⊛ x`` (true convolution), GLKM Eq. (1) without noise.

    Holds a default kernel as a buffer; every call may pass another kernel (the solvers generate a
    new one at each step). The maths lives in :mod:`deblurkit.physics.functional`.

    Args:
        kernel: optional default kernel, ``(h, w)`` or ``(Bk, Ck, h, w)``, non-negative, sum 1.
        mode: ``"valid"``, ``"same"`` (reflect padding) or ``"circular"``.
        method: ``"auto"``, ``"direct"`` or ``"fft"``.

    Shape:
        - x: ``(B, C, H, W)``
        - output of :meth:`A`: ``(B, C, H − h + 1, W − w + 1)`` for ``"valid"``, else ``(B, C, H, W)``

    Raises:
        ValueError: for an unknown mode or method.

    Example:
        >>> op = UniformBlur(torch.ones(3, 3) / 9, mode="circular")
        >>> op.A(torch.rand(1, 1, 8, 8)).shape
        torch.Size([1, 1, 8, 8])
    """

    def __init__(self, kernel: torch.Tensor | None = None, mode: Mode = "same", method: Method = "auto") -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.mode, self.method = mode, method
        self.register_buffer("kernel", None if kernel is None else torch.as_tensor(kernel, dtype=torch.float32))

    def _kernel(self, kernel: torch.Tensor | None) -> torch.Tensor:
        k = self.kernel if kernel is None else kernel
        if k is None:
            raise ValueError("no kernel given and the operator holds none")
        return k

    def A(self, x: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:  # noqa: N802 - field notation
        """Forward blur of ``x`` (``(B, C, H, W)``) by ``kernel`` or the held kernel."""
        return blur(x, self._kernel(kernel), self.mode, self.method)

    def A_adjoint(self, y: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:  # noqa: N802
        """Adjoint of :meth:`A` applied to ``y`` (``(B, C, Hy, Wy)``)."""
        return blur_adjoint(y, self._kernel(kernel), self.mode, self.method)

    def forward(self, x: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
        """Same as :meth:`A`."""
        return self.A(x, kernel)
