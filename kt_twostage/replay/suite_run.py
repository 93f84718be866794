"""Replays of several tables at several stage-1 learning rates: a suite.

Each (table, stage-1 learning rate) is one entry of the suite, named
`<table stem>-lr<rate>`. The stage-1 rate is the space's default and the
two-stage rules' first rate; `"upper-quartile"` is the table's upper
geometric quartile, `low * (high / low) ** 0.75` (0.005 on a table from
7.8125e-05 to 0.02), so that no rule wins by starting on a lucky default.

The baselines (`BASELINE_TUNERS`) do not read the stage-1 rate: their
oracles sample the space at random (or by TPE) and never use a default.
Their searches are run once per table and stand for every stage-1 rate
(a test checks that they are identical at two rates); only the two-stage
rules are replayed again. That is how the searches are driven, not a
change to any of them. Light to import: Keras Tuner loads when a replay
runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time

from kt_twostage.replay.settings import resolve_settings
from kt_twostage.replay.tuners import BASELINE_TUNERS

UPPER_QUARTILE = "upper-quartile"
DEFAULT_STAGE1_RATES = ("0.001", UPPER_QUARTILE)
QUICK_SEEDS = 40


def stage1_rate(curves, spec) -> float:
    """The stage-1 learning rate `spec` on `curves`: a number, or
    `"upper-quartile"`.

    Raises:
        ValueError: `spec` is neither.
    """
    if spec == UPPER_QUARTILE:
        low, high = curves.learning_rates[0], curves.learning_rates[-1]
        return float(f"{low * (high / low) ** 0.75:.6g}")
    try:
        rate = float(spec)
    except (TypeError, ValueError):
        raise ValueError(
            f"Expected a stage-1 learning rate as a number or "
            f"{UPPER_QUARTILE!r}, got {spec!r}."
        ) from None
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"Expected a positive stage-1 learning rate, got {spec!r}.")
    return rate


def entry_name(table_path, rate) -> str:
    """`<table stem>-lr<rate>`, the entry's name and folder."""
    stem = os.path.splitext(os.path.basename(table_path))[0]
    return f"{stem}-lr{rate:g}"


def run_entries(
    curves, schedule, rates, *, tuners, budgets, seeds, replay_seed, workers, log
) -> list:
    """`[(rate, ReplayRun, reused tuners)]` of one table at each stage-1
    rate in `rates` (checked `resolve_settings` keywords in `schedule`)."""
    # Keras Tuner loads with the runner: the command line reads this
    # module's names before it checks its flags.
    from kt_twostage.replay.run import run_replay

    out, shared = [], None
    for rate in rates:
        settings = resolve_settings(curves, stage1_learning_rate=rate, **schedule)
        reused = tuple(t for t in tuners if shared is not None and t in shared)
        to_run = tuple(t for t in tuners if t not in reused)
        start = time.perf_counter()
        run = run_replay(
            curves,
            settings,
            tuners=to_run,
            budgets=budgets,
            seeds=seeds,
            replay_seed=replay_seed,
            workers=workers,
            log=log,
        )
        if shared is None:
            shared = {
                t: [r for r in run.results if r.search.tuner == t]
                for t in tuners
                if t in BASELINE_TUNERS
            }
        results = list(run.results)
        for tuner in reused:
            results += shared[tuner]
        out.append(
            (rate, _merged(run, tuners, results, time.perf_counter() - start), reused)
        )
    return out


def _merged(run, tuners, results, seconds):
    order = {name: i for i, name in enumerate(tuners)}
    budget_order = {multiple: i for i, (multiple, _) in enumerate(run.budgets)}
    results.sort(
        key=lambda r: (
            budget_order[r.search.budget_multiple],
            order[r.search.tuner],
            r.search.seed_index,
        )
    )
    return dataclasses.replace(
        run, tuners=tuple(tuners), results=tuple(results), seconds=seconds
    )
