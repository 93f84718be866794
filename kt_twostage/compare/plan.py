"""What a comparison runs: `ComparisonPlan`, checked when made.

Pure (no Keras): the objective and search space arrive as plain values, read
from the hypermodel by `kt_twostage.compare.runner.make_plan`.
"""

from __future__ import annotations

import dataclasses
import json
import numbers

from kt_twostage._validation import (
    check_positive_float,
    check_positive_int,
    check_stage1_not_above_max,
)
from kt_twostage.compare import baselines, budget


@dataclasses.dataclass(frozen=True, kw_only=True)
class ComparisonPlan:
    """Every tuner's settings and budget, and the runs, of one comparison.

    `to_dict()` is the plan's dict form: the settings every run shares,
    written as `settings.json` in the work folder; finished runs are reused
    only while it is unchanged. The runs (`tuners`, `seeds`, `grid_seeds`,
    and the patience variant) are not part of it: a work folder gains runs.

    Args:
        objective: String, the Keras Tuner objective's name. The test score
            is the metric of the same name without `val_`.
        direction: String, `"max"` or `"min"`.
        units_hp, learning_rate_hp: Strings, the hyperparameter names.
        units: Sequence, every value of the units hyperparameter.
        learning_rate_range: `(min, max)` of the learning-rate hyperparameter.
        stage1_epochs, stage2_epochs, stage2_trials, max_learning_rate,
        stage1_learning_rate: The two-stage schedule (see `TwoStageTuner`);
            it fixes the epoch budget of every tuner.
        grid_learning_rate_count: Integer, learning rates of the grid,
            log-spaced from the range's minimum to `max_learning_rate`.
            Defaults to `5`.
        bayesian_initial_points: `num_initial_points` of
            BayesianOptimization. Defaults to `None`: keras_tuner's default
            (3 per hyperparameter), capped at half of its trials.
        batch_size: Integer, the training batch size. Defaults to `32`.
        train_examples, validation_examples, test_examples: Integers, the
            sizes of the data, recorded so that other data is noticed.
        problem: JSON-able dict that identifies the data and model (e.g. the
            data path and preprocessing settings). Defaults to `{}`.
        stage2_patience: Integer or `None` (default). With an integer, the
            two-stage tuner (if in `tuners`) also runs with early stopping in
            stage 2, as the run `twostage-patience{P}`; the budget of the
            other tuners stays the plain schedule's.
        tuners: Which of `TUNERS` to run. Defaults to `DEFAULT_TUNERS` (all
            but `OPT_IN_TUNERS`: the variants `twostage-compass` and
            `twostage-scout-s1e2`, and `random-es`).
        seeds: Sequence of non-negative integer seeds; each tuner runs once
            per seed. Defaults to `(0, 1, 2)`.
        grid_seeds: Seeds of the grid. Defaults to `None`: the first seed.
    """

    objective: str
    direction: str
    units_hp: str
    learning_rate_hp: str
    units: tuple
    learning_rate_range: tuple
    stage1_epochs: int
    stage2_epochs: int
    stage2_trials: int
    max_learning_rate: float
    stage1_learning_rate: float
    grid_learning_rate_count: int = 5
    bayesian_initial_points: int | None = None
    batch_size: int = 32
    train_examples: int
    validation_examples: int
    test_examples: int
    problem: dict = dataclasses.field(default_factory=dict)
    stage2_patience: int | None = None
    tuners: tuple = baselines.DEFAULT_TUNERS
    seeds: tuple = (0, 1, 2)
    grid_seeds: tuple | None = None

    def __post_init__(self):
        set_field = object.__setattr__  # frozen: only here, while it is made
        for name in ("units", "learning_rate_range", "tuners", "seeds"):
            set_field(self, name, tuple(getattr(self, name)))
        grid_seeds = self.seeds[:1] if self.grid_seeds is None else self.grid_seeds
        set_field(self, "grid_seeds", tuple(grid_seeds))
        _check_names(self)
        _check_space(self)
        _check_counts(self)
        _check_runs(self)
        # As Python ints: NumPy ones do not go into JSON.
        for name in ("seeds", "grid_seeds"):
            set_field(self, name, tuple(int(seed) for seed in getattr(self, name)))
        if self.bayesian_initial_points is None:
            points = budget.bayesian_initial_points(self.random_bayesian_trials)
            set_field(self, "bayesian_initial_points", points)

    @property
    def budget_epochs(self) -> int:
        """Epochs of the two-stage schedule: every tuner's budget but the grid's."""
        return budget.two_stage_budget(
            len(self.units), self.stage1_epochs, self.stage2_epochs, self.stage2_trials
        )

    @property
    def random_bayesian_trials(self) -> int:
        return budget.random_search_trials(self.budget_epochs, self.stage2_epochs)

    @property
    def hyperband(self) -> dict:
        return budget.plan_hyperband(self.budget_epochs, self.stage2_epochs)

    @property
    def grid_learning_rates(self) -> list[float]:
        low = self.learning_rate_range[0]
        return budget.log_grid(
            low, self.max_learning_rate, self.grid_learning_rate_count
        )

    def grid(self) -> list[dict]:
        """The grid's hyperparameter values: every units value times every
        grid learning rate, in that order."""
        return [
            {self.units_hp: units, self.learning_rate_hp: lr}
            for units in self.units
            for lr in self.grid_learning_rates
        ]

    @property
    def grid_epochs(self) -> int:
        return len(self.grid()) * self.stage2_epochs

    @property
    def test_metric(self) -> str:
        return self.objective.removeprefix("val_")

    def runs(self) -> list[tuple[str, int]]:
        """`(run name, seed)` of every run, in the order they run.

        Seed by seed, so that a change in the machine's load hits every tuner;
        the patience variant right after the plain two-stage run; the
        reference (the grid) last, on its own seeds.
        """
        names = [
            name for name in self.tuners if not baselines.BASELINES[name].reference
        ]
        if self.stage2_patience is not None and baselines.TWO_STAGE in names:
            variant = baselines.patience_variant(self.stage2_patience)
            names.insert(names.index(baselines.TWO_STAGE) + 1, variant)
        runs = [(name, seed) for seed in self.seeds for name in names]
        for name in self.tuners:
            if baselines.BASELINES[name].reference:
                runs += [(name, seed) for seed in self.grid_seeds]
        return runs

    def budget_of(self, name) -> int:
        """The epoch budget of run name `name`."""
        return (
            self.grid_epochs
            if baselines.baseline(name).reference
            else self.budget_epochs
        )

    def to_dict(self) -> dict:
        """The settings every run shares: what `settings.json` holds."""
        settings = {
            "objective": self.objective,
            "direction": self.direction,
            "units_hp": self.units_hp,
            "learning_rate_hp": self.learning_rate_hp,
            "units": self.units,
            "learning_rate_range": self.learning_rate_range,
            "stage1_epochs": self.stage1_epochs,
            "stage2_epochs": self.stage2_epochs,
            "stage2_trials": self.stage2_trials,
            "max_learning_rate": self.max_learning_rate,
            "stage1_learning_rate": self.stage1_learning_rate,
            "budget_epochs": self.budget_epochs,
            "random_bayesian_trials": self.random_bayesian_trials,
            "bayesian_initial_points": self.bayesian_initial_points,
            "hyperband": self.hyperband,
            "grid_learning_rates": self.grid_learning_rates,
            "grid_trials": len(self.grid()),
            "grid_epochs": self.grid_epochs,
            "batch_size": self.batch_size,
            "train_examples": self.train_examples,
            "validation_examples": self.validation_examples,
            "test_examples": self.test_examples,
            "problem": self.problem,
            "oracle_seeds": f"1 + {budget.ORACLE_SEED_SPACING} * seed",
            "stage2_patience": self.stage2_patience,
        }
        # As it reads back from the file: lists, not tuples.
        return json.loads(json.dumps(settings))


def _invalid(name, expected, value):
    return ValueError(
        f"Received an invalid value for argument `{name}`, expected {expected}, "
        f"got {value!r}."
    )


def _check_names(plan):
    for name in ("objective", "units_hp", "learning_rate_hp"):
        if not isinstance(getattr(plan, name), str) or not getattr(plan, name):
            raise _invalid(name, "a non-empty string", getattr(plan, name))
    if plan.direction not in ("max", "min"):
        raise _invalid("direction", '"max" or "min"', plan.direction)


def _check_space(plan):
    if not plan.units:
        raise _invalid("units", "at least one units value", plan.units)
    low_high = plan.learning_rate_range
    if len(low_high) != 2 or not 0 < low_high[0] <= low_high[1]:
        raise _invalid(
            "learning_rate_range", "(min, max) with 0 < min <= max", low_high
        )
    check_positive_float("max_learning_rate", plan.max_learning_rate)
    check_positive_float("stage1_learning_rate", plan.stage1_learning_rate)
    check_stage1_not_above_max(plan.stage1_learning_rate, plan.max_learning_rate)


def _check_counts(plan):
    for name in (
        "stage1_epochs",
        "stage2_epochs",
        "stage2_trials",
        "grid_learning_rate_count",
        "batch_size",
        "train_examples",
        "validation_examples",
        "test_examples",
    ):
        check_positive_int(name, getattr(plan, name))
    for name in ("bayesian_initial_points", "stage2_patience"):
        if getattr(plan, name) is not None:
            check_positive_int(name, getattr(plan, name))
    if not isinstance(plan.problem, dict):
        raise _invalid("problem", "a JSON-able dict", plan.problem)


def _check_runs(plan):
    baselines.check_tuners(plan.tuners)
    if not plan.seeds:
        raise ValueError("Expected at least one seed.")
    for name in ("seeds", "grid_seeds"):
        seeds = getattr(plan, name)
        if any(
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
            for seed in seeds
        ):
            raise _invalid(name, "a sequence of non-negative integers", seeds)
