"""Motion-kernel synthesis (trajectory families, sub-pixel rendering)."""

from deblurkit.kernels.synth import (
    FAMILIES,
    TRAINING_FAMILIES,
    SynthesisConfig,
    UniformSample,
    synthesize_kernels,
    synthesize_training_set,
    synthesize_uniform,
)

__all__ = ["FAMILIES", "TRAINING_FAMILIES", "SynthesisConfig", "UniformSample", "synthesize_kernels", "synthesize_training_set", "synthesize_uniform"]
