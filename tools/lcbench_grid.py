"""The pure parts of `make_lcbench_tables.py`: the grid, the columns, the sidecar.

Importable without yahpo_gym (and tested in the project's environment): the
fixed grid of the LCBench tables, how the surrogate's outputs become the rows
of a table (`kt_twostage.tabular.table`), and what the sidecar says.
"""

from __future__ import annotations

import math

from kt_twostage.tabular import table
from kt_twostage.tabular.profiles import halving_rates

SCENARIO = "lcbench"
UNITS = (64, 128, 256, 512, 1024)
EPOCHS = 50
TASK_COUNT = 3
SEED = 0
# The hyperparameters a table varies; the others stay at their defaults.
VARIED = ("OpenML_task_id", "max_units", "learning_rate", "epoch")
VALIDATION_METRICS = {
    # --validation-metric: (surrogate output, divisor to reach [0, 1])
    "balanced_accuracy": ("val_balanced_accuracy", 1.0),
    "accuracy": ("val_accuracy", 100.0),
}
SURROGATE_FILES = ("model.onnx", "config_space.json", "encoding.json")
CITATIONS = (
    "Zimmer, L., Lindauer, M., & Hutter, F. (2021). Auto-PyTorch: Multi-Fidelity "
    "Metalearning for Efficient and Robust AutoDL. IEEE TPAMI, 43(9), 3079-3090.",
    "Pfisterer, F., Schneider, L., Moosbauer, J., Binder, M., & Bischl, B. (2022). "
    "YAHPO Gym - An Efficient Multi-Objective Multi-Fidelity Benchmark for "
    "Hyperparameter Optimization. AutoML Conference.",
)


# The rates the reference stage-2 rule reaches by halving from the table's
# largest rate, 0.1, in its 10 steps after the first (11 trials), plus the
# stage-1 rate 0.001: a replay with the default schedule never leaves the
# table. LCBench sampled the learning rate in [1e-4, 1e-1]; the lowest rate,
# 0.1 / 2**10 = 9.765625e-05, lies 2.3% below, where the surrogate extrapolates.
LEARNING_RATES = halving_rates(top=0.1, halvings=10, extra=(0.001,))
# How far below the surrogate's lower learning-rate bound a rate may lie.
LEARNING_RATE_EXTRAPOLATION = 0.03


def select_tasks(instances, count) -> tuple:
    """The first `count` task ids of the surrogate's instance list."""
    if count < 1 or count > len(instances):
        raise ValueError(
            "Received an invalid value for argument `task_count`, expected 1 to "
            f"{len(instances)} (the surrogate's tasks), got {count!r}."
        )
    return tuple(str(task) for task in instances[:count])


def parse_tasks(text, instances) -> tuple:
    """Task ids from a comma-separated string, each one of `instances`."""
    tasks = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [task for task in tasks if task not in instances]
    if not tasks or unknown:
        raise ValueError(
            "Received an invalid value for argument `--tasks`, expected "
            f"comma-separated OpenML task ids of LCBench ({', '.join(instances)}), "
            f"got {text!r}."
        )
    return tasks


def fixed_hyperparameters(defaults) -> dict:
    """The config-space defaults of every hyperparameter a table does not vary."""
    return {
        name: value for name, value in sorted(defaults.items()) if name not in VARIED
    }


def check_inside(config, bounds) -> None:
    """Raise unless every value of `config` lies within `bounds`
    (`{name: (low, high)}`, the surrogate's config space); the learning rate
    may lie up to `LEARNING_RATE_EXTRAPOLATION` below its lower bound."""
    for name, (low, high) in bounds.items():
        if name == "learning_rate":
            low = low * (1 - LEARNING_RATE_EXTRAPOLATION)
        if name in config and not low <= config[name] <= high:
            raise ValueError(
                f"Received {name}={config[name]!r}, outside the surrogate's range "
                f"[{low!r}, {high!r}]: the surrogate would extrapolate."
            )


def extrapolated_rates(learning_rate_low) -> dict:
    """`{rate: note}` for the grid's rates below the surrogate's lower bound."""
    return {
        repr(rate): f"below the surrogate's lower bound {learning_rate_low!r} by "
        f"{1 - rate / learning_rate_low:.1%}; evaluated as is (extrapolated)"
        for rate in LEARNING_RATES
        if rate < learning_rate_low
    }


def run_configurations(task, units, learning_rate, epochs, fixed) -> list:
    """The surrogate inputs of one run, epoch 1 to `epochs`."""
    return [
        dict(
            fixed,
            OpenML_task_id=str(task),
            max_units=int(units),
            learning_rate=float(learning_rate),
            epoch=epoch,
        )
        for epoch in range(1, epochs + 1)
    ]


def epoch_seconds(cumulative) -> tuple:
    """Per-epoch seconds from the surrogate's cumulative time, epoch 1 first.

    The surrogate's predicted total can dip from one epoch to the next; the
    total is taken as its running maximum, so such an epoch counts 0 s.
    Returns `(seconds, number of epochs that counted 0 s)`.
    """
    seconds, previous, zero = [], 0.0, 0
    for total in cumulative:
        now = max(previous, float(total))
        seconds.append(now - previous)
        zero += now == previous
        previous = now
    return seconds, zero


def table_rows(units, learning_rate, outputs, validation_metric="balanced_accuracy"):
    """Table rows (dicts of `table.COLUMNS`) of one run from the surrogate's
    outputs for epochs 1..E, and the number of epochs that counted 0 s."""
    name, divisor = VALIDATION_METRICS[validation_metric]
    seconds, zero = epoch_seconds([out["time"] for out in outputs])
    rows = [
        {
            "units": units,
            "learning_rate": learning_rate,
            "seed": SEED,
            "epoch": epoch,
            "val_accuracy": float(out[name]) / divisor,
            "val_loss": float(out["val_cross_entropy"]),
            "test_accuracy": float(out["test_balanced_accuracy"]),
            "test_loss": float(out["test_cross_entropy"]),
            "seconds": spent,
        }
        for epoch, (out, spent) in enumerate(zip(outputs, seconds, strict=True), 1)
    ]
    return rows, zero


def column_sources(validation_metric) -> dict:
    name, divisor = VALIDATION_METRICS[validation_metric]
    scaled = f" / {divisor:g}" if divisor != 1 else ""
    return {
        "units": "LCBench's `max_units`: the width of the MLP's widest layer",
        "learning_rate": "LCBench's `learning_rate`",
        "seed": f"always {SEED}: the surrogate is deterministic",
        "epoch": "LCBench's `epoch` (the surrogate's fidelity), from 1",
        "val_accuracy": f"the surrogate's `{name}`{scaled}",
        "val_loss": "the surrogate's `val_cross_entropy`",
        "test_accuracy": "the surrogate's `test_balanced_accuracy` (it predicts no "
        "plain test accuracy)",
        "test_loss": "the surrogate's `test_cross_entropy`",
        "seconds": "growth of the surrogate's cumulative predicted `time` over the "
        "epoch, its running maximum (a dip counts 0 s); predicted, not measured",
    }


def value_ranges(rows) -> dict:
    """`{column: [min, max]}` of the metric columns (a sanity check)."""
    return {
        metric: [min(r[metric] for r in rows), max(r[metric] for r in rows)]
        for metric in table.METRICS
    }


def check_values(rows, path) -> None:
    """Raise if an accuracy is not a number in [0, 1] or a value is not finite."""
    for row in rows:
        for metric in table.METRICS:
            value = row[metric]
            bad = not math.isfinite(value) or (
                metric.endswith("accuracy") and not 0 <= value <= 1
            )
            if bad:
                raise ValueError(
                    f"{path}: the surrogate gave {metric}={value!r} for units="
                    f"{row['units']}, learning_rate={row['learning_rate']:g}, epoch "
                    f"{row['epoch']}; expected a finite number (accuracies in [0, 1])."
                )


def build_sidecar(*, task, tasks_rule, epochs, fixed, validation_metric, extra):
    """The sidecar of one table: what it holds and where every value came from.

    `extra` adds the facts known only after generating (provenance, checks).
    """
    grid = {
        "units": list(UNITS),
        "learning_rates": list(LEARNING_RATES),
        "seeds": [SEED],
        "epochs": epochs,
        "runs": len(UNITS) * len(LEARNING_RATES),
    }
    return {
        "format": 1,
        "columns": list(table.COLUMNS),
        "profile_name": f"lcbench-{task}",
        "external": True,
        "source": {
            "benchmark": "YAHPO Gym's surrogate of LCBench",
            "scenario": SCENARIO,
            "openml_task_id": str(task),
            "task_selection": tasks_rule,
            "deterministic": "yes: yahpo_gym's BenchmarkSet with noisy=False gives "
            "the same output for the same input, so one seed (0) and no "
            "recording noise; the script evaluates the first run twice and "
            "stops if the outputs differ",
            "citation": list(CITATIONS),
        },
        "grid": grid,
        "fixed_hyperparameters": fixed,
        "validation_metric": validation_metric,
        "column_sources": column_sources(validation_metric),
        **extra,
    }
