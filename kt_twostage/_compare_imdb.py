"""The settings of an IMDB comparison (`run_imdb_compare`) and its profiles."""

from __future__ import annotations

import dataclasses

from kt_twostage.data import sample_path
from kt_twostage.imdb_search import ImdbProblemSettings


@dataclasses.dataclass(frozen=True)
class ImdbCompareSettings(ImdbProblemSettings):
    """Everything that defines one IMDB comparison. Defaults: the reference.

    `data=None` means the `KT_TWOSTAGE_IMDB` environment variable, else the
    official archive, downloaded once (see `load_imdb`). `train_reviews` and
    `test_reviews` keep the first reviews of each (shuffled) split; None keeps
    all 25,000. The validation data is the last `validation_split` of the
    kept training reviews, as `fit(validation_split=...)` takes it.

    The learning-rate hyperparameter spans `[min(stage1_learning_rate,
    max_learning_rate / 2**(stage2_trials - 1)), max_learning_rate]`: the
    range the two-stage schedule can reach, so that no tuner searches values
    the others cannot.
    """

    train_reviews: int | None = None
    test_reviews: int | None = None
    grid_learning_rates: int = 5
    grid_seeds: int = 1

    def __post_init__(self):
        super().__post_init__()
        for name in ("train_reviews", "test_reviews"):
            value = getattr(self, name)
            if value is not None and value < 2:
                raise ValueError(f"Expected `{name}` >= 2 or None, got {value}.")
        if self.grid_seeds < 1 or self.grid_learning_rates < 1:
            raise ValueError("`grid_seeds` and `grid_learning_rates` must be >= 1.")

    @property
    def min_learning_rate(self) -> float:
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
