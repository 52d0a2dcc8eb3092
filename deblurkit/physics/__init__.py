"""Blur physics: forward operators and their adjoints (true convolution convention)."""

from deblurkit.physics.blur import UniformBlur
from deblurkit.physics.functional import blur, blur_adjoint, correlation_to_convolution
from deblurkit.physics.noise import add_gaussian_noise

__all__ = ["UniformBlur", "add_gaussian_noise", "blur", "blur_adjoint", "correlation_to_convolution"]
