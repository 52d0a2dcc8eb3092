"""Training data: sharp photos, their fixed train/validation split, synthetic blurry patches."""

from deblurkit.datasets.blurry_patches import BlurryPatchConfig, BlurryPatches, load_sharp_images, split_of

__all__ = ["BlurryPatchConfig", "BlurryPatches", "load_sharp_images", "split_of"]
