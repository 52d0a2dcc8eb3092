"""Motion-kernel synthesis (trajectory families, sub-pixel rendering)."""

from deblurkit.kernels.synth import FAMILIES, TRAINING_FAMILIES, SynthesisConfig, synthesize_kernels, synthesize_training_set

__all__ = ["FAMILIES", "TRAINING_FAMILIES", "SynthesisConfig", "synthesize_kernels", "synthesize_training_set"]
