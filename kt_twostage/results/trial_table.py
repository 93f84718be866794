"""Trial tables: read a two-stage project folder, write CSV and Markdown.

Keras Tuner keeps each trial in `trial_*/trial.json` and the search state in
`oracle.json`; it has no table export (keras-team/keras-tuner#183, #453).
These helpers read those files as plain JSON (no Keras needed) and turn them
into rows.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import math
import os

from kt_twostage import _io
from kt_twostage.schedule import BRANCH_KEY, EPOCHS_KEY, STAGE_KEY, TrialRecord, ranking

# Written by `kt_twostage.compare` beside the Keras Tuner files: per trial,
# the seconds it took and the epochs it trained. Keras Tuner records neither.
TIMINGS_FILE = "kt_twostage_timings.json"

STAGE_NAMES = {1: "stage 1 (architecture)", 2: "stage 2 (learning rate)"}
# Keras Tuner's statuses of a trial that will not train again.
_ENDED = ("COMPLETED", "FAILED")

PROJECT_COLUMNS = (
    "trial_id",
    "stage",
    "units",
    "learning_rate",
    "epochs",
    "score",
    "status",
    "seconds",
    "role",
)


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_two_stage_project(
    project_dir, *, units_hp=None, learning_rate_hp=None
) -> dict:
    """Read a `TwoStageTuner` project folder into rows.

    Args:
        project_dir: The Keras Tuner project folder (`directory/project_name`),
            holding `oracle.json` and `trial_*/trial.json`.
        units_hp, learning_rate_hp: The hyperparameter names. Defaults to
            `None`: the names the project recorded (projects made before they
            were recorded: `"units"` and `"learning_rate"`).

    Returns:
        A dict with `rows` (one dict per trial in start order, with the keys
        of `PROJECT_COLUMNS`; `seconds` and `epochs` are the trial's wall time
        and epochs trained where recorded), `objective` (name), `direction`
        (`"max"` or `"min"`), `schedule` (the saved `ScheduleConfig` as a dict,
        or None) and `chosen` (the row of the trial
        `TwoStageOracle.get_best_trials` returns, None if none has a score).

    Raises:
        ValueError: if the folder is not a two-stage project.
    """
    project_dir = os.fspath(project_dir)
    oracle, trials = _read_project_files(project_dir)
    units_hp = units_hp or oracle.get("units_hp") or "units"
    learning_rate_hp = learning_rate_hp or oracle.get("learning_rate_hp")
    learning_rate_hp = learning_rate_hp or "learning_rate"
    order = [t for t in oracle.get("start_order", []) if t in trials]
    order += sorted((t for t in trials if t not in order), key=_trial_sort_key)
    timings = _read_timings(project_dir)
    schedule = oracle.get("schedule")
    objective = oracle.get("objective_name") or "score"
    direction = (schedule or {}).get("direction") or _direction_from_trials(
        trials.values(), objective
    )
    rows = [
        _project_row(
            project_dir, trials[t], timings.get(t, {}), units_hp, learning_rate_hp
        )
        for t in order
    ]
    end_order = oracle.get("end_order", [])
    stage2_trials = (schedule or {}).get("stage2_trials")
    mark_roles(rows, stage2_trials, direction, end_order)
    chosen = chosen_row(rows, direction, stage2_trials, end_order)
    return {
        "rows": rows,
        "objective": objective,
        "direction": direction,
        "schedule": schedule,
        "chosen": chosen,
    }


def row_records(rows, end_order=()) -> list[TrialRecord]:
    """The schedule's records of trial rows (`stage`, `score`, `status`, and
    `units`, `learning_rate`, `branch` where present), in the rows' order."""
    end_order = set(end_order)
    return [
        TrialRecord(
            stage=row["stage"],
            units=row.get("units"),
            learning_rate=row.get("learning_rate"),
            score=row["score"] if row["status"] == "COMPLETED" else None,
            ended=row.get("trial_id") in end_order or row["status"] in _ENDED,
            branch=row.get("branch"),
        )
        for row in rows
    ]


def _path_length(rows, stage2_trials):
    # Projects record it; rows alone: every stage-2 row may be on the path.
    return stage2_trials or sum(1 for row in rows if row["stage"] == 2) or 1


def mark_roles(rows, stage2_trials, direction, end_order=()) -> None:
    """Set each row's `role` (`kt_twostage.schedule.ranking`): stage 1, on the
    stage-2 path, off it, or pending. Rows in start order."""
    records = row_records(rows, end_order)
    roles = ranking.trial_roles(records, _path_length(rows, stage2_trials), direction)
    for row, role in zip(rows, roles, strict=True):
        row["role"] = role


def chosen_row(rows, direction, stage2_trials=None, end_order=()):
    """The row of the trial `TwoStageOracle.get_best_trials(1)` returns, None
    if no trial has a score. Rows in start order."""
    records = row_records(rows, end_order)
    chosen = ranking.chosen_index(records, _path_length(rows, stage2_trials), direction)
    return None if chosen is None else rows[chosen]


def _read_project_files(project_dir):
    """`(oracle state, {trial_id: trial state})`, as plain JSON."""
    oracle_path = os.path.join(project_dir, "oracle.json")
    trial_paths = sorted(glob.glob(os.path.join(project_dir, "trial_*", "trial.json")))
    if not os.path.isfile(oracle_path) and not trial_paths:
        raise ValueError(
            f"'{project_dir}' is not a Keras Tuner project folder: it has no "
            "oracle.json and no trial_*/trial.json. Pass the project folder "
            "(`directory/project_name`) of a TwoStageTuner search."
        )
    oracle = _read_json_or_fail(oracle_path) if os.path.isfile(oracle_path) else {}
    trials = {}
    for path in trial_paths:
        state = _read_json_or_fail(path)
        trials[str(state["trial_id"])] = state
    return oracle, trials


def _read_json_or_fail(path):
    try:
        return read_json(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"Cannot read {path}: {error}") from error


def _read_timings(project_dir) -> dict:
    """`{trial_id: {"seconds": s, "epochs": e}}` of every trial that recorded them.

    `TwoStageTuner` keeps them in its state file (`tuner0.json`, and one
    `tuner_<id>.json` per distributed worker); `kt-twostage compare` writes
    `TIMINGS_FILE` for every tuner it runs.
    """
    timings = {}
    for path in sorted(glob.glob(os.path.join(project_dir, "tuner*.json"))):
        try:
            state = read_json(path)
        except (OSError, ValueError):
            continue
        for key, name in (("trial_seconds", "seconds"), ("trained_epochs", "epochs")):
            for trial_id, value in (state.get(key) or {}).items():
                timings.setdefault(trial_id, {})[name] = value
    path = os.path.join(project_dir, TIMINGS_FILE)
    if os.path.isfile(path):
        try:
            for trial_id, timing in read_json(path).items():
                timings.setdefault(trial_id, {}).update(timing)
        except (OSError, ValueError, AttributeError):
            pass
    return timings


def _project_row(project_dir, state, timing, units_hp, learning_rate_hp) -> dict:
    trial_id = str(state["trial_id"])
    values = state.get("hyperparameters", {}).get("values", {})
    if STAGE_KEY not in values:
        raise ValueError(
            f"'{project_dir}' is not a two-stage project: trial {trial_id} "
            "has no `tuner/stage` value (was it made by TwoStageTuner?)."
        )
    for name, flag in ((units_hp, "--units-hp"), (learning_rate_hp, "--lr-hp")):
        if name not in values:
            names = sorted(k for k in values if not k.startswith("tuner/"))
            raise ValueError(
                f"Trial {trial_id} has no hyperparameter `{name}`; it has "
                f"{names}. Pass the right name with {flag}."
            )
    return {
        "trial_id": trial_id,
        "stage": values[STAGE_KEY],
        "units": values[units_hp],
        "learning_rate": values[learning_rate_hp],
        "epochs": timing.get("epochs", values.get(EPOCHS_KEY)),
        "score": state.get("score"),
        "status": state.get("status"),
        "seconds": timing.get("seconds"),
        "role": ranking.ROLE_STAGE1,
        "branch": values.get(BRANCH_KEY),
    }


def _direction_from_trials(trials, objective):
    for state in trials:
        metric = state.get("metrics", {}).get("metrics", {}).get(objective)
        if metric and metric.get("direction") in ("max", "min"):
            return metric["direction"]
    return "max"


def trial_number(trial_id) -> str:
    """The number a trial goes by everywhere (the console, reports): its
    Keras Tuner id without the zeros Keras Tuner pads it with to the width of
    `max_trials` (`07` is trial 7; its folder stays `trial_07`)."""
    text = str(trial_id)
    return str(int(text)) if text.isdigit() else text


def _trial_sort_key(trial_id):
    return (0, int(trial_id), "") if trial_id.isdigit() else (1, 0, trial_id)


# ---------------------------------------------------------------------- #
# Output formats.
# ---------------------------------------------------------------------- #
def csv_text(rows, columns) -> str:
    """Rows (dicts) as CSV text with a header; None becomes an empty cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return buffer.getvalue()


def write_csv(path, rows, columns) -> str:
    """Write rows as CSV atomically; returns the path."""
    _io.atomic_write_text(path, csv_text(rows, columns))
    return str(path)


def format_cell(value, digits=4) -> str:
    """A table cell: floats with `digits` significant digits, None as `n/a`."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.{digits}g}"
    return str(value).replace("|", "\\|")


def markdown_table(rows, columns, headers=None, formatters=None) -> str:
    """A GitHub Markdown table of `rows` (dicts) over `columns`."""
    headers = headers or {}
    formatters = formatters or {}
    lines = [
        "| " + " | ".join(headers.get(c, c) for c in columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    for row in rows:
        cells = [formatters.get(c, format_cell)(row.get(c)) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
