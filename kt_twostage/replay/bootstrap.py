"""Intervals that include the table's own noise: a hierarchical bootstrap.

A table holds a few recorded runs (seeds) of each configuration; another
recording would have given other curves. Every replicate of
`TableBootstrap` therefore resamples twice:

1. **The table.** Each recorded configuration (units, recorded learning
   rate) draws its runs again, with replacement, independently of every
   other configuration: run `j` of the resampled table is recorded run
   `seed_maps[b, unit, rate, j]`.
2. **The searches.** The search indices `0..n-1` are drawn with
   replacement, the same indices for every tuner (searches are paired by
   seed index).

A search is not run again on the resampled table: its chosen configuration,
its chosen epoch and the index `j` of the run it drew are kept, and its
outcome is re-read from the resampled table: the `test_accuracy` at that
epoch of resampled run `j` (between two recorded learning rates, the
interpolation in log(learning rate) of the two neighbours' resampled runs).
With no resampling this is exactly the search's outcome.

**What an interval covers.** The 2.5 and 97.5 percentiles over the
replicates cover the variation of the mean outcome from (a) which searches
were run and (b) the training noise of the configurations they chose, as
the spread of the recorded seeds estimates it. They do not cover that on
another recording a tuner would have chosen other configurations (the
choices are held fixed), nor the choice of problem. With one recorded seed
(b) is zero. The regret's optimum is recomputed on every resampled table.
Holding a choice fixed while re-reading another run also takes away the
edge the search had from choosing on the run it saw, so the replicates sit
lower than the searches' outcomes: `table_noise` centres them on the
observed values and uses their spread.

`by_recorded_seed` gives the other view: each tuner's mean outcome when
every search's choice is scored on one recorded seed only.
"""

from __future__ import annotations

import numpy as np

from kt_twostage.replay.lookup import CurveLookup
from kt_twostage.replay.settings import OBJECTIVE, TEST_METRIC

REPLICATES = 1000
LOW_PERCENTILE, HIGH_PERCENTILE = 2.5, 97.5


def run_outcomes(curves, epochs) -> np.ndarray:
    """`(units, rates, seeds)` test accuracy of each recorded run at its
    best-validation epoch within `epochs` (the first on ties)."""
    val = curves.metrics[OBJECTIVE][..., :epochs]
    test = curves.metrics[TEST_METRIC][..., :epochs]
    best = np.argmax(val, axis=-1)[..., np.newaxis]
    return np.take_along_axis(test, best, axis=-1)[..., 0]


class TableBootstrap:
    """Resampled tables of one replay, shared by all its tuners.

    Args:
        curves: The `LearningCurves`.
        stage2_epochs: Integer, the epochs over which the optimum is chosen.
        replicates: Integer, bootstrap replicates. Defaults to `1000`.
        seed: Integer, the seed of the resampling. Defaults to `0`.
    """

    def __init__(self, curves, stage2_epochs, replicates=REPLICATES, seed=0):
        if isinstance(replicates, bool) or not (
            isinstance(replicates, int) and replicates >= 2
        ):
            raise ValueError(
                "Received an invalid value for argument `replicates`, expected "
                f"an integer of at least 2, got {replicates!r}."
            )
        self.curves = curves
        self.lookup = CurveLookup(curves)
        self.replicates = replicates
        self.rng = np.random.default_rng([int(seed), 0x7AB1E])
        units, rates, seeds = curves.metrics[TEST_METRIC].shape[:3]
        self.seed_maps = self.rng.integers(
            seeds, size=(replicates, units, rates, seeds)
        )
        outcomes = run_outcomes(curves, stage2_epochs)
        resampled = np.take_along_axis(
            outcomes[np.newaxis], self.seed_maps, axis=-1
        ).mean(axis=-1)
        # The optimum of each resampled table: its best configuration's mean.
        self.optimum = resampled.reshape(replicates, -1).max(axis=1)
        self.mean_configuration = resampled.reshape(replicates, -1).mean(axis=1)

    def choices(self, results):
        """Arrays `(unit, low, high, weight, seed, epoch)` of the searches'
        chosen trials (the epoch 0-based)."""
        curves, lookup = self.curves, self.lookup
        columns = [[] for _ in range(6)]
        for result in results:
            chosen = next(
                t for t in result.trials if t.trial_id == result.chosen_trial_id
            )
            low, high, weight = lookup.rate_neighbours(chosen.learning_rate)
            row = (
                curves.units.index(chosen.units),
                low,
                high,
                weight,
                chosen.table_seed_index,
                chosen.best_epoch - 1,
            )
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        return tuple(np.asarray(c) for c in columns)

    def rescored(self, results, seed_maps=None) -> np.ndarray:
        """`(replicates, searches)` outcomes re-read from each resampled
        table (`seed_maps` of shape `(replicates, units, rates, seeds)`;
        defaults to this bootstrap's)."""
        seed_maps = self.seed_maps if seed_maps is None else seed_maps
        unit, low, high, weight, seed, epoch = self.choices(results)
        test = self.curves.metrics[TEST_METRIC]
        run_low = seed_maps[:, unit, low, seed]
        run_high = seed_maps[:, unit, high, seed]
        return (1.0 - weight) * test[unit, low, run_low, epoch] + weight * test[
            unit, high, run_high, epoch
        ]

    def by_recorded_seed(self, results) -> dict:
        """`{seed: mean outcome}`: every search's choice scored on that
        recorded seed only."""
        unit, low, high, weight, _, epoch = self.choices(results)
        test = self.curves.metrics[TEST_METRIC]
        out = {}
        for index, seed in enumerate(self.curves.seeds):
            values = (1.0 - weight) * test[unit, low, index, epoch] + weight * test[
                unit, high, index, epoch
            ]
            out[seed] = float(values.mean())
        return out

    def search_draws(self, searches) -> np.ndarray:
        """`(replicates, searches)` search indices drawn with replacement."""
        return self.rng.integers(searches, size=(self.replicates, searches))

    def replicate_means(self, results_by_tuner) -> dict:
        """`{tuner: (replicates,) mean outcome}`, the searches resampled with
        the same indices for every tuner.

        Raises:
            ValueError: the tuners do not have the same number of searches.
        """
        counts = {len(results) for results in results_by_tuner.values()}
        if len(counts) != 1:
            raise ValueError(
                "Expected the same number of searches for every tuner, got "
                f"{sorted(counts)}."
            )
        draws = self.search_draws(counts.pop())
        return {
            tuner: np.take_along_axis(self.rescored(results), draws, axis=1).mean(
                axis=1
            )
            for tuner, results in results_by_tuner.items()
        }


def percentile_interval(values) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap replicates."""
    low, high = np.percentile(values, [LOW_PERCENTILE, HIGH_PERCENTILE])
    return float(low), float(high)


def ranks(means_by_tuner) -> dict:
    """`{tuner: (replicates,) rank}`, 1 the best mean outcome; tied tuners
    share the mean of their ranks."""
    tuners = list(means_by_tuner)
    matrix = np.stack([means_by_tuner[t] for t in tuners], axis=1)
    # Rank = 1 + tuners strictly better + half of the others tied with it.
    better = (matrix[:, np.newaxis, :] > matrix[:, :, np.newaxis]).sum(axis=2)
    tied = (matrix[:, np.newaxis, :] == matrix[:, :, np.newaxis]).sum(axis=2) - 1
    rank = 1.0 + better + tied / 2.0
    return {tuner: rank[:, i] for i, tuner in enumerate(tuners)}
