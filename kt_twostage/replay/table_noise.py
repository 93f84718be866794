"""The table-noise numbers of one replay, from `TableBootstrap`.

`table_noise(run)` gives, per budget, every tuner's bootstrap replicates
(mean outcome, rank among the tuners replayed, normalised regret) and the
summary of them that `summary.json` carries; the suite (`suite`) combines
the replicates of several replays. See `kt_twostage.replay.bootstrap` for
what an interval covers.

**Normalised regret** = (optimum - outcome) / (optimum - mean
configuration): 0 at the table's optimum, 1 no better than a recorded
configuration drawn at random (the mean over the table's grid of each
configuration's mean outcome), each replicate on its own resampled table.

Every replicate series (mean outcomes, the optimum, the mean configuration)
is centred on its observed value (`centred`): the intervals use the
bootstrap's spread, not its shift.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kt_twostage.replay.bootstrap import (
    REPLICATES,
    TableBootstrap,
    percentile_interval,
    ranks,
)
from kt_twostage.replay.settings import budget_label


@dataclasses.dataclass(frozen=True)
class BudgetNoise:
    """The replicates of one budget of one replay.

    Attributes:
        means: `{tuner: (replicates,) mean outcome}`.
        ranks: `{tuner: (replicates,) rank}` (1 the best).
        normalised_regret: `{tuner: (replicates,)}`.
        point_means: `{tuner: mean outcome of the searches as run}`.
        point_normalised_regret: `{tuner: float}`, of the table as recorded.
        by_recorded_seed: `{tuner: {seed: mean outcome}}`.
    """

    means: dict
    ranks: dict
    normalised_regret: dict
    point_means: dict
    point_normalised_regret: dict
    by_recorded_seed: dict


def table_noise(run, replicates=REPLICATES) -> dict:
    """`{budget multiple: BudgetNoise}` of a `ReplayRun`."""
    from kt_twostage.replay.bootstrap import run_outcomes
    from kt_twostage.replay.summary import results_by

    epochs = run.settings.stage2_epochs
    grouped = results_by(run)
    recorded = run_outcomes(run.curves, epochs).mean(axis=-1)
    optimum, mean_configuration = float(recorded.max()), float(recorded.mean())
    out = {}
    for number, (multiple, _) in enumerate(run.budgets):
        bootstrap = TableBootstrap(
            run.curves,
            epochs,
            replicates=replicates,
            seed=run.replay_seed * 1000 + number,
        )
        by_tuner = {tuner: grouped[multiple, tuner] for tuner in run.tuners}
        point = {
            t: float(np.mean([r.test_accuracy for r in rs]))
            for t, rs in by_tuner.items()
        }
        means = {
            t: centred(m, point[t])
            for t, m in bootstrap.replicate_means(by_tuner).items()
        }
        spread = centred(bootstrap.optimum, optimum) - centred(
            bootstrap.mean_configuration, mean_configuration
        )
        resampled_optimum = centred(bootstrap.optimum, optimum)
        out[multiple] = BudgetNoise(
            means=means,
            ranks=ranks(means),
            normalised_regret={
                t: (resampled_optimum - m) / spread for t, m in means.items()
            },
            point_means=point,
            point_normalised_regret={
                t: (optimum - m) / (optimum - mean_configuration)
                for t, m in point.items()
            },
            by_recorded_seed={
                t: bootstrap.by_recorded_seed(rs) for t, rs in by_tuner.items()
            },
        )
    return out


def centred(replicates, point) -> np.ndarray:
    """`replicates` shifted so that their mean is `point`.

    Holding each search's choice fixed while re-reading its outcome from
    another recorded run takes away the edge the search had from choosing
    on that run: a bias of the resampling, not of the tuner. The intervals
    therefore take the replicates' spread around the observed value.
    """
    replicates = np.asarray(replicates, dtype=float)
    return replicates - replicates.mean() + point


def point_ranks(point_means) -> dict:
    """`{tuner: rank}` of the searches as run (ties share their mean rank)."""
    single = {t: np.array([m]) for t, m in point_means.items()}
    return {t: float(r[0]) for t, r in ranks(single).items()}


def _interval_dict(point, replicates) -> dict:
    low, high = percentile_interval(replicates)
    return {"mean": float(point), "ci95_low": low, "ci95_high": high}


def noise_entries(noise: BudgetNoise, baselines) -> dict:
    """`{tuner: {...}}` of one budget for `summary.json`: the table-noise
    interval of the mean outcome, of the rank and of the paired differences
    against `baselines`, and the per-recorded-seed means."""
    ranked = point_ranks(noise.point_means)
    entries = {}
    for tuner, means in noise.means.items():
        entry = {
            "mean_test": _interval_dict(noise.point_means[tuner], means),
            "rank": _interval_dict(ranked[tuner], noise.ranks[tuner]),
            "normalised_regret": _interval_dict(
                noise.point_normalised_regret[tuner], noise.normalised_regret[tuner]
            ),
            "by_recorded_seed": {
                str(seed): value
                for seed, value in noise.by_recorded_seed[tuner].items()
            },
        }
        for baseline in baselines:
            if baseline == tuner or baseline not in noise.means:
                continue
            point = noise.point_means[tuner] - noise.point_means[baseline]
            diff = _interval_dict(point, means - noise.means[baseline])
            seeds_here = noise.by_recorded_seed[tuner]
            seeds_there = noise.by_recorded_seed[baseline]
            diff["by_recorded_seed"] = {
                str(seed): seeds_here[seed] - seeds_there[seed] for seed in seeds_here
            }
            entry[f"diff_vs_{baseline}"] = diff
        entries[tuner] = entry
    return entries


def noise_summary(noise_by_budget, baselines) -> dict:
    """`{budget label: {tuner: noise entry}}`."""
    return {
        budget_label(multiple): noise_entries(noise, baselines)
        for multiple, noise in noise_by_budget.items()
    }
