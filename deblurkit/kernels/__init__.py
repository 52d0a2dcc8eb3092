"""Motion-kernel synthesis (trajectory families, sub-pixel rendering)."""

from deblurkit.kernels.synth import FAMILIES, SynthesisConfig, synthesize_kernels

__all__ = ["FAMILIES", "SynthesisConfig", "synthesize_kernels"]
