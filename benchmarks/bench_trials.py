"""Time IMDB trials at the reference settings, and the tuner's overhead.

For units 10, 100 and 190 (num_words 88,584, 250 tokens, batch 32, 20% of
the 25,000 training reviews held out for validation, as in the reference),
time one epoch of a plain `model.fit`. Then run the same epoch as a
`TwoStageTuner` trial (checkpointing included) for one units value and
report the overhead. From the epoch times, project the reference schedule:
19 stage-1 trials of 1 epoch, then 11 stage-2 trials of 30 epochs.

Usage:
    python benchmarks/bench_trials.py PATH_TO_aclImdb_v1.tar.gz [--units 10 100 190]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import keras
import keras_tuner
import numpy as np

from kt_twostage import ImdbLstmHyperModel, TwoStageTuner, load_imdb

REFERENCE_GRID = list(range(10, 200, 10))


def plain_fit_seconds(hypermodel, units, data, batch_size):
    hp = keras_tuner.HyperParameters()
    hp.Fixed("units", units)
    keras.backend.clear_session()
    model = hypermodel.build(hp)
    start = time.perf_counter()
    model.fit(
        data.x_train,
        data.y_train,
        epochs=1,
        validation_split=0.2,
        batch_size=batch_size,
        verbose=0,
    )
    return time.perf_counter() - start


def tuner_trial_seconds(hypermodel, units, data, batch_size):
    """Mean time of a trial: a one-value grid and one stage-2 trial, both of
    one epoch, timed around the whole `search` (checkpoints included)."""
    hp = keras_tuner.HyperParameters()
    hp.Choice("units", [units])
    hp.Float("learning_rate", 1e-6, 0.02, sampling="log", default=0.001)
    with tempfile.TemporaryDirectory() as directory:
        tuner = TwoStageTuner(
            hypermodel,
            hyperparameters=hp,
            stage2_trials=1,
            stage2_epochs=1,
            directory=directory,
            project_name="bench",
        )
        start = time.perf_counter()
        tuner.search(
            data.x_train,
            data.y_train,
            validation_split=0.2,
            batch_size=batch_size,
            verbose=0,
        )
        return (time.perf_counter() - start) / 2


def project_reference(epoch_seconds):
    """Project the reference schedule from measured epoch times (linear fit)."""
    units = np.array(sorted(epoch_seconds))
    seconds = np.array([epoch_seconds[u] for u in units])
    fit = np.polyfit(units, seconds, deg=min(2, len(units) - 1))
    per_units = {u: float(np.polyval(fit, u)) for u in REFERENCE_GRID}
    stage1 = sum(per_units.values())
    stage2 = {u: 11 * 30 * per_units[u] for u in (10, 100, 190)}
    return stage1, stage2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--units", type=int, nargs="+", default=[10, 100, 190])
    parser.add_argument("--overhead-units", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    start = time.perf_counter()
    data = load_imdb(args.data)
    print(f"data: {data} in {time.perf_counter() - start:.1f} s")
    hypermodel = ImdbLstmHyperModel()
    epoch_seconds = {}
    for units in args.units:
        epoch_seconds[units] = plain_fit_seconds(
            hypermodel, units, data, args.batch_size
        )
        print(f"units={units}: one epoch of model.fit {epoch_seconds[units]:.1f} s")

    plain = plain_fit_seconds(hypermodel, args.overhead_units, data, args.batch_size)
    trial = tuner_trial_seconds(hypermodel, args.overhead_units, data, args.batch_size)
    overhead = (trial - plain) / plain
    print(
        f"units={args.overhead_units}: plain fit {plain:.1f} s, tuner trial "
        f"{trial:.1f} s, overhead {100 * overhead:+.1f}%"
    )
    stage1, stage2 = project_reference(epoch_seconds)
    print(f"projected stage 1 (19 trials x 1 epoch): {stage1 / 60:.1f} min")
    for units, seconds in stage2.items():
        print(
            f"projected stage 2 (11 x 30 epochs) if units={units} wins: "
            f"{seconds / 3600:.1f} h"
        )
    print(
        json.dumps(
            {
                "epoch_seconds": epoch_seconds,
                "overhead": {"plain": plain, "trial": trial, "ratio": overhead},
                "projected_stage1_s": stage1,
                "projected_stage2_s": stage2,
            }
        )
    )


if __name__ == "__main__":
    main()
