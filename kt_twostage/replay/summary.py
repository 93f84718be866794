"""The numbers of a replay: per budget and tuner, and per search.

The outcome of a search is the `test_accuracy` at the best-validation epoch
of the trial the tuner chose. Its regret is `optimum - outcome`, the optimum
being the recorded (units, learning rate) with the highest mean over the
table's seeds of `test_accuracy` at its best-validation epoch within
`stage2_epochs` (`table_optimum`). Regret can be below 0: a search may draw a
lucky seed, or an interpolated learning rate may beat the grid's.
"""

from __future__ import annotations

import numpy as np

from kt_twostage.replay.lookup import table_optimum
from kt_twostage.replay.search import ENDED_BY_BUDGET
from kt_twostage.replay.settings import budget_label
from kt_twostage.replay.stats import mean_interval, paired_difference
from kt_twostage.replay.tuners import REFERENCE

# Paired differences are given against the reference rule and against the
# built-in tuners a variant must beat.
BASELINES = (REFERENCE, "random", "bayesian", "hyperband")
DIFF_KEY = f"diff_vs_{REFERENCE}"


def diff_key(baseline) -> str:
    """The `summary.json` key of the paired differences against `baseline`."""
    return f"diff_vs_{baseline}"


SEARCH_COLUMNS = (
    "budget",
    "budget_epochs",
    "tuner",
    "seed_index",
    "oracle_seed",
    "test_accuracy",
    "regret",
    "val_accuracy",
    "units",
    "learning_rate",
    "best_epoch",
    "epochs_used",
    "trials",
    "ended_by",
    "seconds",
)


def optimum_of(run):
    """The run's regret reference (`table_optimum` over `stage2_epochs`)."""
    return table_optimum(run.curves, run.settings.stage2_epochs)


def results_by(run) -> dict:
    """`{(budget_multiple, tuner): [SearchResult by seed index]}`."""
    grouped = {}
    for result in run.results:
        key = (result.search.budget_multiple, result.search.tuner)
        grouped.setdefault(key, []).append(result)
    return grouped


def summarize(run, noise=None) -> dict:
    """The `summary.json` dict of a `ReplayRun`.

    `noise`: its `table_noise` (`{budget multiple: BudgetNoise}`); each tuner
    entry then carries its `table_noise` intervals (the hierarchical
    bootstrap's, against every other tuner).
    """
    from kt_twostage.replay.table_noise import noise_entries

    optimum = optimum_of(run).test_accuracy
    grouped = results_by(run)
    summary = {}
    for multiple, epochs in run.budgets:
        entries = {}
        baselines = {
            name: grouped[multiple, name]
            for name in BASELINES
            if (multiple, name) in grouped
        }
        for tuner in run.tuners:
            entries[tuner] = _tuner_entry(
                grouped[multiple, tuner], baselines, optimum, epochs
            )
        if noise is not None:
            for tuner, entry in noise_entries(noise[multiple], run.tuners).items():
                entries[tuner]["table_noise"] = entry
        summary[budget_label(multiple)] = entries
    return summary


def _tuner_entry(results, baselines, optimum, epochs) -> dict:
    outcomes = np.array([r.test_accuracy for r in results])
    test = mean_interval(outcomes)
    regret = mean_interval(optimum - outcomes)
    interval = test.to_dict()
    entry = {
        "mean_test": test.mean,
        "ci95_low": interval["ci95_low"],
        "ci95_high": interval["ci95_high"],
        "n_seeds": test.n,
        "mean_epochs": float(np.mean([r.epochs_used for r in results])),
        "budget_epochs": epochs,
        "mean_trials": float(np.mean([len(r.trials) for r in results])),
        "ended_by_budget": float(
            np.mean([r.ended_by == ENDED_BY_BUDGET for r in results])
        ),
        **regret.to_dict("regret_"),
    }
    for name, baseline in baselines.items():
        if name == results[0].search.tuner:
            continue
        base = np.array([r.test_accuracy for r in baseline])
        difference = paired_difference(outcomes, base)
        entry[diff_key(name)] = {**difference.to_dict(), "n_pairs": difference.n}
    return entry


def describe(run, *, table_sha256=None, load_average=None, command=None) -> dict:
    """The `replay.json` dict: what the replay ran on and how long it took."""
    curves, settings = run.curves, run.settings
    optimum = optimum_of(run)
    seconds = {}
    for (multiple, tuner), results in results_by(run).items():
        seconds.setdefault(budget_label(multiple), {})[tuner] = sum(
            r.seconds for r in results
        )
    oracle_seeds = sorted({r.oracle_seed for r in run.results})
    return {
        "table": {
            "path": curves.path,
            "sha256": table_sha256,
            "units": list(curves.units),
            "learning_rates": list(curves.learning_rates),
            "seeds": list(curves.seeds),
            "epochs": curves.epochs,
        },
        "settings": {**vars(settings), "reference_budget_epochs": run.reference_budget},
        "budgets": {budget_label(m): e for m, e in run.budgets},
        "tuners": list(run.tuners),
        "seeds_per_tuner": run.seeds,
        "replay_seed": run.replay_seed,
        "optimum": vars(optimum),
        # Keras Tuner draws the k-th value with random.Random(seed + k): two
        # searches share draws only if their seeds are this close.
        "closest_oracle_seeds": int(np.min(np.diff(oracle_seeds)))
        if len(oracle_seeds) > 1
        else None,
        "workers": run.workers,
        "wall_seconds": run.seconds,
        "search_seconds": seconds,
        "load_average": load_average,
        "command": command,
    }


def search_rows(run) -> list[dict]:
    """One `SEARCH_COLUMNS` dict per search."""
    optimum = optimum_of(run).test_accuracy
    rows = []
    for r in run.results:
        rows.append(
            {
                "budget": budget_label(r.search.budget_multiple),
                "budget_epochs": r.search.budget_epochs,
                "tuner": r.search.tuner,
                "seed_index": r.search.seed_index,
                "oracle_seed": r.oracle_seed,
                "test_accuracy": r.test_accuracy,
                "regret": optimum - r.test_accuracy,
                "val_accuracy": r.val_accuracy,
                "units": r.units,
                "learning_rate": r.learning_rate,
                "best_epoch": r.best_epoch,
                "epochs_used": r.epochs_used,
                "trials": len(r.trials),
                "ended_by": r.ended_by,
                "seconds": round(r.seconds, 4),
            }
        )
    return rows
