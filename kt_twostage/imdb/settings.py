"""The IMDB problem's settings: search presets and comparison profiles.

Pure settings (frozen dataclasses, checked when made), no Keras: the command
line checks every flag against them before any data is loaded.
"""

from __future__ import annotations

import dataclasses
import numbers

from kt_twostage import oracle_checks
from kt_twostage._validation import (
    check_positive_float,
    check_positive_int,
    check_stage1_not_above_max,
)
from kt_twostage.imdb.sample import sample_path

_POSITIVE_INTS = (
    "units_min",
    "units_max",
    "units_step",
    "stage1_epochs",
    "stage2_epochs",
    "stage2_trials",
    "num_words",
    "max_length",
    "batch_size",
)


@dataclasses.dataclass(frozen=True)
class ImdbProblemSettings:
    """The IMDB problem and two-stage schedule, shared by search and compare.

    Defaults: the reference. `data=None` means the `KT_TWOSTAGE_IMDB`
    environment variable, else the official archive, downloaded once (see
    `load_imdb`).
    """

    data: str | None = None
    units_min: int = 10
    units_max: int = 190
    units_step: int = 10
    stage1_epochs: int = 1
    stage2_epochs: int = 30
    stage2_trials: int = 11
    max_learning_rate: float = 0.02
    stage1_learning_rate: float = 0.001
    num_words: int = 88584
    max_length: int = 250
    batch_size: int = 32
    validation_split: float = 0.2

    def __post_init__(self):
        # Every check here, before any data is loaded: a bad value must not
        # wait for the tokenization (minutes on the full data) to be reported.
        for name in _POSITIVE_INTS:
            check_positive_int(name, getattr(self, name))
        if self.num_words < 2:
            raise ValueError(
                "Received an invalid value for argument `num_words`, expected an "
                "integer >= 2 (ids 0 and 1 are reserved for padding and "
                f"out-of-vocabulary words), got {self.num_words!r}."
            )
        check_positive_float("max_learning_rate", self.max_learning_rate)
        check_positive_float("stage1_learning_rate", self.stage1_learning_rate)
        check_stage1_not_above_max(self.stage1_learning_rate, self.max_learning_rate)
        if not self.units_min <= self.units_max:
            raise ValueError(
                f"Received units_min={self.units_min} > units_max="
                f"{self.units_max}; expected units_min <= units_max."
            )
        if not 0 < self.validation_split < 1:
            raise ValueError(
                "Received an invalid value for `validation_split`, expected a "
                f"number between 0 and 1 (exclusive), got {self.validation_split}."
            )


@dataclasses.dataclass(frozen=True)
class ImdbSearchSettings(ImdbProblemSettings):
    """Everything that defines one IMDB search. Defaults: the reference."""

    seed: int | None = None
    verbose: int = 1
    directory: str = "kt_twostage_runs"
    project_name: str = "imdb"
    overwrite: bool = False
    # Speed options, all off by default (the reference). `stage2_patience`
    # changes the stage-2 scores, so a project resumes only with its value;
    # `mixed_precision` changes the numbers too (not checked on resume);
    # `keep_checkpoints` only deletes files nothing can choose any more.
    stage2_patience: int | None = None
    keep_checkpoints: int | None = None
    mixed_precision: bool = False
    # The variant (see `TwoStageOracle`): `stage2_rule="compass"` searches
    # from the stage-1 learning rate; `reinvest_stopped_epochs` (with
    # `stage2_patience`) spends the epochs early stopping saves on stage 2.
    stage2_rule: str = "reference"
    reinvest_stopped_epochs: bool = False

    def __post_init__(self):
        for name in ("stage2_patience", "keep_checkpoints"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        # The oracle's own checks, here so that the CLI fails before loading
        # data (stage 2 is sequential unless the search is distributed).
        oracle_checks.check_stage2_rule(self.stage2_rule, parallelism=1)
        oracle_checks.check_reinvest(
            self.reinvest_stopped_epochs, self.stage2_patience, parallelism=1
        )
        if self.seed is not None and (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, numbers.Integral)
            or self.seed < 0
        ):
            raise ValueError(
                "Received an invalid value for argument `seed`, expected a "
                f"non-negative integer or None, got {self.seed!r}."
            )
        if self.verbose not in (0, 1, 2, "auto"):
            raise ValueError(
                "Received an invalid value for argument `verbose`, expected 0 "
                f'(silent), 1 (progress bars), 2 (one line per epoch) or "auto", '
                f"got {self.verbose!r}."
            )
        for name in ("directory", "project_name"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, expected "
                    f"a non-empty string, got {getattr(self, name)!r}."
                )
        super().__post_init__()


PRESETS = {
    # The reference schedule on the full dataset: 19 + 11 trials.
    "seed": ImdbSearchSettings(),
    # The built-in sample with a short schedule: under a minute on 2 CPU cores.
    "quick": ImdbSearchSettings(
        data=sample_path(),
        units_min=8,
        units_max=32,
        units_step=8,
        stage2_epochs=3,
        stage2_trials=4,
        num_words=10000,
        max_length=120,
        seed=0,
        project_name="imdb_quick",
    ),
}


@dataclasses.dataclass(frozen=True)
class ImdbCompareSettings(ImdbProblemSettings):
    """Everything that defines one IMDB comparison. Defaults: the reference.

    `data=None` means the `KT_TWOSTAGE_IMDB` environment variable, else the
    official archive, downloaded once (see `load_imdb`). `train_reviews` and
    `test_reviews` keep the first reviews of each (shuffled) split; None keeps
    all 25,000. The validation data is the last `validation_split` of the
    kept training reviews, as `fit(validation_split=...)` takes it.

    The learning-rate hyperparameter spans `[lowest_learning_rate,
    max_learning_rate]`. `min_learning_rate` sets its low end; `None` (the
    default) takes `min(stage1_learning_rate, max_learning_rate /
    2**(stage2_trials - 1))`, the range the reference rule can reach. That
    narrow range (1.3 decades for the `cpu` profile) favours the tuners that
    sample it at random; `kt-twostage replay` uses the table's range (about
    2.4 decades), and `min_learning_rate=7.8125e-5` gives `compare` the same.
    """

    train_reviews: int | None = None
    test_reviews: int | None = None
    grid_learning_rates: int = 5
    grid_seeds: int = 1
    min_learning_rate: float | None = None

    def __post_init__(self):
        super().__post_init__()
        for name in ("train_reviews", "test_reviews"):
            value = getattr(self, name)
            if value is not None and value < 2:
                raise ValueError(f"Expected `{name}` >= 2 or None, got {value}.")
        if self.grid_seeds < 1 or self.grid_learning_rates < 1:
            raise ValueError("`grid_seeds` and `grid_learning_rates` must be >= 1.")
        check_positive_float(
            "min_learning_rate", self.min_learning_rate, allow_none=True
        )
        if self.min_learning_rate is not None and not (
            self.min_learning_rate <= self.stage1_learning_rate
        ):
            raise ValueError(
                "Received an invalid value for argument `min_learning_rate`, "
                "expected at most the stage-1 learning rate "
                f"({self.stage1_learning_rate:g}), got {self.min_learning_rate:g}."
            )

    @property
    def lowest_learning_rate(self) -> float:
        """The low end of the learning-rate hyperparameter."""
        if self.min_learning_rate is not None:
            return self.min_learning_rate
        return min(
            self.stage1_learning_rate,
            self.max_learning_rate / 2 ** (self.stage2_trials - 1),
        )


PROFILES = {
    # The reference schedule on all 25,000 + 25,000 reviews: weeks on a CPU.
    "seed": ImdbCompareSettings(),
    # All of IMDB's test reviews, a 10,000-review training subset and a
    # short schedule: 3 seeds took 28 min of search on 2 CPU cores, 45 min
    # with other jobs on the machine (docs/BENCHMARKS.md says why these).
    "cpu": ImdbCompareSettings(
        units_min=16,
        units_max=64,
        units_step=16,
        stage2_epochs=3,
        stage2_trials=5,
        num_words=20000,
        max_length=150,
        train_reviews=10000,
        grid_learning_rates=4,
    ),
    # The built-in sample, for tests: well under a minute.
    "tiny": ImdbCompareSettings(
        data=sample_path(),
        units_min=8,
        units_max=16,
        units_step=8,
        stage2_epochs=2,
        stage2_trials=2,
        num_words=2000,
        max_length=50,
        train_reviews=500,
        test_reviews=500,
        grid_learning_rates=2,
    ),
}
