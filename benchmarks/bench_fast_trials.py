"""Where a trial's time, disk and memory go, beyond `model.fit` itself.

Subcommands (results are printed, the last line as JSON):

- ``components``: at the reference sizes (88,584 words; units 10, 100, 190),
  time what a `TwoStageTuner` trial adds around `fit`: `clear_session`,
  `gc.collect`, model build + compile, one best-epoch checkpoint write
  (Keras Tuner's `SaveBestEpoch`, optimizer included, and this project's
  `SaveBestWeights`), and the checkpoint file sizes; plus the bookkeeping
  of a trial (oracle, `trial.json`, `oracle.json`, `tuner0.json` writes) with
  a trainer that trains nothing.
- ``overhead DATA``: a `TwoStageTuner` trial against `build + model.fit` of
  the same model, data and epochs, in the same process, interleaved
  `--repeats` times (medians are reported).
- ``memory``: RSS after each trial of a 15-trial search of a small real
  Keras model (the built-in IMDB sample).
- ``disk``: checkpoint bytes per units value, and the disk use of the whole
  reference schedule with and without `keep_checkpoints`, projected from
  them.
- ``batch DATA``: time per epoch and validation accuracy after `--epochs`
  epochs for batch sizes 32, 128, 512 on a subset of the training reviews.

Usage (DATA: an aclImdb folder or .tar.gz):
    python benchmarks/bench_fast_trials.py components
    python benchmarks/bench_fast_trials.py overhead DATA [--units 10] [--repeats 3]
    python benchmarks/bench_fast_trials.py memory
    python benchmarks/bench_fast_trials.py disk
    python benchmarks/bench_fast_trials.py batch DATA [--batch-sizes 32 128 512]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import tempfile
import time

import keras
import keras_tuner
import numpy as np
from keras_tuner.src.engine import tuner_utils

from kt_twostage import ImdbLstmHyperModel, TwoStageTuner, load_imdb, sample_path
from kt_twostage.checkpoints import SaveBestWeights

REFERENCE_GRID = list(range(10, 200, 10))
NUM_WORDS = 88584
MAX_LENGTH = 250


def fixed_hp(units, learning_rate=0.001):
    hp = keras_tuner.HyperParameters()
    hp.Fixed("units", units)
    hp.Fixed("learning_rate", learning_rate)
    return hp


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def load_average():
    return os.getloadavg()[0]


def rss_mib():
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- #
# components
# --------------------------------------------------------------------------- #
def checkpoint_write(callback_class, model, path, repeats):
    callback = callback_class(
        objective=keras_tuner.Objective("val_accuracy", "max"), filepath=path
    )
    callback.set_model(model)
    seconds = []
    for _ in range(repeats):
        callback.best_value = float("-inf")
        start = time.perf_counter()
        callback.on_epoch_end(0, {"val_accuracy": 0.5})
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), os.path.getsize(path)


class _NoTraining(TwoStageTuner):
    """A trial that trains nothing: what is left is the bookkeeping."""

    def run_trial(self, trial, *args, **kwargs):
        units = trial.hyperparameters.values["units"]
        return {"val_accuracy": 1.0 / (1 + abs(units - 50))}


def bookkeeping_seconds(directory):
    hypermodel = ImdbLstmHyperModel(num_words=100)
    tuner = _NoTraining(
        hypermodel, directory=directory, project_name="bookkeeping", overwrite=True
    )
    start = time.perf_counter()
    tuner.search(verbose=0)
    trials = len(tuner.oracle.trials)
    return (time.perf_counter() - start) / trials, trials


def components(args):
    hypermodel = ImdbLstmHyperModel(num_words=NUM_WORDS)
    rng = np.random.default_rng(0)
    x = rng.integers(0, NUM_WORDS, size=(32, MAX_LENGTH)).astype("int32")
    y = rng.integers(0, 2, size=(32,)).astype("float32")
    rows = {}
    with tempfile.TemporaryDirectory() as directory:
        for units in args.units:
            row = {"load_before": load_average()}
            row["clear_session_s"], _ = timed(keras.backend.clear_session)
            row["gc_collect_s"], _ = timed(gc.collect)
            row["build_compile_s"], model = timed(hypermodel.build, fixed_hp(units))
            # One step builds the optimizer's variables, as after an epoch.
            model.fit(x, y, batch_size=32, epochs=1, verbose=0)
            for name, callback_class in (
                ("keras_tuner", tuner_utils.SaveBestEpoch),
                ("weights_only", SaveBestWeights),
            ):
                path = os.path.join(directory, f"{name}_{units}.weights.h5")
                seconds, size = checkpoint_write(
                    callback_class, model, path, args.repeats
                )
                row[f"checkpoint_{name}_s"] = seconds
                row[f"checkpoint_{name}_bytes"] = size
            fresh = hypermodel.build(fixed_hp(units))
            row["load_weights_only_s"], _ = timed(
                fresh.load_weights,
                os.path.join(directory, f"weights_only_{units}.weights.h5"),
            )
            row["load_after"] = load_average()
            rows[units] = row
            print(
                f"units={units}: clear_session {row['clear_session_s']:.3f} s, "
                f"gc.collect {row['gc_collect_s']:.3f} s, build+compile "
                f"{row['build_compile_s']:.3f} s, checkpoint (Keras Tuner) "
                f"{row['checkpoint_keras_tuner_s']:.3f} s / "
                f"{row['checkpoint_keras_tuner_bytes'] / 1e6:.1f} MB, "
                f"weights only {row['checkpoint_weights_only_s']:.3f} s / "
                f"{row['checkpoint_weights_only_bytes'] / 1e6:.1f} MB, load "
                f"{row['load_weights_only_s']:.3f} s"
            )
        per_trial, trials = bookkeeping_seconds(directory)
    print(f"bookkeeping (no training), mean of {trials} trials: {per_trial:.3f} s")
    # What `TwoStageTuner.search` does: freeze the objects alive at its start.
    gc.collect()
    tracked = len(gc.get_objects())
    gc.freeze()
    frozen_gc, _ = timed(gc.collect)
    frozen_clear, _ = timed(keras.backend.clear_session)
    gc.unfreeze()
    print(
        f"{tracked} objects tracked; with them frozen: gc.collect "
        f"{frozen_gc:.3f} s, clear_session {frozen_clear:.3f} s"
    )
    print(
        json.dumps(
            {
                "units": rows,
                "bookkeeping_s_per_trial": per_trial,
                "tracked_objects": tracked,
                "frozen": {"gc_collect_s": frozen_gc, "clear_session_s": frozen_clear},
            }
        )
    )


# --------------------------------------------------------------------------- #
# overhead
# --------------------------------------------------------------------------- #
class _FitClock(keras.callbacks.Callback):
    """Wall and CPU time of each `fit` (Keras Tuner deep-copies callbacks)."""

    fits = []

    def __deepcopy__(self, memo):
        return self

    def on_train_begin(self, logs=None):
        self._start = (time.perf_counter(), time.process_time())

    def on_train_end(self, logs=None):
        wall, cpu = self._start
        self.fits.append((time.perf_counter() - wall, time.process_time() - cpu))


def clocks():
    return time.perf_counter(), time.process_time()


def since(start):
    wall, cpu = start
    return time.perf_counter() - wall, time.process_time() - cpu


def plain_run(hypermodel, units, data, epochs, batch_size):
    """`clear_session`, build and `fit`: what a hand-written loop does."""
    _FitClock.fits.clear()
    start = clocks()
    keras.backend.clear_session()
    model = hypermodel.build(fixed_hp(units))
    model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        validation_split=0.2,
        batch_size=batch_size,
        verbose=0,
        callbacks=[_FitClock()],
    )
    wall, cpu = since(start)
    ((fit_wall, fit_cpu),) = _FitClock.fits
    return {"wall": wall, "cpu": cpu, "fit_wall": fit_wall, "fit_cpu": fit_cpu}


def trial_run(hypermodel, units, data, epochs, batch_size, directory):
    """Per trial: a one-value grid and a one-trial stage 2 (2 trials)."""
    hp = keras_tuner.HyperParameters()
    hp.Choice("units", [units])
    tuner = TwoStageTuner(
        hypermodel,
        hyperparameters=hp,
        stage1_epochs=epochs,
        stage2_epochs=epochs,
        stage2_trials=1,
        directory=directory,
        project_name="overhead",
        overwrite=True,
    )
    _FitClock.fits.clear()
    start = clocks()
    tuner.search(
        data.x_train,
        data.y_train,
        validation_split=0.2,
        batch_size=batch_size,
        verbose=0,
        callbacks=[_FitClock()],
    )
    wall, cpu = since(start)
    trials = len(_FitClock.fits)
    return {
        "wall": wall / trials,
        "cpu": cpu / trials,
        "fit_wall": sum(f[0] for f in _FitClock.fits) / trials,
        "fit_cpu": sum(f[1] for f in _FitClock.fits) / trials,
    }


def overhead(args):
    data = load_imdb(args.data, num_words=NUM_WORDS, max_length=MAX_LENGTH)
    if args.train_reviews:
        data = data.__class__(
            data.x_train[: args.train_reviews],
            data.y_train[: args.train_reviews],
            data.x_test,
            data.y_test,
            data.vocabulary,
        )
    hypermodel = ImdbLstmHyperModel(num_words=NUM_WORDS)
    runs = {"plain": [], "trial": []}
    loads = []
    with tempfile.TemporaryDirectory() as directory:
        # Warm-up (not counted): the first fit of a process is slower.
        plain_run(hypermodel, args.units, data, 1, args.batch_size)
        for repeat in range(args.repeats):
            # ABBA order, so that a load that rises or falls during a repeat
            # weighs on both sides alike.
            order = ("plain", "trial", "trial", "plain")
            for name in order[:2] if repeat % 2 == 0 else order[2:]:
                loads.append(load_average())
                if name == "plain":
                    run = plain_run(
                        hypermodel, args.units, data, args.epochs, args.batch_size
                    )
                else:
                    run = trial_run(
                        hypermodel,
                        args.units,
                        data,
                        args.epochs,
                        args.batch_size,
                        directory,
                    )
                runs[name].append(run)
                print(
                    f"repeat {repeat} {name}: wall {run['wall']:.2f} s (fit "
                    f"{run['fit_wall']:.2f} s), CPU {run['cpu']:.2f} s (fit "
                    f"{run['fit_cpu']:.2f} s), load {loads[-1]:.2f}",
                    flush=True,
                )
    summary = {}
    for key in ("wall", "cpu", "fit_wall", "fit_cpu"):
        summary[key] = {
            name: statistics.median(run[key] for run in runs[name]) for name in runs
        }
    trial, trial_cpu = summary["wall"]["trial"], summary["cpu"]["trial"]
    fit, fit_cpu = summary["fit_wall"]["plain"], summary["fit_cpu"]["plain"]
    outside = statistics.median(run["wall"] - run["fit_wall"] for run in runs["trial"])
    outside_cpu = statistics.median(
        run["cpu"] - run["fit_cpu"] for run in runs["trial"]
    )
    print(
        f"median per trial: wall {trial:.2f} s vs plain fit {fit:.2f} s "
        f"({100 * (trial / fit - 1):+.1f}%); CPU {trial_cpu:.2f} s vs "
        f"{fit_cpu:.2f} s ({100 * (trial_cpu / fit_cpu - 1):+.1f}%)"
    )
    print(
        f"trial time outside its fit (build, clear_session, checkpoint, "
        f"bookkeeping): {outside:.2f} s wall ({100 * outside / fit:.1f}% of a "
        f"plain fit), {outside_cpu:.2f} s CPU ({100 * outside_cpu / fit_cpu:.1f}%)"
    )
    print(
        json.dumps(
            {
                "runs": runs,
                "loads": loads,
                "summary": summary,
                "outside_fit": {"wall": outside, "cpu": outside_cpu},
                "units": args.units,
                "epochs": args.epochs,
            }
        )
    )


# --------------------------------------------------------------------------- #
# memory
# --------------------------------------------------------------------------- #
class _RssTuner(TwoStageTuner):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rss = []

    def on_trial_begin(self, trial):
        self._start = (time.perf_counter(), time.process_time())
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        wall, cpu = since(self._start)
        self.rss.append((trial.trial_id, rss_mib(), peak_rss_mib(), wall, cpu))
        print(
            f"trial {trial.trial_id}: RSS {self.rss[-1][1]:.0f} MiB, "
            f"peak {self.rss[-1][2]:.0f} MiB, {wall:.2f} s wall, {cpu:.2f} s CPU",
            flush=True,
        )


def memory(args):
    if args.no_freeze:
        # Measure without `TwoStageTuner`'s gc.freeze() during the search.
        import contextlib

        from kt_twostage import tuner as tuner_module

        tuner_module.long_lived_objects_frozen = contextlib.nullcontext
    data = load_imdb(sample_path(), num_words=2000, max_length=80)
    hypermodel = ImdbLstmHyperModel(num_words=2000, units=(8, 64, 8))
    with tempfile.TemporaryDirectory() as directory:
        tuner = _RssTuner(
            hypermodel,
            stage2_epochs=2,
            stage2_trials=args.stage2_trials,
            seed=0,
            directory=directory,
            project_name="memory",
        )
        print(f"before the search: RSS {rss_mib():.0f} MiB")
        tuner.search(
            data.x_train, data.y_train, validation_split=0.2, batch_size=32, verbose=0
        )
    values = [row[1] for row in tuner.rss]
    half = len(values) // 2
    print(
        f"{len(values)} trials: RSS first {values[0]:.0f} MiB, last "
        f"{values[-1]:.0f} MiB, max {max(values):.0f} MiB; growth over the "
        f"last {len(values) - half} trials {values[-1] - values[half]:+.0f} MiB"
    )
    print(json.dumps({"rss_mib": tuner.rss}))


# --------------------------------------------------------------------------- #
# disk
# --------------------------------------------------------------------------- #
def disk(args):
    """Checkpoint size per units value, measured, then the schedule's total."""
    hypermodel = ImdbLstmHyperModel(num_words=NUM_WORDS)
    x = np.zeros((32, MAX_LENGTH), dtype="int32")
    y = np.zeros((32,), dtype="float32")
    sizes = {}
    with tempfile.TemporaryDirectory() as directory:
        for units in args.units:
            keras.backend.clear_session()
            model = hypermodel.build(fixed_hp(units))
            model.fit(x, y, batch_size=32, epochs=1, verbose=0)
            row = {}
            for name, callback_class in (
                ("keras_tuner", tuner_utils.SaveBestEpoch),
                ("weights_only", SaveBestWeights),
            ):
                path = os.path.join(directory, f"{name}_{units}.weights.h5")
                _, row[name] = checkpoint_write(callback_class, model, path, 1)
            sizes[units] = row
    # Sizes are linear in the parameter count; interpolate the unmeasured units.
    measured = sorted(sizes)

    def size(units, name):
        if units in sizes:
            return sizes[units][name]
        return float(np.interp(units, measured, [sizes[u][name] for u in measured]))

    report = {"bytes": sizes, "projection": {}}
    for name in ("keras_tuner", "weights_only"):
        stage1 = sum(size(u, name) for u in REFERENCE_GRID)
        for winner in (10, 100, 190):
            everything = stage1 + 11 * size(winner, name)
            largest = sorted((size(u, name) for u in REFERENCE_GRID), reverse=True)
            projection = {"keep_all": everything}
            for keep in (1, 3):
                # Stage 1: at most `keep` kept plus the one being written.
                stage1_peak = sum(largest[: keep + 1])
                stage2_peak = (keep + 1) * size(winner, name)
                projection[f"keep_{keep}_peak"] = max(stage1_peak, stage2_peak)
                projection[f"keep_{keep}_end"] = keep * size(winner, name)
            report["projection"][f"{name}/winner={winner}"] = projection
            print(
                f"{name}, winner units={winner}: keep all "
                f"{everything / 1e9:.2f} GB; keep_checkpoints=1 peak "
                f"{projection['keep_1_peak'] / 1e6:.0f} MB, end "
                f"{projection['keep_1_end'] / 1e6:.0f} MB; keep_checkpoints=3 "
                f"peak {projection['keep_3_peak'] / 1e6:.0f} MB"
            )
    print(json.dumps(report))


# --------------------------------------------------------------------------- #
# batch
# --------------------------------------------------------------------------- #
class _EpochTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds, self.cpu_seconds = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = clocks()

    def on_epoch_end(self, epoch, logs=None):
        wall, cpu = since(self._start)
        self.seconds.append(wall)
        self.cpu_seconds.append(cpu)


def batch(args):
    data = load_imdb(args.data, num_words=NUM_WORDS, max_length=MAX_LENGTH)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.x_train))
    train = order[: args.train_reviews]
    validation = order[args.train_reviews : args.train_reviews + args.val_reviews]
    hypermodel = ImdbLstmHyperModel(num_words=NUM_WORDS)
    rows = {}
    for batch_size in args.batch_sizes:
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        model = hypermodel.build(fixed_hp(args.units, args.learning_rate))
        times = _EpochTimes()
        load = load_average()
        history = model.fit(
            data.x_train[train],
            data.y_train[train],
            validation_data=(data.x_train[validation], data.y_train[validation]),
            epochs=args.epochs,
            batch_size=batch_size,
            verbose=0,
            callbacks=[times],
        )
        rows[batch_size] = {
            "epoch_s": times.seconds,
            "epoch_cpu_s": times.cpu_seconds,
            "val_accuracy": history.history["val_accuracy"],
            "load": load,
        }
        print(
            f"batch {batch_size}: epochs {[round(s, 1) for s in times.seconds]} s "
            f"(CPU {[round(s, 1) for s in times.cpu_seconds]} s), "
            f"val_accuracy {[round(a, 4) for a in history.history['val_accuracy']]}, "
            f"load {load:.2f}"
        )
    print(json.dumps({"units": args.units, "rows": rows}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("components")
    command.add_argument("--units", type=int, nargs="+", default=[10, 100, 190])
    command.add_argument("--repeats", type=int, default=5)
    command.set_defaults(func=components)
    command = commands.add_parser("overhead")
    command.add_argument("data")
    command.add_argument("--units", type=int, default=10)
    command.add_argument("--epochs", type=int, default=1)
    command.add_argument("--batch-size", type=int, default=32)
    command.add_argument("--repeats", type=int, default=3)
    command.add_argument(
        "--train-reviews", type=int, help="use only the first N training reviews"
    )
    command.set_defaults(func=overhead)
    command = commands.add_parser("memory")
    command.add_argument("--stage2-trials", type=int, default=7)
    command.add_argument("--no-freeze", action="store_true")
    command.set_defaults(func=memory)
    command = commands.add_parser("disk")
    command.add_argument("--units", type=int, nargs="+", default=[10, 100, 190])
    command.set_defaults(func=disk)
    command = commands.add_parser("batch")
    command.add_argument("data")
    command.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512])
    command.add_argument("--units", type=int, default=50)
    command.add_argument("--learning-rate", type=float, default=0.001)
    command.add_argument("--epochs", type=int, default=2)
    command.add_argument("--train-reviews", type=int, default=10000)
    command.add_argument("--val-reviews", type=int, default=2500)
    command.set_defaults(func=batch)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    args.func(args)


if __name__ == "__main__":
    main()
