"""GPU check: IMDB LSTM throughput at the reference settings, and what it implies.

For units 10, 100 and 190 at the reference settings (88,584 words, 250
tokens, batch 32; 20,000 training and 5,000 validation reviews, as
`validation_split=0.2` of the 25,000), and for each precision asked for
(float32, mixed_float16), it measures:

- training samples per second (the second of two epochs: the first one
  traces the model), validation samples per second, and the extra time of a
  trial's first epoch (tracing);
- from those, the time of one epoch and the projected time of the whole
  reference schedule (19 stage-1 trials of 1 epoch, 11 stage-2 trials of 30
  epochs for the winner: 10, 100 or 190 units).

On a GPU it also measures (skip with `--no-extras`):

- the cuDNN speed-up: units 100 with `LSTM(use_cudnn=False)`, a few batches;
- the tuner's overhead: a `TwoStageTuner` trial against `build + fit` of the
  same model and data for one epoch at units 100.

It also records whether the hypermodel's LSTM meets the conditions of Keras'
cuDNN kernel (see docs/gpu.md). Results go to `OUTPUT/gpu_check.json` and
`OUTPUT/gpu_check.md`. Expected run time on one recent GPU: 2-4 minutes
(budget: 8).

Data: `--data` (an aclImdb folder or .tar.gz), else `$KT_TWOSTAGE_IMDB`,
else random token ids of the reference shape (`--synthetic`): the LSTM
reads every one of the 250 positions (no mask), so throughput does not
depend on the token values.

`--quick` runs a tiny version (64 training and 32 validation reviews of 50
tokens, 1,000 words, float32) that finishes in seconds on a CPU: a smoke test
of the script, not a measurement.

Usage:
    python benchmarks/gpu_check.py --data aclImdb_v1.tar.gz --output gpu_results
    python benchmarks/gpu_check.py --synthetic
    python benchmarks/gpu_check.py --quick --output /tmp/gpu_check
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import tempfile
import time

REFERENCE_GRID = list(range(10, 200, 10))
STAGE2_TRIALS = 11
STAGE2_EPOCHS = 30


class _EpochTimes:
    """A Keras callback (built lazily, keras is imported in `main`)."""

    @staticmethod
    def make(keras):
        class EpochTimes(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._start)

        return EpochTimes()


def cudnn_conditions(lstm):
    """Keras' conditions for the cuDNN LSTM kernel, checked on a built layer.

    From keras/src/layers/rnn/lstm.py (`LSTM.inner_loop`) and
    keras/src/backend/tensorflow/rnn.py (`cudnn_ok`, `_cudnn_lstm`).
    """
    import keras

    return {
        "use_cudnn is 'auto' or True": lstm.use_cudnn in ("auto", True),
        "activation is tanh": lstm.activation is keras.activations.tanh,
        "recurrent_activation is sigmoid": (
            lstm.recurrent_activation is keras.activations.sigmoid
        ),
        "recurrent_dropout == 0": not lstm.recurrent_dropout,
        "unroll is False": not lstm.unroll,
        "use_bias is True": bool(lstm.use_bias),
        # A mask must be right-padded; the embedding makes none here.
        "no mask (mask_zero=False)": True,
    }


def load_arrays(args, np):
    """(x_train, y_train, x_val, y_val, source) of the reference shapes."""
    if args.quick:
        rng = np.random.default_rng(0)
        x = rng.integers(0, args.num_words, size=(96, args.max_length))
        y = rng.integers(0, 2, size=(96,))
        return (
            x[:64].astype("int32"),
            y[:64].astype("float32"),
            x[64:].astype("int32"),
            y[64:].astype("float32"),
            "random (quick)",
        )
    path = args.data or os.environ.get("KT_TWOSTAGE_IMDB")
    if path and not args.synthetic:
        from kt_twostage import load_imdb

        data = load_imdb(path, num_words=args.num_words, max_length=args.max_length)
        split = int(len(data.x_train) * 0.8)
        return (
            data.x_train[:split],
            data.y_train[:split].astype("float32"),
            data.x_train[split:],
            data.y_train[split:].astype("float32"),
            path,
        )
    rng = np.random.default_rng(0)
    x = rng.integers(0, args.num_words, size=(25000, args.max_length)).astype("int32")
    y = rng.integers(0, 2, size=(25000,)).astype("float32")
    return x[:20000], y[:20000], x[20000:], y[20000:], "random token ids"


def build(keras, keras_tuner, args, units, precision, use_cudnn="auto"):
    from kt_twostage import ImdbLstmHyperModel

    keras.backend.clear_session()
    if use_cudnn == "auto":
        hypermodel = ImdbLstmHyperModel(
            num_words=args.num_words,
            units=(min(args.units), max(args.units), 1),
            mixed_precision=precision == "mixed_float16",
        )
        hp = keras_tuner.HyperParameters()
        hp.Fixed("units", units)
        return hypermodel.build(hp)
    # The hypermodel's architecture, with the LSTM kept off the cuDNN kernel.
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(args.num_words, units),
            keras.layers.LSTM(units, use_cudnn=use_cudnn),
            keras.layers.Dense(1, activation="sigmoid", dtype="float32"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.001),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def measure(keras, keras_tuner, args, arrays, units, precision):
    x_train, y_train, x_val, y_val, _ = arrays
    model = build(keras, keras_tuner, args, units, precision)
    times = _EpochTimes.make(keras)
    model.fit(
        x_train,
        y_train,
        epochs=2,
        batch_size=args.batch_size,
        verbose=0,
        callbacks=[times],
    )
    evaluations = []
    for _ in range(2):
        start = time.perf_counter()
        model.evaluate(x_val, y_val, batch_size=args.batch_size, verbose=0)
        evaluations.append(time.perf_counter() - start)
    train_sps = len(x_train) / times.seconds[1]
    val_sps = len(x_val) / evaluations[1]
    return {
        "units": units,
        "precision": precision,
        "train_samples_per_s": train_sps,
        "val_samples_per_s": val_sps,
        "first_epoch_extra_s": times.seconds[0] - times.seconds[1],
        "first_evaluation_extra_s": evaluations[0] - evaluations[1],
        "lstm_compute_dtype": model.layers[1].compute_dtype,
        "output_dtype": model.layers[-1].compute_dtype,
    }


def epoch_seconds(row, train_reviews=20000, val_reviews=5000):
    return (
        train_reviews / row["train_samples_per_s"]
        + val_reviews / row["val_samples_per_s"]
    )


def project(rows):
    """Reference schedule time per precision and winner, from measured units."""
    import numpy as np

    projections = {}
    for precision in sorted({row["precision"] for row in rows}):
        measured = sorted(
            (row for row in rows if row["precision"] == precision),
            key=lambda row: row["units"],
        )
        units = np.array([row["units"] for row in measured], dtype=float)
        epoch = np.array([epoch_seconds(row) for row in measured])
        # The first epoch of every trial traces the model once more.
        trace = np.array(
            [
                row["first_epoch_extra_s"] + row["first_evaluation_extra_s"]
                for row in measured
            ]
        )
        degree = min(2, len(units) - 1)

        def at(values, u, units=units, degree=degree):
            if degree == 0:
                return float(values[0])
            return float(np.polyval(np.polyfit(units, values, degree), u))

        stage1 = sum(at(epoch, u) + at(trace, u) for u in REFERENCE_GRID)
        stage2 = {
            str(int(u)): STAGE2_TRIALS * (STAGE2_EPOCHS * at(epoch, u) + at(trace, u))
            for u in (10, 100, 190)
        }
        projections[precision] = {
            "epoch_s": {
                str(int(u)): float(e) for u, e in zip(units, epoch, strict=True)
            },
            "stage1_s": stage1,
            "stage2_s_by_winner": stage2,
            "total_s_by_winner": {k: stage1 + v for k, v in stage2.items()},
        }
    return projections


def cudnn_speedup(keras, keras_tuner, args, arrays, units=100, batches=40):
    x_train, y_train = arrays[0], arrays[1]
    n = batches * args.batch_size
    result = {}
    for name, use_cudnn in (("cudnn", "auto"), ("generic", False)):
        model = build(keras, keras_tuner, args, units, "float32", use_cudnn=use_cudnn)
        times = _EpochTimes.make(keras)
        model.fit(
            x_train[:n],
            y_train[:n],
            epochs=2,
            batch_size=args.batch_size,
            verbose=0,
            callbacks=[times],
        )
        result[f"{name}_train_samples_per_s"] = n / times.seconds[1]
    result["speedup"] = (
        result["cudnn_train_samples_per_s"] / result["generic_train_samples_per_s"]
    )
    result["units"] = units
    return result


def tuner_overhead(keras, keras_tuner, args, arrays, units=100, repeats=2):
    from kt_twostage import ImdbLstmHyperModel, TwoStageTuner

    x_train, y_train, x_val, y_val, _ = arrays
    hypermodel = ImdbLstmHyperModel(num_words=args.num_words)
    runs = []
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(repeats):
            keras.backend.clear_session()
            start = time.perf_counter()
            hp = keras_tuner.HyperParameters()
            hp.Fixed("units", units)
            model = hypermodel.build(hp)
            model.fit(
                x_train,
                y_train,
                validation_data=(x_val, y_val),
                epochs=1,
                batch_size=args.batch_size,
                verbose=0,
            )
            plain = time.perf_counter() - start
            space = keras_tuner.HyperParameters()
            space.Choice("units", [units])
            tuner = TwoStageTuner(
                hypermodel,
                hyperparameters=space,
                stage2_trials=1,
                stage2_epochs=1,
                directory=directory,
                project_name="overhead",
                overwrite=True,
            )
            start = time.perf_counter()
            tuner.search(
                x_train,
                y_train,
                validation_data=(x_val, y_val),
                batch_size=args.batch_size,
                verbose=0,
            )
            trial = (time.perf_counter() - start) / 2
            runs.append({"plain_s": plain, "trial_s": trial})
    plain = statistics.median(run["plain_s"] for run in runs)
    trial = statistics.median(run["trial_s"] for run in runs)
    return {"units": units, "runs": runs, "overhead": trial / plain - 1}


def markdown(report):
    lines = [
        "# GPU check",
        "",
        f"- Date: {report['date']}",
        f"- Devices: {', '.join(report['devices']) or 'none (CPU only)'}",
        f"- Versions: {report['versions']}",
        f"- Data: {report['data']}; batch {report['batch_size']}, "
        f"{report['max_length']} tokens, {report['num_words']} words",
        f"- Wall time of the check: {report['wall_s']:.0f} s",
        "",
        "| units | precision | train samples/s | val samples/s | epoch (s) "
        "| first-epoch tracing (s) |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['units']} | {row['precision']} | "
            f"{row['train_samples_per_s']:.0f} | {row['val_samples_per_s']:.0f} | "
            f"{epoch_seconds(row):.1f} | {row['first_epoch_extra_s']:.1f} |"
        )
    lines += ["", "Projected reference schedule (19 x 1 + 11 x 30 epochs):", ""]
    for precision, projection in report["projection"].items():
        for winner, seconds in projection["total_s_by_winner"].items():
            lines.append(
                f"- {precision}, stage-1 winner units={winner}: "
                f"{seconds / 3600:.2f} h (stage 1 {projection['stage1_s'] / 60:.1f} "
                "min)"
            )
    lines += ["", "cuDNN conditions of the hypermodel's LSTM:", ""]
    lines += [f"- {name}: {ok}" for name, ok in report["cudnn_conditions"].items()]
    if "cudnn" in report:
        lines.append(
            f"\ncuDNN speed-up at units {report['cudnn']['units']}: "
            f"{report['cudnn']['speedup']:.1f}x"
        )
    if "tuner_overhead" in report:
        lines.append(
            f"\nTwoStageTuner trial vs build + fit, units "
            f"{report['tuner_overhead']['units']}: "
            f"{100 * report['tuner_overhead']['overhead']:+.1f}%"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="aclImdb folder or .tar.gz")
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--output", default="gpu_check_results")
    parser.add_argument("--units", type=int, nargs="+", default=[10, 100, 190])
    parser.add_argument(
        "--precisions", nargs="+", choices=["float32", "mixed_float16"], default=None
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-words", type=int, default=88584)
    parser.add_argument("--max-length", type=int, default=250)
    parser.add_argument("--no-extras", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.num_words, args.max_length = 1000, 50

    start = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import keras_tuner
    import numpy as np
    import tensorflow as tf

    devices = [
        tf.config.experimental.get_device_details(device).get(
            "device_name", device.name
        )
        for device in tf.config.list_physical_devices("GPU")
    ]
    precisions = args.precisions or (
        ["float32", "mixed_float16"] if devices else ["float32"]
    )
    arrays = load_arrays(args, np)
    print(f"devices: {devices or 'CPU only'}; data: {arrays[4]}", flush=True)
    rows = []
    for precision in precisions:
        for units in args.units:
            row = measure(keras, keras_tuner, args, arrays, units, precision)
            rows.append(row)
            print(
                f"units={units} {precision}: train {row['train_samples_per_s']:.0f} "
                f"samples/s, val {row['val_samples_per_s']:.0f} samples/s, "
                f"epoch {epoch_seconds(row):.1f} s",
                flush=True,
            )
    model = build(keras, keras_tuner, args, args.units[0], "float32")
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "devices": devices,
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "data": arrays[4],
        "quick": args.quick,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "num_words": args.num_words,
        "rows": rows,
        "projection": project(rows),
        "cudnn_conditions": cudnn_conditions(model.layers[1]),
    }
    if devices and not args.no_extras and not args.quick:
        report["cudnn"] = cudnn_speedup(keras, keras_tuner, args, arrays)
        print(f"cuDNN speed-up: {report['cudnn']['speedup']:.1f}x", flush=True)
        report["tuner_overhead"] = tuner_overhead(keras, keras_tuner, args, arrays)
        print(
            f"tuner overhead: {100 * report['tuner_overhead']['overhead']:+.1f}%",
            flush=True,
        )
    report["wall_s"] = time.perf_counter() - start
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "gpu_check.json"), "w") as handle:
        json.dump(report, handle, indent=2)
    text = markdown(report)
    with open(os.path.join(args.output, "gpu_check.md"), "w") as handle:
        handle.write(text)
    print(text)
    return report


if __name__ == "__main__":
    main()
