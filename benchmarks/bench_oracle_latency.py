"""How long `TwoStageOracle.create_trial` takes when the oracle holds many trials.

The oracle is driven by hand, as Keras Tuner's `hyperband_test` does: no model
is trained, each trial gets a fake score (`update_trial`, `end_trial`). The
units grid has `--trials` values (stage 1), then `--stage2-trials` stage-2
trials follow, so the last stage-1 trials and every stage-2 trial are
created by an oracle that already holds about `--trials` trials. Every
`create_trial` is timed (wall clock, `time.perf_counter`), its files
(`trial.json`, `oracle.json`, written with `fsync`) included.

Usage:
    python benchmarks/bench_oracle_latency.py [--trials 1000]
        [--stage2-trials 11] [--out FILE.json]

Prints the median, 95th percentile and maximum of `create_trial` over the
trials created while the oracle held at least `--trials - 10` trials, and
the same for `update_trial + end_trial`; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time

import keras_tuner
from keras_tuner.engine import trial as trial_module

from kt_twostage import TwoStageOracle

RUNNING = trial_module.TrialStatus.RUNNING
STOPPED = trial_module.TrialStatus.STOPPED


def fake_score(values):
    """A deterministic score with a best units value and a best learning rate."""
    units = values["units"]
    learning_rate = values["learning_rate"]
    return 1.0 - abs(units - 20) / 1e4 - abs(math.log2(learning_rate / 0.004)) / 50


def make_oracle(directory, trials, stage2_trials):
    space = keras_tuner.HyperParameters()
    space.Int("units", 1, trials)
    space.Float("learning_rate", 1e-6, 0.02, sampling="log", default=0.001)
    oracle = TwoStageOracle(
        objective=keras_tuner.Objective("score", "max"),
        hyperparameters=space,
        stage2_trials=stage2_trials,
        stage2_epochs=1,
    )
    oracle._set_project_dir(directory, "latency")
    return oracle


def drive(oracle):
    """Run the schedule to its end; returns `(held, create_s, end_s)` rows."""
    rows = []
    while True:
        held = len(oracle.trials)
        start = time.perf_counter()
        trial = oracle.create_trial("tuner0")
        created = time.perf_counter()
        if trial.status == STOPPED:
            return rows
        if trial.status != RUNNING:
            raise RuntimeError(f"Unexpected trial status {trial.status}.")
        score = fake_score(trial.hyperparameters.values)
        oracle.update_trial(trial.trial_id, {"score": score})
        trial.status = trial_module.TrialStatus.COMPLETED
        oracle.end_trial(trial)
        rows.append((held, created - start, time.perf_counter() - created))


def describe(seconds):
    ordered = sorted(seconds)
    return {
        "median_ms": 1e3 * statistics.median(ordered),
        "p95_ms": 1e3 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max_ms": 1e3 * ordered[-1],
        "count": len(ordered),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--stage2-trials", type=int, default=11)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.trials < 20:
        parser.error(f"Received --trials={args.trials}, expected at least 20.")
    with tempfile.TemporaryDirectory() as directory:
        oracle = make_oracle(directory, args.trials, args.stage2_trials)
        start = time.perf_counter()
        rows = drive(oracle)
        total = time.perf_counter() - start
    late = [row for row in rows if row[0] >= args.trials - 10]
    result = {
        "trials": len(rows),
        "held_at_least": args.trials - 10,
        "create_trial": describe([row[1] for row in late]),
        "update_and_end_trial": describe([row[2] for row in late]),
        "create_trial_first_10": describe([row[1] for row in rows[:10]]),
        "total_seconds": total,
        "load_average": os.getloadavg()[0],
    }
    for name in ("create_trial_first_10", "create_trial", "update_and_end_trial"):
        stats = result[name]
        print(
            f"{name}: median {stats['median_ms']:.1f} ms, 95th percentile "
            f"{stats['p95_ms']:.1f} ms, max {stats['max_ms']:.1f} ms "
            f"({stats['count']} calls)"
        )
    print(f"{len(rows)} trials in {total:.1f} s, load {result['load_average']:.1f}")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(result, handle, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
