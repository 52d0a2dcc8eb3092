"""deblurkit: blind motion deblurring with generative latent kernel modelling (GLKM).

Layout (see ``../shared/docs/style.md``):

- :mod:`deblurkit.io` — image and kernel files (float32 in [0, 1], atomic writes).
- :mod:`deblurkit.physics` — blur operators (forward ``A`` and adjoint ``A_adjoint``).
- :mod:`deblurkit.kernels` — motion-kernel synthesis.
- :mod:`deblurkit.cli` — the Typer command line; a thin layer over the modules above.
"""

__version__ = "0.1.0"

from deblurkit.errors import DeblurkitError, DeblurkitWarning

__all__ = ["DeblurkitError", "DeblurkitWarning", "__version__"]
