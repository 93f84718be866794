"""Means with 95% confidence intervals, and paired differences.

Student-t intervals over independent searches: `mean +- t(0.975, n - 1) *
sd / sqrt(n)`, `sd` the sample standard deviation. A paired difference is
the same interval over the per-pair differences. t-quantiles come from
scipy (the `compare` extra).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean and its confidence interval.

    Attributes:
        mean: Float.
        low, high: Floats, the interval's bounds; NaN with one value (no
            spread to estimate).
        n: Integer, how many values.
    """

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self, prefix="") -> dict:
        """`{mean, ci95_low, ci95_high}` with `prefix` on each key; NaN as None
        (JSON has no NaN)."""
        return {
            f"{prefix}mean": _json_number(self.mean),
            f"{prefix}ci95_low": _json_number(self.low),
            f"{prefix}ci95_high": _json_number(self.high),
        }


def _json_number(value):
    return None if value is None or math.isnan(value) else float(value)


def t_quantile(confidence, degrees_of_freedom) -> float:
    """The two-sided Student-t quantile, e.g. 2.262 for 95% and 9 d.o.f."""
    try:
        from scipy import stats
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "Confidence intervals need scipy: `pip install 'kt-twostage[compare]'`."
        ) from error
    return float(stats.t.ppf(0.5 + confidence / 2, degrees_of_freedom))


def mean_interval(values, confidence=CONFIDENCE) -> Interval:
    """The mean of `values` with its t confidence interval.

    Raises:
        ValueError: no values, or a NaN among them.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("Expected at least one value for a mean, got none.")
    if np.isnan(values).any():
        raise ValueError(f"Expected numbers, got NaN among {values.size} values.")
    mean = float(values.mean())
    if values.size == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = t_quantile(confidence, values.size - 1) * float(
        values.std(ddof=1) / math.sqrt(values.size)
    )
    return Interval(mean, mean - half, mean + half, int(values.size))


def paired_difference(values, reference, confidence=CONFIDENCE) -> Interval:
    """Mean of `values[i] - reference[i]` with its t confidence interval.

    Raises:
        ValueError: the two do not have the same length.
    """
    values = np.asarray(values, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if values.shape != reference.shape:
        raise ValueError(
            f"A paired difference needs as many values as references, got "
            f"{values.size} and {reference.size}."
        )
    return mean_interval(values - reference, confidence)


def interval_bands(matrix, confidence=CONFIDENCE):
    """Column-wise `(mean, low, high)` arrays of a `(runs, points)` matrix.

    NaN where a column has fewer than two values, or any NaN.
    """
    matrix = np.asarray(matrix, dtype=float)
    runs = matrix.shape[0]
    mean = matrix.mean(axis=0)
    if runs < 2:
        nan = np.full_like(mean, math.nan)
        return mean, nan, nan.copy()
    half = (
        t_quantile(confidence, runs - 1) * matrix.std(axis=0, ddof=1) / math.sqrt(runs)
    )
    return mean, mean - half, mean + half
