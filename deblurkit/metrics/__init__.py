"""Metrics: one place for every image and kernel score."""

from deblurkit.metrics.kernels import MNCResult, mnc, mnc_batch

__all__ = ["MNCResult", "mnc", "mnc_batch"]
