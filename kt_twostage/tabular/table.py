"""Learning-curve tables: the CSV format, read strictly, written atomically.

A table holds the learning curves of a grid of (units, learning rate, seed)
runs: one row per trained epoch, with the validation and test metrics after
that epoch. `kt-twostage record` writes them; `kt-twostage replay` runs the
tuners against them. Pure Python and numpy: no Keras.

The format is an interface, kept exactly:

- the CSV columns `COLUMNS`, in that order;
- one row per trained epoch of a run, `epoch` counted from 1, `seconds` the
  training time of that epoch (validation and test not included);
- a JSON sidecar with the same stem (`sidecar_path`) that describes how the
  table was recorded.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os

import numpy as np

from kt_twostage import _io

COLUMNS = (
    "units",
    "learning_rate",
    "seed",
    "epoch",
    "val_accuracy",
    "val_loss",
    "test_accuracy",
    "test_loss",
    "seconds",
)
METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "seconds")
_INTEGER_COLUMNS = ("units", "seed", "epoch")


class TableError(ValueError):
    """A learning-curve table that cannot be read or used as it is."""


def sidecar_path(path) -> str:
    """The JSON sidecar of the table at `path` (same stem, `.json`)."""
    root, _ = os.path.splitext(os.fspath(path))
    return root + ".json"


def run_key(units, learning_rate, seed) -> tuple:
    """How a run is named in a table: `(units, learning_rate, seed)`."""
    return int(units), float(learning_rate), int(seed)


@dataclasses.dataclass(frozen=True)
class LearningCurves:
    """A complete grid of learning curves, as arrays.

    Attributes:
        units: Tuple of the units values, ascending.
        learning_rates: Tuple of the learning rates, ascending.
        seeds: Tuple of the seeds, ascending.
        epochs: Integer, the number of epochs of every run.
        metrics: Dict `{metric: array}` for each of `METRICS`, each array of
            shape `(len(units), len(learning_rates), len(seeds), epochs)`;
            `[..., e]` is the value after epoch `e + 1`.
        path: The file the table was read from (None if built in memory).
    """

    units: tuple
    learning_rates: tuple
    seeds: tuple
    epochs: int
    metrics: dict
    path: str | None = None

    def curve(self, metric, units, learning_rate, seed) -> np.ndarray:
        """The recorded values of `metric` for one run, epoch 1 first."""
        return self.metrics[metric][
            self.units.index(units),
            self.learning_rates.index(learning_rate),
            self.seeds.index(seed),
        ]

    @property
    def runs(self) -> int:
        return len(self.units) * len(self.learning_rates) * len(self.seeds)


@dataclasses.dataclass(frozen=True)
class TableRows:
    """The rows of a table file, grouped by run, before any grid check.

    Attributes:
        runs: Dict `{(units, learning_rate, seed): {epoch: {metric: value}}}`.
        lines: Dict `{(units, learning_rate, seed): first line number}`.
    """

    runs: dict
    lines: dict

    def finished(self, epochs) -> set:
        """Keys of the runs that hold every epoch from 1 to `epochs`."""
        wanted = set(range(1, epochs + 1))
        return {key for key, rows in self.runs.items() if wanted <= set(rows)}


def read_rows(path) -> TableRows:
    """Read a table file, checking every row.

    Raises:
        TableError: naming the file and line of the first bad row: a wrong
            header, a missing or non-numeric value, an epoch below 1, or an
            epoch recorded twice for the same run.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            text = handle.read()
    except OSError as error:
        raise TableError(f"Cannot read the table {path}: {error}") from error
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header) != COLUMNS:
        raise TableError(
            f"{path}, line 1: expected the header {','.join(COLUMNS)}, got "
            f"{','.join(header or []) or 'an empty file'}. Is this a table "
            "written by `kt-twostage record`?"
        )
    runs, lines = {}, {}
    for line_number, cells in enumerate(reader, start=2):
        if not cells:
            continue
        values = _parse_row(path, line_number, cells)
        key = run_key(values["units"], values["learning_rate"], values["seed"])
        epoch = values["epoch"]
        rows = runs.setdefault(key, {})
        lines.setdefault(key, line_number)
        if epoch in rows:
            raise TableError(
                f"{path}, line {line_number}: epoch {epoch} of the run units="
                f"{key[0]}, learning_rate={key[1]:g}, seed={key[2]} is recorded "
                "twice."
            )
        rows[epoch] = {metric: values[metric] for metric in METRICS}
    return TableRows(runs, lines)


def _parse_row(path, line_number, cells) -> dict:
    if len(cells) != len(COLUMNS):
        raise TableError(
            f"{path}, line {line_number}: expected {len(COLUMNS)} values "
            f"({','.join(COLUMNS)}), got {len(cells)}: {','.join(cells)!r}."
        )
    values = {}
    for column, cell in zip(COLUMNS, cells, strict=True):
        try:
            if column in _INTEGER_COLUMNS:
                values[column] = int(cell)
            else:
                values[column] = float(cell)
        except ValueError:
            kind = "an integer" if column in _INTEGER_COLUMNS else "a number"
            raise TableError(
                f"{path}, line {line_number}: `{column}` must be {kind}, got {cell!r}."
            ) from None
    for column in ("units", "epoch"):
        if values[column] < 1:
            raise TableError(
                f"{path}, line {line_number}: `{column}` must be at least 1, got "
                f"{values[column]}."
            )
    if not values["learning_rate"] > 0 or math.isinf(values["learning_rate"]):
        raise TableError(
            f"{path}, line {line_number}: `learning_rate` must be a positive "
            f"number, got {values['learning_rate']!r}."
        )
    for column in ("val_accuracy", "test_accuracy"):
        if math.isnan(values[column]):
            raise TableError(
                f"{path}, line {line_number}: `{column}` is NaN; the accuracies "
                "must be numbers (losses may be NaN)."
            )
    return values


def read_table(path, *, seeds="all") -> LearningCurves:
    """Read a table and check that it is a complete grid.

    Every run of the grid (every units value times every learning rate times
    every seed present in the file) must hold the same epochs, 1 to E.

    Args:
        path: The CSV file.
        seeds: `"all"` (default): every seed must be complete. `"complete"`:
            keep only the seeds whose runs are all there, so that a table
            still being recorded can be used; at least one must be.

    Raises:
        TableError: naming the line of a malformed row, or the first missing
            run or epoch.
    """
    if seeds not in ("all", "complete"):
        raise ValueError(f"Expected seeds='all' or 'complete', got {seeds!r}.")
    path = os.fspath(path)
    rows = read_rows(path)
    if not rows.runs:
        raise TableError(f"{path} holds no rows.")
    units = sorted({key[0] for key in rows.runs})
    rates = sorted({key[1] for key in rows.runs})
    all_seeds = sorted({key[2] for key in rows.runs})
    epochs = max(max(curve) for curve in rows.runs.values())
    problems = {}
    for seed in all_seeds:
        for u in units:
            for rate in rates:
                problem = _run_problem(rows, (u, rate, seed), epochs)
                if problem:
                    problems.setdefault(seed, problem)
    kept = [seed for seed in all_seeds if seed not in problems]
    if seeds == "all" and problems:
        first = problems[min(problems)]
        raise TableError(
            f"{path}: {first} The grid is every units value "
            f"{units} times every learning rate {rates} times every seed "
            f"{all_seeds}, {epochs} epochs each. Record the missing runs "
            "(`kt-twostage record` resumes), or use only the complete seeds "
            f"({kept or 'none'}) with --partial."
        )
    if not kept:
        first = problems[min(problems)]
        raise TableError(f"{path}: no seed has every run of the grid. {first}")
    shape = (len(units), len(rates), len(kept), epochs)
    metrics = {metric: np.empty(shape) for metric in METRICS}
    for i, u in enumerate(units):
        for j, rate in enumerate(rates):
            for k, seed in enumerate(kept):
                curve = rows.runs[u, rate, seed]
                for metric in METRICS:
                    metrics[metric][i, j, k] = [
                        curve[e][metric] for e in range(1, epochs + 1)
                    ]
    for array in metrics.values():
        array.flags.writeable = False
    return LearningCurves(
        units=tuple(units),
        learning_rates=tuple(rates),
        seeds=tuple(kept),
        epochs=epochs,
        metrics=metrics,
        path=path,
    )


def _run_problem(rows, key, epochs):
    units, rate, seed = key
    name = f"the run units={units}, learning_rate={rate:g}, seed={seed}"
    curve = rows.runs.get(key)
    if curve is None:
        return f"{name} is missing."
    missing = [e for e in range(1, epochs + 1) if e not in curve]
    if missing:
        return (
            f"{name} (from line {rows.lines[key]}) lacks epoch(s) "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''} of 1..{epochs}."
        )
    return None


def format_row(values) -> list:
    """One CSV row (a list of strings) from a dict with the `COLUMNS` keys.

    Floats are written with `repr`, so they read back exactly.
    """
    cells = []
    for column in COLUMNS:
        value = values[column]
        if column in _INTEGER_COLUMNS:
            cells.append(str(int(value)))
        else:
            cells.append(repr(float(value)))
    return cells


def append_rows(path, new_rows) -> None:
    """Add rows to the table at `path` (created if missing), atomically.

    The whole file is written to a temporary file and renamed over the old
    one, so a kill leaves either the old table or the new one, never a
    half-written row.
    """
    path = os.fspath(path)
    old = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8", newline="") as handle:
            old = handle.read()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not old:
        writer.writerow(COLUMNS)
    elif not old.endswith("\n"):
        buffer.write("\n")
    for row in new_rows:
        writer.writerow(format_row(row))
    _io.atomic_write_text(path, old + buffer.getvalue())


def read_sidecar(path) -> dict | None:
    """The sidecar of the table at `path`, or None if it has none."""
    sidecar = sidecar_path(path)
    if not os.path.exists(sidecar):
        return None
    try:
        with open(sidecar, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise TableError(f"Cannot read the sidecar {sidecar}: {error}") from error


def write_sidecar(path, sidecar: dict) -> str:
    """Write the sidecar of the table at `path` atomically; returns its path."""
    target = sidecar_path(path)
    _io.atomic_write_text(target, json.dumps(sidecar, indent=1) + "\n")
    return target
