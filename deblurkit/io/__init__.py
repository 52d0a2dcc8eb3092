"""Image and kernel files: float32 in [0, 1], atomic writes that never touch an input."""

from deblurkit.io.atomic import atomic_write_bytes, check_not_input
from deblurkit.io.images import (
    IMAGE_EXTENSIONS,
    ImageInfo,
    image_to_tensor,
    read_image,
    tensor_to_image,
    write_image,
)
from deblurkit.io.kernels import (
    normalize_kernel,
    read_kernel,
    read_kernel_set,
    write_kernel,
    write_kernel_set,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageInfo",
    "atomic_write_bytes",
    "check_not_input",
    "image_to_tensor",
    "normalize_kernel",
    "read_image",
    "read_kernel",
    "read_kernel_set",
    "tensor_to_image",
    "write_image",
    "write_kernel",
    "write_kernel_set",
]
