"""Memory over a long search: RSS after every trial, per backend and tuner.

One process per (backend, tuner): a search of `--trials` short trials of a
tiny `Dense(units)` model on 256 random samples (3 features). The resident
set size (RSS, `/proc/self/statm`) is read right after each trial's `fit`.

- `twostage`: `TwoStageTuner`, a units grid of `trials - 2` values (1 epoch
  each), then 2 stage-2 trials of 1 epoch.
- `twostage-unfixed`: the same with `kt_twostage.trial_memory`'s release
  between trials switched off (what the tuner did before it existed).
- `random`: Keras Tuner's `RandomSearch`, same model, `max_trials=trials`.

Usage:
    python benchmarks/bench_memory.py all [--trials 110] [--out-dir DIR]
        [--backends tensorflow,jax] [--tuners twostage,twostage-unfixed,random]
    python benchmarks/bench_memory.py one --tuner twostage --out FILE.json
        (the backend is the environment's KERAS_BACKEND)
    python benchmarks/bench_memory.py plot FILE.json... [--out-dir DIR]
    python benchmarks/bench_memory.py loop [--fits 40] [--release] [--malloc-trim]
        (plain Keras fits of the same model, no tuner: RSS and Python objects
        alive after each `fit`, `clear_session()` and `gc.collect()`)

`all` runs `one` in a subprocess per pair, then writes `memory.json` (every
curve) and `memory.png` (the plot) into `--out-dir`, and prints the growth
from trial 10 to trial 100 and to the last trial. `one` rewrites its JSON
after every trial (`complete` says whether the search ended), so `plot`
also works on runs cut short.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TUNERS = ("twostage", "twostage-unfixed", "random")
SAMPLES = 256


def rss_mib():
    """Resident set size of this process in MiB (psutil if installed)."""
    try:
        import psutil
    except ImportError:
        with open("/proc/self/statm") as handle:
            resident_pages = int(handle.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    return psutil.Process().memory_info().rss / 2**20


def growth(curve, start, end):
    """Relative growth of RSS from trial `start` to trial `end` (1-based)."""
    if len(curve) < max(start, end):
        return None
    return curve[end - 1] / curve[start - 1] - 1


# --------------------------------------------------------------------------- #
# one: a single search in this process
# --------------------------------------------------------------------------- #
def build_model(hp, max_units):
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(hp.Int("units", 1, max_units), activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    learning_rate = hp.Float("learning_rate", 1e-4, 0.02, sampling="log", default=1e-3)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def recording(tuner_class):
    """`tuner_class` that appends the RSS to `self.rss` after each `run_trial`."""

    class RssRecordingTuner(tuner_class):
        def run_trial(self, trial, *args, **kwargs):
            results = super().run_trial(trial, *args, **kwargs)
            self.rss.append(rss_mib())
            if self.on_rss is not None:
                self.on_rss(self.rss)
            return results

    return RssRecordingTuner


def make_tuner(name, trials, directory):
    import functools

    import keras_tuner

    from kt_twostage import TwoStageTuner

    units = trials - 2
    hypermodel = functools.partial(build_model, max_units=units)
    common = {"directory": directory, "project_name": name, "overwrite": True}
    if name == "random":
        tuner_class = recording(keras_tuner.RandomSearch)
        tuner = tuner_class(
            hypermodel,
            objective="val_accuracy",
            max_trials=trials,
            seed=0,
            **common,
        )
    else:
        if name == "twostage-unfixed":
            from kt_twostage import trial_memory

            trial_memory.release_trial_memory = lambda known=None: None
        tuner = recording(TwoStageTuner)(
            hypermodel,
            units_hp="units",
            learning_rate_hp="learning_rate",
            stage1_epochs=1,
            stage2_epochs=1,
            stage2_trials=2,
            seed=0,
            **common,
        )
    tuner.rss = []
    tuner.on_rss = None
    return tuner


def run_one(args):
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 3)).astype("float32")
    y = (x[:, :2].sum(axis=1) > 0).astype("float32")
    result = {
        "backend": keras.backend.backend(),
        "tuner": args.tuner,
        "rss_before_mib": rss_mib(),
        "rss_mib": [],
        "complete": False,
    }
    start = time.perf_counter()

    def save(curve):
        # Written after every trial: a run cut short keeps its curve.
        result.update(
            trials=len(curve),
            rss_mib=list(curve),
            seconds=time.perf_counter() - start,
            load_average=os.getloadavg()[0],
        )
        with open(args.out, "w") as handle:
            json.dump(result, handle)

    with tempfile.TemporaryDirectory() as directory:
        tuner = make_tuner(args.tuner, args.trials, directory)
        tuner.on_rss = save
        tuner.search(x, y, validation_split=0.2, epochs=1, batch_size=32, verbose=0)
    result["complete"] = True
    save(tuner.rss)
    print(summary_line(result))


def run_loop(args):
    """Plain Keras, no tuner: build, compile, fit, drop, clear, collect."""
    import contextlib
    import ctypes
    import gc

    import keras
    import numpy as np

    from kt_twostage import trial_memory

    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    curve, objects = [], []
    release = trial_memory.released_after_trial
    for index in range(args.fits):
        with release() if args.release else contextlib.nullcontext():
            keras.backend.clear_session()
            gc.collect()
            model = keras.Sequential(
                [
                    keras.Input((3,)),
                    keras.layers.Dense(index + 1, activation="relu"),
                    keras.layers.Dense(1, activation="sigmoid"),
                ]
            )
            model.compile(
                optimizer=keras.optimizers.RMSprop(1e-3),
                loss="binary_crossentropy",
                metrics=["accuracy"],
            )
            model.fit(x, y, validation_split=0.2, epochs=1, batch_size=32, verbose=0)
            del model
        keras.backend.clear_session()
        gc.collect()
        if args.malloc_trim:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        curve.append(rss_mib())
        objects.append(len(gc.get_objects()))
    print(
        f"{keras.backend.backend()} release={args.release} "
        f"malloc_trim={args.malloc_trim}: RSS after fit 10 {curve[9]:.0f} MiB, "
        f"after fit {len(curve)} {curve[-1]:.0f} MiB "
        f"({growth(curve, 10, len(curve)):+.1%}); Python objects alive "
        f"{(objects[-1] - objects[9]) / (len(curve) - 10):+.0f} per fit"
    )


def summary_line(result):
    curve = result["rss_mib"]
    to_100 = growth(curve, 10, 100)
    to_last = growth(curve, 10, len(curve))
    line = (
        f"{result['backend']:<10} {result['tuner']:<17} {len(curve)} trials, "
        f"{result['seconds']:.0f} s, load {result['load_average']:.1f}"
    )
    if to_last is None:
        return line
    line += f": RSS at trial 10 {curve[9]:.0f} MiB"
    if to_100 is not None:
        line += f", at 100 {curve[99]:.0f} MiB ({to_100:+.1%})"
    return line + f", at {len(curve)} {curve[-1]:.0f} MiB ({to_last:+.1%})"


# --------------------------------------------------------------------------- #
# all: every pair in subprocesses, then the JSON and the plot
# --------------------------------------------------------------------------- #
def run_all(args):
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for backend in args.backends.split(","):
            for tuner in args.tuners.split(","):
                out = os.path.join(scratch, f"{backend}-{tuner}.json")
                environment = {
                    **os.environ,
                    "KERAS_BACKEND": backend,
                    "TF_CPP_MIN_LOG_LEVEL": "3",
                }
                command = [sys.executable, __file__, "one", "--tuner", tuner]
                command += ["--trials", str(args.trials), "--out", out]
                subprocess.run(command, env=environment, check=True)
                with open(out) as handle:
                    results.append(json.load(handle))
    write_outputs(results, args.out_dir)


def run_plot(args):
    """The JSON and the plot from `one`'s outputs (complete or cut short)."""
    results = []
    for path in args.results:
        with open(path) as handle:
            results.append(json.load(handle))
    os.makedirs(args.out_dir, exist_ok=True)
    write_outputs(results, args.out_dir)


def write_outputs(results, out_dir):
    for result in results:
        result["growth_10_to_100"] = growth(result["rss_mib"], 10, 100)
        result["growth_10_to_last"] = growth(
            result["rss_mib"], 10, len(result["rss_mib"])
        )
    with open(os.path.join(out_dir, "memory.json"), "w") as handle:
        json.dump(results, handle, indent=1)
        handle.write("\n")
    plot(results, os.path.join(out_dir, "memory.png"))
    print("summary:")
    for result in results:
        print(summary_line(result))


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = sorted({result["backend"] for result in results})
    figure, axes = plt.subplots(
        1, len(backends), figsize=(6 * len(backends), 4), squeeze=False
    )
    for axis, backend in zip(axes[0], backends, strict=True):
        for result in results:
            if result["backend"] != backend:
                continue
            curve = result["rss_mib"]
            axis.plot(range(1, len(curve) + 1), curve, label=result["tuner"])
        axis.axvline(10, color="grey", linewidth=0.5)
        axis.set_title(f"KERAS_BACKEND={backend}")
        axis.set_xlabel("trial")
        axis.set_ylabel("RSS after the trial's fit (MiB)")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("one", help="one search in this process")
    one.add_argument("--tuner", choices=TUNERS, required=True)
    one.add_argument("--trials", type=int, default=110)
    one.add_argument("--out", required=True)
    every = commands.add_parser("all", help="every backend and tuner, then plot")
    every.add_argument("--trials", type=int, default=110)
    every.add_argument("--backends", default="tensorflow,jax")
    every.add_argument("--tuners", default=",".join(TUNERS))
    every.add_argument("--out-dir", default="docs/benchmarks/memory")
    loop = commands.add_parser("loop", help="plain Keras fits, no tuner")
    loop.add_argument("--fits", type=int, default=40)
    loop.add_argument("--release", action="store_true")
    loop.add_argument("--malloc-trim", action="store_true")
    plotting = commands.add_parser("plot", help="JSON and plot from `one` outputs")
    plotting.add_argument("results", nargs="+")
    plotting.add_argument("--out-dir", default="docs/benchmarks/memory")
    args = parser.parse_args(argv)
    if args.command == "plot":
        run_plot(args)
        return
    if args.command == "loop":
        if args.fits < 11:
            parser.error(f"Received --fits={args.fits}, expected at least 11.")
        run_loop(args)
        return
    if args.trials < 100:
        parser.error(f"Received --trials={args.trials}, expected at least 100.")
    if args.command == "one":
        run_one(args)
    else:
        os.makedirs(args.out_dir, exist_ok=True)
        run_all(args)


if __name__ == "__main__":
    main()
