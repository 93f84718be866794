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

from kt_twostage import _io, speculative

# Written by `kt_twostage.compare` beside the Keras Tuner files: per trial,
# the seconds it took and the epochs it trained. Keras Tuner records neither.
TIMINGS_FILE = "kt_twostage_timings.json"

STAGE_NAMES = {1: "stage 1 (architecture)", 2: "stage 2 (learning rate)"}

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
    project_dir, *, units_hp="units", learning_rate_hp="learning_rate"
) -> dict:
    """Read a `TwoStageTuner` project folder into rows.

    Args:
        project_dir: The Keras Tuner project folder (`directory/project_name`),
            holding `oracle.json` and `trial_*/trial.json`.
        units_hp, learning_rate_hp: The hyperparameter names, as given to the
            tuner.

    Returns:
        A dict with `rows` (one dict per trial in start order, with the keys
        of `PROJECT_COLUMNS`; `seconds` is None where no timing was recorded),
        `objective` (name), `direction` (`"max"` or `"min"`), `schedule` (the
        saved `ScheduleConfig` as a dict, or None) and `chosen` (the row of
        the best completed stage-2 trial, the first on ties, else the best
        stage-1 trial, else None) -- the trial `TwoStageOracle.get_best_trials`
        returns.

    Raises:
        ValueError: if the folder is not a two-stage project.
    """
    project_dir = os.fspath(project_dir)
    oracle_path = os.path.join(project_dir, "oracle.json")
    trial_paths = sorted(glob.glob(os.path.join(project_dir, "trial_*", "trial.json")))
    if not os.path.isfile(oracle_path) and not trial_paths:
        raise ValueError(
            f"'{project_dir}' is not a Keras Tuner project folder: it has no "
            "oracle.json and no trial_*/trial.json. Pass the project folder "
            "(`directory/project_name`) of a TwoStageTuner search."
        )
    oracle = {}
    if os.path.isfile(oracle_path):
        try:
            oracle = read_json(oracle_path)
        except (OSError, ValueError) as error:
            raise ValueError(f"Cannot read {oracle_path}: {error}") from error
    trials = {}
    for path in trial_paths:
        try:
            state = read_json(path)
        except (OSError, ValueError) as error:
            raise ValueError(f"Cannot read {path}: {error}") from error
        trials[str(state["trial_id"])] = state
    order = [t for t in oracle.get("start_order", []) if t in trials]
    order += sorted((t for t in trials if t not in order), key=_trial_sort_key)

    timings = {}
    timings_path = os.path.join(project_dir, TIMINGS_FILE)
    if os.path.isfile(timings_path):
        try:
            timings = read_json(timings_path)
        except (OSError, ValueError):
            timings = {}

    schedule = oracle.get("schedule")
    objective = oracle.get("objective_name") or "score"
    direction = (schedule or {}).get("direction") or _direction_from_trials(
        trials.values(), objective
    )
    rows = []
    for trial_id in order:
        state = trials[trial_id]
        values = state.get("hyperparameters", {}).get("values", {})
        if "tuner/stage" not in values:
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
        timing = timings.get(trial_id) or {}
        rows.append(
            {
                "trial_id": trial_id,
                "stage": values["tuner/stage"],
                "units": values[units_hp],
                "learning_rate": values[learning_rate_hp],
                "epochs": timing.get("epochs", values.get("tuner/epochs")),
                "score": state.get("score"),
                "status": state.get("status"),
                "seconds": timing.get("seconds"),
                "role": "stage 1",
                "branch": values.get("tuner/stage2_branch"),
            }
        )
    _mark_stage2_roles(rows, schedule, direction)
    return {
        "rows": rows,
        "objective": objective,
        "direction": direction,
        "schedule": schedule,
        "chosen": choose_two_stage(rows, direction),
    }


def _mark_stage2_roles(rows, schedule, direction):
    """Set each stage-2 row's `role`: on the path, off it, or pending.

    Speculative stage-2 trials (`stage2_parallelism > 1`) that the scores did
    not select are kept but never chosen; rows without a branch come from a
    sequential search, whose stage-2 trials are all on the path.
    """
    stage2 = [row for row in rows if row["stage"] == 2]
    if not stage2 or any(row["branch"] is None for row in stage2):
        for row in stage2:
            row["role"] = speculative.ON_PATH
        return
    nodes = [
        speculative.NodeRecord(
            row["branch"],
            row["score"] if row["status"] == "COMPLETED" else None,
            ended=row["status"] in ("COMPLETED", "FAILED", "INVALID"),
        )
        for row in stage2
    ]
    trials = (schedule or {}).get("stage2_trials") or len(stage2)
    path = speculative.resolve_path(nodes, trials, direction)
    for row in stage2:
        row["role"] = speculative.node_status(row["branch"], path)


def choose_two_stage(rows, direction):
    """The row `TwoStageOracle.get_best_trials(1)` returns (first on ties).

    Off-path speculative trials are never chosen.
    """
    for stage in (2, 1):
        best = None
        for row in rows:
            if row["stage"] != stage or row["status"] != "COMPLETED":
                continue
            if row.get("role", speculative.ON_PATH) not in (
                "stage 1",
                speculative.ON_PATH,
            ):
                continue
            if row["score"] is None:
                continue
            if best is None or _better(row["score"], best["score"], direction):
                best = row
        if best is not None:
            return best
    return None


def _better(score, reference, direction):
    return score > reference if direction == "max" else score < reference


def _direction_from_trials(trials, objective):
    for state in trials:
        metric = state.get("metrics", {}).get("metrics", {}).get(objective)
        if metric and metric.get("direction") in ("max", "min"):
            return metric["direction"]
    return "max"


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
