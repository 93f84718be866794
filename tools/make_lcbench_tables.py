"""Writes learning-curve tables from YAHPO Gym's LCBench surrogate.

External tables that nobody here trained: LCBench (Zimmer et al., 2021)
trained MLPs on OpenML tasks for 50 epochs, and YAHPO Gym (Pfisterer et al.,
2022) fits a surrogate model to those learning curves. This script asks the
surrogate for one table per OpenML task, in the format of `kt-twostage record`
(`kt_twostage/tabular/table.py`), so that `kt-twostage replay` runs on it.

Setup: yahpo-gym needs numpy<2 and ConfigSpace 0.6.1, so it gets its own
virtual environment; the surrogate's files (the `lcbench` folder, 2 MB) come
from the GitHub repository slds-lmu/yahpo_data:

    python3 -m venv /tmp/yahpo-venv
    /tmp/yahpo-venv/bin/pip install "numpy<2" "ConfigSpace==0.6.1" \\
        "yahpo-gym==1.0.2" onnxruntime
    git clone --depth 1 --filter=blob:none --sparse \\
        https://github.com/slds-lmu/yahpo_data /tmp/yahpo_data
    git -C /tmp/yahpo_data sparse-checkout set lcbench

The script was written and checked with yahpo_data commit efdab90
(lcbench/model.onnx sha256 b45c0d85...); each sidecar records the commit and
the files' sha256. Where `--data` is not a git checkout, pass the commit as
`--data-commit`.

Run from the repository root (about 10 s for the three tables on 2 busy CPU
cores, most of it starting Python):

    /tmp/yahpo-venv/bin/python tools/make_lcbench_tables.py \\
        --data /tmp/yahpo_data --out docs/benchmarks/tables

It writes `lcbench-<task>.csv` and its sidecar `lcbench-<task>.json` for each
task, then reads every table back with the project's reader. The grid, fixed
before any table was generated:

- tasks: the first `--task-count` (3) OpenML task ids in the order of the
  surrogate's instance list (its config space), so nobody picks them by result;
- units: LCBench's `max_units` (the width of the MLP's widest layer), 64, 128,
  256, 512, 1024, log-spaced over its whole range;
- learning rates: 0.1 * 2**-k for k = 0..10, and 0.001: the rates the
  reference stage-2 rule reaches by halving from the table's largest rate in
  its 11 trials, so that a replay with the default schedule never asks for a
  rate outside the table, and the stage-1 rate. LCBench sampled [1e-4, 1e-1];
  the lowest, 9.765625e-05, lies 2.3% below, where the surrogate extrapolates
  (the sidecar says so);
- epochs 1..50 (LCBench trained 50 epochs; the surrogate accepts 1..52);
- the other hyperparameters (batch_size, momentum, weight_decay, num_layers,
  max_dropout) at the defaults of the surrogate's config space, recorded in
  the sidecar;
- one seed, 0: the surrogate is deterministic (`noisy=False`), the same input
  gives the same output, which the script checks on every table.

Columns: `val_accuracy` is the surrogate's `val_balanced_accuracy`, so that
the tuners select by the kind of score their outcome is measured in (or, with
`--validation-metric accuracy`, its `val_accuracy` / 100), `val_loss` its
`val_cross_entropy`, `test_accuracy` its `test_balanced_accuracy` (the
surrogate has no plain test accuracy), `test_loss` its `test_cross_entropy`,
`seconds` the growth of its cumulative predicted `time` over the epoch (kept
non-decreasing: an epoch where the predicted total falls counts 0 s).

The pure parts (the grid, the columns, the sidecar) are in
`tools/lcbench_grid.py`, which imports no yahpo_gym; here only `Surrogate`
needs the virtual environment above.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import io
import os
import platform
import subprocess
import sys
import tempfile
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import lcbench_grid as grid  # noqa: E402  (beside this script)

import kt_twostage  # noqa: E402
from kt_twostage import _io  # noqa: E402
from kt_twostage.tabular import table  # noqa: E402


class Surrogate:
    """yahpo_gym's LCBench surrogate, read from `data_dir` (needs its venv).

    Attributes:
        instances: List of the OpenML task ids, in the surrogate's order.
        defaults: Dict, the config space's default of every hyperparameter.
        bounds: Dict `{name: (low, high)}` of the numeric hyperparameters.
        max_epoch: Integer, the largest epoch the surrogate accepts.
        versions: Dict of the package versions that evaluate it.
    """

    def __init__(self, data_dir):
        check_data_dir(data_dir)
        # yahpo_gym reads its data path from a settings file when imported;
        # a private one leaves the user's ~/.config/yahpo_gym alone.
        settings = os.path.join(tempfile.mkdtemp(prefix="yahpo-"), "settings.yaml")
        with open(settings, "w", encoding="utf-8") as handle:
            handle.write(f"data_path: {os.path.abspath(data_dir)!r}\n")
        os.environ["YAHPO_LOCAL_CONFIG"] = settings
        try:
            from yahpo_gym import benchmark_set
        except ImportError as error:
            raise SystemExit(
                f"Cannot import yahpo_gym in {sys.executable} ({error}). Run this "
                "script with the Python of its own virtual environment (see the "
                "setup at the top of tools/make_lcbench_tables.py)."
            ) from error
        # yahpo_gym's own check rejects the lowest rate (2.3% below its
        # range); `evaluate_task` checks every input with `grid.check_inside`.
        self._bench = benchmark_set.BenchmarkSet(
            grid.SCENARIO, noisy=False, multithread=False, check=False
        )
        space = self._bench.get_opt_space(drop_fidelity_params=False)
        self.instances = [str(task) for task in self._bench.instances]
        self.defaults = dict(space.get_default_configuration())
        self.bounds = {
            hp.name: (hp.lower, hp.upper)
            for hp in space.get_hyperparameters()
            if hasattr(hp, "lower")
        }
        self.max_epoch = space.get_hyperparameter("epoch").upper
        self.versions = package_versions(
            "yahpo-gym", "onnxruntime", "ConfigSpace", "numpy", "pandas"
        )

    def evaluate(self, configurations) -> list:
        """The surrogate's outputs, one dict per configuration."""
        return self._bench.objective_function(configurations, multithread=False)


def check_data_dir(data_dir) -> None:
    model = os.path.join(data_dir, grid.SCENARIO, "model.onnx")
    if not os.path.isfile(model):
        raise SystemExit(
            f"Received an invalid value for argument `--data`, expected a copy of "
            f"github.com/slds-lmu/yahpo_data holding {grid.SCENARIO}/model.onnx, got "
            f"{data_dir!r} (no {model})."
        )
    with open(model, "rb") as handle:
        head = handle.read(200)
    if head.startswith(b"version https://git-lfs"):
        raise SystemExit(
            f"{model} is a Git LFS pointer, not the model: fetch it with "
            "`git lfs pull` in the yahpo_data checkout."
        )


def package_versions(*names) -> dict:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def data_provenance(data_dir, commit=None) -> dict:
    """Where the surrogate's files came from: the commit and their sha256."""
    if commit is None:
        try:
            commit = subprocess.run(
                ["git", "-C", data_dir, "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            commit = "unknown: not a git checkout and no --data-commit given"
    hashes = {}
    for name in grid.SURROGATE_FILES:
        with open(os.path.join(data_dir, grid.SCENARIO, name), "rb") as handle:
            hashes[f"{grid.SCENARIO}/{name}"] = hashlib.sha256(
                handle.read()
            ).hexdigest()
    return {
        "repository": "https://github.com/slds-lmu/yahpo_data",
        "commit": commit,
        "sha256": hashes,
    }


def evaluate_task(surrogate, task, epochs, validation_metric) -> tuple:
    """The rows of one task's table and the number of epochs that counted 0 s.

    The first run is evaluated twice; different outputs stop the script, as
    the table would not be deterministic.
    """
    fixed = grid.fixed_hyperparameters(surrogate.defaults)
    rows, zero_seconds, first = [], 0, None
    for units in grid.UNITS:
        for rate in grid.LEARNING_RATES:
            inputs = grid.run_configurations(task, units, rate, epochs, fixed)
            for config in inputs:
                grid.check_inside(config, surrogate.bounds)
            outputs = surrogate.evaluate(inputs)
            first = first or (inputs, outputs)
            run_rows, zero = grid.table_rows(units, rate, outputs, validation_metric)
            rows += run_rows
            zero_seconds += zero
    if surrogate.evaluate(first[0]) != first[1]:
        raise RuntimeError(
            f"The surrogate gave different outputs for the same run of task {task}; "
            "the table would not be deterministic. Was it built with noisy=True?"
        )
    return rows, zero_seconds


def checks(rows, zero_seconds, bounds) -> dict:
    """The sidecar's record of what was checked and adjusted."""
    return {
        "determinism": "the first run evaluated twice: identical outputs",
        "epochs_with_zero_seconds": zero_seconds,
        "learning_rates_extrapolated": grid.extrapolated_rates(
            bounds["learning_rate"][0]
        ),
        "value_ranges": grid.value_ranges(rows),
    }


def write_table(path, rows, sidecar):
    """Write the table and its sidecar atomically; read the table back with the
    project's reader, which checks that the grid is complete."""
    grid.check_values(rows, path)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.COLUMNS)
    writer.writerows(table.format_row(row) for row in rows)
    _io.atomic_write_text(path, buffer.getvalue())
    table.write_sidecar(path, sidecar)
    return table.read_table(path)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Write learning-curve tables (lcbench-<task>.csv and .json) "
        "from YAHPO Gym's LCBench surrogate."
    )
    parser.add_argument("--data", required=True, help="a yahpo_data checkout")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--task-count",
        type=int,
        default=grid.TASK_COUNT,
        help=f"the first N tasks of the surrogate's list (default: {grid.TASK_COUNT})",
    )
    parser.add_argument("--tasks", help="comma-separated task ids instead")
    parser.add_argument("--epochs", type=int, default=grid.EPOCHS, help="default: 50")
    parser.add_argument(
        "--validation-metric",
        choices=sorted(grid.VALIDATION_METRICS),
        default="balanced_accuracy",
        help="what val_accuracy holds (default: balanced_accuracy, the kind of "
        "test_accuracy)",
    )
    parser.add_argument("--data-commit", help="the yahpo_data commit, if not a clone")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace existing tables"
    )
    return parser.parse_args(argv)


def main(argv=None, surrogate=None) -> list:
    """Write the tables; returns their paths. `surrogate` replaces yahpo_gym's
    (tests)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    surrogate = surrogate or Surrogate(args.data)
    if not 1 <= args.epochs <= surrogate.max_epoch:
        raise SystemExit(
            "Received an invalid value for argument `--epochs`, expected 1 to "
            f"{surrogate.max_epoch} (the surrogate's range), got {args.epochs}."
        )
    if args.tasks:
        tasks = grid.parse_tasks(args.tasks, surrogate.instances)
        rule = f"named on the command line: --tasks {args.tasks}"
    else:
        tasks = grid.select_tasks(surrogate.instances, args.task_count)
        rule = (
            f"the first {args.task_count} of the surrogate's instance list "
            f"{surrogate.instances}"
        )
    paths = [os.path.join(args.out, f"lcbench-{task}.csv") for task in tasks]
    existing = [path for path in paths if os.path.exists(path)]
    if existing and not args.overwrite:
        raise SystemExit(
            f"{', '.join(existing)} exist already; pass --overwrite to replace them."
        )
    provenance = {
        "command": "python tools/make_lcbench_tables.py " + " ".join(argv),
        "generated": datetime.datetime.now(datetime.timezone.utc)
        .replace(microsecond=0)
        .isoformat(),
        "yahpo_data": data_provenance(args.data, args.data_commit),
        "versions": dict(
            surrogate.versions, **{"kt-twostage": kt_twostage.__version__}
        ),
    }
    for task, path in zip(tasks, paths, strict=True):
        start = time.perf_counter()
        rows, zero_seconds = evaluate_task(
            surrogate, task, args.epochs, args.validation_metric
        )
        sidecar = grid.build_sidecar(
            task=task,
            tasks_rule=rule,
            epochs=args.epochs,
            fixed=grid.fixed_hyperparameters(surrogate.defaults),
            validation_metric=args.validation_metric,
            extra={
                "provenance": provenance,
                "checks": checks(rows, zero_seconds, surrogate.bounds),
            },
        )
        curves = write_table(path, rows, sidecar)
        print(
            f"{path}: {curves.runs} runs x {curves.epochs} epochs "
            f"({time.perf_counter() - start:.1f} s)"
        )
    return paths


if __name__ == "__main__":
    main()
