"""Benchmark evaluation: pairing files, scoring them (:mod:`deblurkit.metrics`), reports, dataset layouts."""

from deblurkit.eval.pairing import Pair, pair_files
from deblurkit.eval.report import MetricInfo, write_report
from deblurkit.eval.runner import Evaluation, evaluate, parse_metric_names

__all__ = ["Evaluation", "MetricInfo", "Pair", "evaluate", "pair_files", "parse_metric_names", "write_report"]
