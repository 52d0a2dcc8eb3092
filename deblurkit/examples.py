"""Built-in example images, taken from the sample data that scikit-image ships in its wheel.

The images are public domain or CC0 (see ``skimage/data/README.txt``); nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

from deblurkit.errors import DeblurkitError

#: Example name → scikit-image loader name.
EXAMPLES = {"camera": "camera", "astronaut": "astronaut", "coffee": "coffee", "chelsea": "chelsea"}


def example_image(name: str = "camera") -> np.ndarray:
    """Load a built-in sharp example image.

    Args:
        name: one of :data:`EXAMPLES` (``camera`` 512×512 gray, ``astronaut`` 512×512 RGB,
            ``coffee`` 400×600 RGB, ``chelsea`` 300×451 RGB).

    Returns:
        ``(H, W, C)`` float32 in ``[0, 1]``, ``C`` = 1 or 3.

    Raises:
        DeblurkitError: unknown name.
    """
    if name not in EXAMPLES:
        raise DeblurkitError(f"unknown example {name!r}; choose one of {', '.join(EXAMPLES)}")
    import skimage.data

    img = np.asarray(getattr(skimage.data, EXAMPLES[name])())
    if img.ndim == 2:
        img = img[:, :, None]
    return (img[:, :, :3].astype(np.float32) / 255.0).astype(np.float32)
