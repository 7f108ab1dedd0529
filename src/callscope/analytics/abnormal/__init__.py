"""Abnormal experience (SparkRTC taxonomy): detection, attribution and queries; docs/abnormal.md."""

from __future__ import annotations

from callscope.analytics.abnormal.detector import BackgroundDetector, Detector, PassResult
from callscope.analytics.abnormal.rules import FACTOR_RULES, THRESHOLDS, VERSION, Thresholds
from callscope.analytics.abnormal.store import ensure

__all__ = [
    "FACTOR_RULES",
    "THRESHOLDS",
    "VERSION",
    "BackgroundDetector",
    "Detector",
    "PassResult",
    "Thresholds",
    "ensure",
]
