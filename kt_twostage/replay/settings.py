"""What a replay searches and with which budgets, checked against the table.

One search space for every tuner (`SearchSpace`), the two-stage schedule that
fixes the budget (`ReplaySettings`), and the budgets in epochs. The budget
arithmetic is `kt-twostage compare`'s (`kt_twostage.compare.budget`), so that
a replay and a comparison with real training count epochs the same way.
Pure Python: Keras Tuner is only imported to build the `HyperParameters`, so
that the command line checks its flags before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

from kt_twostage.compare.budget import two_stage_budget
from kt_twostage.tabular.table import LearningCurves

UNITS_HP = "units"
LEARNING_RATE_HP = "learning_rate"
OBJECTIVE = "val_accuracy"
TEST_METRIC = "test_accuracy"
DEFAULT_BUDGETS = (0.25, 0.5, 1.0, 2.0)
DEFAULT_STAGE1_LEARNING_RATE = 0.001
# Learning rates a float computation may move by a few last bits (0.02 / 2**k)
# still count as inside the table's range.
_RANGE_TOLERANCE = 1e-9


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The one search space of every tuner, from the table.

    Attributes:
        units: Tuple of the table's units values: a `Choice`.
        min_learning_rate, max_learning_rate: Floats, the table's smallest
            and largest learning rate: a log-sampled `Float` between them.
        default_learning_rate: Float, the `Float`'s default (the stage-1
            learning rate).
    """

    units: tuple
    min_learning_rate: float
    max_learning_rate: float
    default_learning_rate: float

    def hyperparameters(self):
        """The space as a Tuner declares it: a fresh
        `keras_tuner.HyperParameters` each call."""
        import keras_tuner

        hp = keras_tuner.HyperParameters()
        hp.Choice(UNITS_HP, list(self.units))
        hp.Float(
            LEARNING_RATE_HP,
            min_value=self.min_learning_rate,
            max_value=self.max_learning_rate,
            sampling="log",
            default=self.default_learning_rate,
        )
        return hp


@dataclasses.dataclass(frozen=True)
class ReplaySettings:
    """The two-stage schedule of a replay, resolved against a table.

    It is the reference tuner's schedule and fixes every tuner's budget (see
    `budget_epochs`). Build it with `resolve_settings`, which checks it.

    Attributes:
        stage1_epochs: Integer, epochs of each stage-1 trial.
        stage2_epochs: Integer, epochs of each stage-2 trial; also the epochs
            of every RandomSearch and BayesianOptimization trial and
            Hyperband's `max_epochs`.
        stage2_trials: Integer, number of stage-2 trials.
        stage1_learning_rate: Float, the learning rate of stage 1.
        max_learning_rate: Float, the first stage-2 learning rate.
    """

    stage1_epochs: int
    stage2_epochs: int
    stage2_trials: int
    stage1_learning_rate: float
    max_learning_rate: float


def resolve_settings(
    curves: LearningCurves,
    *,
    stage1_epochs=1,
    stage2_epochs=None,
    stage2_trials=11,
    stage1_learning_rate=None,
    max_learning_rate=None,
) -> ReplaySettings:
    """The schedule of a replay on `curves`, each value checked against it.

    Args:
        curves: The table (`read_table`).
        stage1_epochs: Integer, at most the table's epochs. Defaults to `1`.
        stage2_epochs: Integer, at most the table's epochs. Defaults to
            `None`: the table's epochs.
        stage2_trials: Integer. Defaults to `11`.
        stage1_learning_rate: Float within the table's learning rates.
            Defaults to `None`: 0.001.
        max_learning_rate: Float within the table's learning rates, at least
            `stage1_learning_rate`. Defaults to `None`: the table's largest.

    Raises:
        ValueError: naming the argument, the value and the table's limit.
    """
    epochs = curves.epochs
    stage2_epochs = epochs if stage2_epochs is None else stage2_epochs
    for name, value in (
        ("stage1_epochs", stage1_epochs),
        ("stage2_epochs", stage2_epochs),
        ("stage2_trials", stage2_trials),
    ):
        if not _is_positive_int(value):
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    for name, value in (
        ("stage1_epochs", stage1_epochs),
        ("stage2_epochs", stage2_epochs),
    ):
        if value > epochs:
            raise ValueError(
                f"`{name}` is {value}, but the table {curves.path or ''} records "
                f"{epochs} epochs per run; use at most {epochs}."
            )
    if stage1_learning_rate is None:
        stage1_learning_rate = DEFAULT_STAGE1_LEARNING_RATE
    if max_learning_rate is None:
        max_learning_rate = curves.learning_rates[-1]
    stage1_learning_rate = _rate_in_table(
        curves, "stage1_learning_rate", stage1_learning_rate
    )
    max_learning_rate = _rate_in_table(curves, "max_learning_rate", max_learning_rate)
    if stage1_learning_rate > max_learning_rate:
        raise ValueError(
            f"`stage1_learning_rate` ({stage1_learning_rate:g}) must not be above "
            f"`max_learning_rate` ({max_learning_rate:g})."
        )
    return ReplaySettings(
        stage1_epochs=int(stage1_epochs),
        stage2_epochs=int(stage2_epochs),
        stage2_trials=int(stage2_trials),
        stage1_learning_rate=stage1_learning_rate,
        max_learning_rate=max_learning_rate,
    )


def _is_positive_int(value):
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and value >= 1
    )


def _rate_in_table(curves, name, value):
    low, high = curves.learning_rates[0], curves.learning_rates[-1]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be a number, got {value!r}.")
    value = float(value)
    inside = value > 0 and (
        low * (1 - _RANGE_TOLERANCE) <= value <= high * (1 + _RANGE_TOLERANCE)
    )
    if not inside:
        raise ValueError(
            f"`{name}` is {value:g}, outside the table's learning rates "
            f"[{low:g}, {high:g}]: the table has no curve for it. Choose a "
            "learning rate in that range (or record one)."
        )
    return min(max(value, low), high)


def search_space(curves: LearningCurves, settings: ReplaySettings) -> SearchSpace:
    """Every tuner's search space: the table's units and learning rates."""
    return SearchSpace(
        units=tuple(curves.units),
        min_learning_rate=float(curves.learning_rates[0]),
        max_learning_rate=float(curves.learning_rates[-1]),
        default_learning_rate=settings.stage1_learning_rate,
    )


def reference_budget(settings: ReplaySettings, space: SearchSpace) -> int:
    """B, the epochs of the two-stage schedule: the 1x budget."""
    return two_stage_budget(
        len(space.units),
        settings.stage1_epochs,
        settings.stage2_epochs,
        settings.stage2_trials,
    )


def budget_epochs(multiple, settings: ReplaySettings, space: SearchSpace) -> int:
    """The budget `multiple` x B in epochs, rounded down.

    Raises:
        ValueError: `multiple` is not positive, or the budget is too small
            for one trial of every tuner (`max(stage1_epochs,
            stage2_epochs)` epochs).
    """
    if isinstance(multiple, bool) or not isinstance(multiple, numbers.Real):
        raise ValueError(f"A budget must be a number, got {multiple!r}.")
    if not multiple > 0 or math.isinf(multiple):
        raise ValueError(f"A budget must be a positive multiple of B, got {multiple}.")
    reference = reference_budget(settings, space)
    epochs = math.floor(multiple * reference)
    smallest = max(settings.stage1_epochs, settings.stage2_epochs)
    if epochs < smallest:
        raise ValueError(
            f"The budget {budget_label(multiple)} is {epochs} epochs (B = "
            f"{reference}), less than one trial of {smallest} epochs: "
            "RandomSearch could not train a single trial. Use a larger budget "
            f"(at least {smallest / reference:.3g}x)."
        )
    return epochs


def budget_label(multiple) -> str:
    """How a budget is named in the outputs: `"0.25x"`, `"1x"`, `"2x"`."""
    return f"{float(multiple):g}x"


def plan_budgets(multiples, curves, settings) -> tuple:
    """`((multiple, epochs), ...)` for the budget multiples, each checked.

    Raises:
        ValueError: no budget, a repeated one, or one too small (see
            `budget_epochs`).
    """
    multiples = tuple(float(m) for m in multiples)
    if not multiples:
        raise ValueError("Expected at least one budget.")
    if len(set(multiples)) != len(multiples):
        raise ValueError(f"Budgets given more than once: {list(multiples)}.")
    space = search_space(curves, settings)
    return tuple((m, budget_epochs(m, settings, space)) for m in multiples)
