"""Networks (they know nothing of how they are trained or used): the DCGAN kernel prior."""

from deblurkit.models.kernel_gan import (
    ARCH_VERSION,
    SIZES,
    KernelDiscriminator,
    KernelGANConfig,
    KernelGenerator,
    WCodeGenerator,
    build_kernel_gan,
    code_generator,
    config_for_size,
    init_weights,
)

__all__ = [
    "ARCH_VERSION",
    "SIZES",
    "KernelDiscriminator",
    "KernelGANConfig",
    "KernelGenerator",
    "WCodeGenerator",
    "build_kernel_gan",
    "code_generator",
    "config_for_size",
    "init_weights",
]
