"""Epoch time of the reference LSTM on each installed Keras backend.

For units 10, 100 and 190, time one training epoch of the reference model
(`ImdbLstmHyperModel`: Embedding(88,584, units) -> LSTM(units) -> Dense(1),
RMSprop at 0.001, batch 32, reviews of 250 tokens) on TensorFlow, JAX and
PyTorch, whichever are installed. Training uses the first
`--train-reviews` reviews of the real training split (no validation pass),
so the run stays short; samples/s lets the numbers scale to the reference's
20,000 training reviews.

Each measurement runs in a fresh process with `KERAS_BACKEND` set before
Keras is imported. It trains two epochs in one `fit`: the first compiles
(TensorFlow traces, JAX jit-compiles, both batch shapes included), the
second is timed, in wall time and process CPU time (`time.process_time()`,
all threads). "Side by side": the backends are interleaved inside each units
value (units outer loop, backends inner, repeated `--rounds` times), so a
change of the machine's load hits every backend alike. The 1-minute load
average is read before and after each timed epoch.

A backend can be given a thread count, `NAME:N` (e.g. `torch:1`): the child
then limits the backend's CPU threads to N (TensorFlow's intra- and inter-op
pools, XLA's CPU threads for JAX, `torch.set_num_threads` and
`OMP_NUM_THREADS` for PyTorch). Without it, each backend uses its defaults
(one thread per core). On a 2-core machine that another process keeps busy,
PyTorch's default threads were pathologically slow (see docs/BENCHMARKS.md).

Prints a Markdown table; `--out FILE` also writes every measurement, the
library versions and the machine as JSON.

Usage:
    python benchmarks/bench_backends.py [DATA] [--units 10 100 190]
        [--backends tensorflow,jax,torch:1] [--train-reviews 2000] [--rounds 1]
        [--out results.json]

DATA: an aclImdb folder or .tar.gz (default: ../shared/data/
aclImdb_v1_labeled.tar.gz, else $KT_TWOSTAGE_IMDB or the official download).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import time

DEFAULT_DATA = os.path.join("..", "shared", "data", "aclImdb_v1_labeled.tar.gz")
BACKENDS = ("tensorflow", "jax", "torch")
NUM_WORDS = 88584
MAX_LENGTH = 250
LEARNING_RATE = 0.001
REFERENCE_TRAIN_REVIEWS = 20000
# The child prints its result on the last line, after this marker.
RESULT_MARKER = "BENCH_BACKENDS_RESULT "


def installed_backends() -> list[str]:
    """The Keras backends whose library is importable here."""
    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


def load_average():
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):  # pragma: no cover - not on every OS
        return None


# --- the child: one backend, one units value ------------------------------


def epoch_clock(keras):
    """A callback recording each epoch's wall and process CPU seconds and
    the load average at its start and end."""

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = (time.perf_counter(), time.process_time(), load_average())

        def on_epoch_end(self, epoch, logs=None):
            wall, cpu, load = self._start
            self.epochs.append(
                {
                    "wall_seconds": time.perf_counter() - wall,
                    "cpu_seconds": time.process_time() - cpu,
                    "load_before": load,
                    "load_after": load_average(),
                    "loss": float(logs["loss"]) if logs and "loss" in logs else None,
                }
            )

    return EpochClock()


def thread_environment(backend, threads) -> dict:
    """Environment variables that limit `backend` to `threads` CPU threads
    (read when the library loads, so set before the child starts)."""
    if threads is None:
        return {}
    if backend == "jax":
        return {
            "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
            f"intra_op_parallelism_threads={threads}"
        }
    if backend == "torch":
        return {"OMP_NUM_THREADS": str(threads)}
    return {
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": str(threads),
    }


def limit_threads(backend, threads):
    """In the child, before any op runs: the thread limits that have an API."""
    if threads is None:
        return
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def backend_threads(backend) -> dict:
    """The thread settings the backend reports (what it can use of the CPU)."""
    if backend == "torch":
        import torch

        return {"torch_threads": torch.get_num_threads()}
    if backend == "tensorflow":
        import tensorflow as tf

        threading = tf.config.threading
        # 0 means "let TensorFlow choose" (one thread per core).
        return {
            "tf_intra_op_threads": threading.get_intra_op_parallelism_threads(),
            "tf_inter_op_threads": threading.get_inter_op_parallelism_threads(),
        }
    return {}


def measure(args) -> dict:
    """Train two epochs of the reference model at `args.units`; time the second."""
    import keras

    limit_threads(keras.backend.backend(), args.threads)
    import keras_tuner

    from kt_twostage import ImdbLstmHyperModel, load_imdb
    from kt_twostage._environment import describe_machine

    data = load_imdb(args.data, num_words=NUM_WORDS, max_length=MAX_LENGTH)
    x, y = data.x_train[: args.train_reviews], data.y_train[: args.train_reviews]
    keras.utils.set_random_seed(0)
    hp = keras_tuner.HyperParameters()
    hp.Fixed("units", args.units)
    hp.Fixed("learning_rate", LEARNING_RATE)
    model = ImdbLstmHyperModel(num_words=NUM_WORDS).build(hp)
    clock = epoch_clock(keras)
    model.fit(x, y, epochs=2, batch_size=args.batch_size, verbose=0, callbacks=[clock])
    warm_up, timed = clock.epochs
    return {
        "backend": keras.backend.backend(),
        "thread_limit": args.threads,
        "units": args.units,
        "train_reviews": len(x),
        "batch_size": args.batch_size,
        "warm_up_wall_seconds": warm_up["wall_seconds"],
        **timed,
        "samples_per_second": len(x) / timed["wall_seconds"],
        "threads": backend_threads(keras.backend.backend()),
        "machine": describe_machine(),
    }


# --- the parent: interleave the backends ---------------------------------


def run_child(variant, units, args) -> dict:
    """`measure` in a fresh process with `KERAS_BACKEND` set to the variant's
    backend (and its thread limit, if any)."""
    backend, threads = variant
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        "--units",
        str(units),
        "--train-reviews",
        str(args.train_reviews),
        "--batch-size",
        str(args.batch_size),
    ]
    if threads is not None:
        command += ["--threads", str(threads)]
    if args.data:
        command.insert(2, args.data)
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **thread_environment(backend, threads),
    }
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(
            f"The {variant_name(variant)} measurement at units {units} took more "
            f"than --timeout {args.timeout} s; use fewer --train-reviews, or a "
            "thread limit (e.g. torch:1) on a busy machine."
        ) from None
    results = [
        line[len(RESULT_MARKER) :]
        for line in completed.stdout.splitlines()
        if line.startswith(RESULT_MARKER)
    ]
    if completed.returncode != 0 or not results:
        raise RuntimeError(
            f"The {variant_name(variant)} measurement at units {units} failed (exit "
            f"{completed.returncode}); its last output:\n{completed.stderr[-3000:]}\n"
            f"Run it alone to see more: KERAS_BACKEND={backend} "
            f"{' '.join(command)}"
        )
    result = json.loads(results[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def markdown_table(results) -> str:
    header = (
        "| round | units | backend[:threads] | epoch wall (s) | epoch CPU (s) "
        "| samples/s | warm-up epoch (s) | load before/after |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    lines = [header]
    for r in results:
        lines.append(
            f"| {r['round']} | {r['units']} | {r['variant']} | {r['wall_seconds']:.2f} "
            f"| {r['cpu_seconds']:.2f} | {r['samples_per_second']:.0f} "
            f"| {r['warm_up_wall_seconds']:.2f} "
            f"| {r['load_before']}/{r['load_after']} |"
        )
    return "\n".join(lines)


def ratio_lines(results) -> list[str]:
    """Each variant's samples/s against TensorFlow's (default threads), per
    units value and round."""
    lines = []
    by_key = {(r["round"], r["units"], r["variant"]): r for r in results}
    for (round_, units, variant), r in sorted(by_key.items()):
        reference = by_key.get((round_, units, "tensorflow"))
        if variant == "tensorflow" or reference is None:
            continue
        ratio = r["samples_per_second"] / reference["samples_per_second"]
        lines.append(
            f"- round {round_}, units {units}: {variant} {ratio:.2f}x "
            "TensorFlow's samples/s"
        )
    return lines


def variant_name(variant) -> str:
    backend, threads = variant
    return backend if threads is None else f"{backend}:{threads}"


def parse_variant(word):
    """`NAME` or `NAME:THREADS` as `(backend, threads or None)`."""
    backend, _, threads = word.partition(":")
    if backend not in BACKENDS:
        raise SystemExit(
            f"--backends: unknown backend {backend!r} in {word!r}; expected one "
            f"of {','.join(BACKENDS)}, optionally with :THREADS (e.g. torch:1)"
        )
    if backend not in installed_backends():
        raise SystemExit(
            f"--backends: {backend} is not installed here; installed: "
            f"{','.join(installed_backends())} (pip install jax / torch)"
        )
    if not threads:
        return backend, None
    if not threads.isdigit() or int(threads) < 1:
        raise SystemExit(
            f"--backends: the thread count in {word!r} must be a positive "
            "integer, e.g. torch:1"
        )
    return backend, int(threads)


def parse_backends(text) -> list[tuple]:
    variants = [parse_variant(w.strip()) for w in text.split(",") if w.strip()]
    if not variants:
        raise SystemExit(f"--backends: expected at least one backend, got {text!r}")
    return variants


def default_backends() -> str:
    """Every installed backend; PyTorch with one thread (see the docstring)."""
    return ",".join(
        "torch:1" if name == "torch" else name for name in installed_backends()
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "data",
        nargs="?",
        default=DEFAULT_DATA if os.path.exists(DEFAULT_DATA) else None,
        help="aclImdb folder or .tar.gz",
    )
    parser.add_argument("--units", type=int, nargs="+", default=[10, 100, 190])
    parser.add_argument(
        "--backends",
        default=default_backends(),
        help="comma-separated NAME or NAME:THREADS (default: %(default)s)",
    )
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--train-reviews", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the interleaved sequence"
    )
    parser.add_argument("--out", help="write every measurement as JSON here")
    parser.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds one measurement may take (default %(default)s)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if len(args.units) != 1:
            raise SystemExit(f"--child measures one units value, got {args.units}")
        args.units = args.units[0]
        print(RESULT_MARKER + json.dumps(measure(args)))
        return 0
    backends = parse_backends(args.backends)
    from kt_twostage._environment import library_versions

    started = datetime.datetime.now().isoformat(timespec="seconds")
    results = []
    for round_ in range(1, args.rounds + 1):
        for units in args.units:
            for variant in backends:
                name = variant_name(variant)
                print(f"round {round_}, units {units}, {name} ...", flush=True)
                result = run_child(variant, units, args)
                result["round"] = round_
                result["variant"] = name
                results.append(result)
                print(
                    f"    {result['wall_seconds']:.2f} s wall, "
                    f"{result['cpu_seconds']:.2f} s CPU, "
                    f"{result['samples_per_second']:.0f} samples/s, load "
                    f"{result['load_before']}/{result['load_after']}",
                    flush=True,
                )
    print()
    print(markdown_table(results))
    print()
    print("\n".join(ratio_lines(results)))
    if args.out:
        report = {
            "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
            "started": started,
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
            "settings": {
                "num_words": NUM_WORDS,
                "max_length": MAX_LENGTH,
                "learning_rate": LEARNING_RATE,
                "train_reviews": args.train_reviews,
                "batch_size": args.batch_size,
                "data": args.data,
            },
            "versions": library_versions(),
            "results": results,
        }
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=1)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
