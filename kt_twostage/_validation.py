"""Argument checks shared by the oracle and the tuner: one check each."""

from __future__ import annotations

import numbers


def check_positive_int(name, value, allow_none=False):
    """Return `value` as an int (or None if allowed), or raise naming the
    argument."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        expected = "a positive integer" + (" or None" if allow_none else "")
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected "
            f"{expected}, got {value!r}."
        )
    return int(value)


def check_positive_float(name, value, allow_none=False):
    """Return `value` as a float (or None if allowed), or raise."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not value > 0
        or value == float("inf")
    ):
        expected = "a positive number" + (" or None" if allow_none else "")
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected "
            f"{expected}, got {value!r}."
        )
    return float(value)


def check_stage1_not_above_max(stage1_learning_rate, max_learning_rate):
    """Stage 1 must not train faster than the largest stage-2 learning rate."""
    if stage1_learning_rate is None or max_learning_rate is None:
        return
    if stage1_learning_rate > max_learning_rate:
        raise ValueError(
            "Received an invalid value for argument `stage1_learning_rate`, "
            f"expected at most `max_learning_rate` ({max_learning_rate}), got "
            f"{stage1_learning_rate}. Lower `stage1_learning_rate` or raise "
            "`max_learning_rate`."
        )


def check_hyperparameter_name(name, value):
    """Return `value` if it names a hyperparameter (a non-empty string)."""
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected the "
            f"name of a hyperparameter (a non-empty string), got {value!r}."
        )
    return value
