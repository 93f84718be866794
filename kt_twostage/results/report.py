"""A report of one two-stage project: trial table, chosen trial, plots.

Reads the Keras Tuner files of a `TwoStageTuner` project (no Keras needed)
and writes `trials.csv`, `report.md` and two plots (stage-1 score against
units, the stage-2 learning-rate path) into the project folder or another
folder.
"""

from __future__ import annotations

import os

from kt_twostage import _io
from kt_twostage.results import trial_table as table

REPORT_FILES = {
    "csv": "trials.csv",
    "markdown": "report.md",
    "stage1": "stage1_units.png",
    "stage2": "stage2_learning_rate.png",
}
NUMBERING = (
    "Trials are numbered from 0 in the order they started, as in the "
    "console's trial lines; trial N keeps its files in the folder `trial_N` "
    "(Keras Tuner writes N with leading zeros to the width of the schedule's "
    "length: trial 7 is `trial_07` in a schedule of 10 to 99 trials)."
)
_HEADERS = {
    "trial_id": "trial",
    "learning_rate": "learning rate",
    "seconds": "duration (s)",
}


def report_markdown(project, project_dir=None) -> str:
    """The trial table grouped by stage and the chosen configuration."""
    rows = project["rows"]
    objective = project["objective"]
    headers = {**_HEADERS, "score": objective}
    columns = [c for c in table.PROJECT_COLUMNS if c != "stage"]
    lines = ["# Two-stage search report", ""]
    if project_dir:
        lines += [f"Project: `{project_dir}`", ""]
    schedule = project["schedule"]
    if schedule:
        lines += [
            f"Schedule: {len(schedule['units_grid'])} stage-1 trials of "
            f"{schedule['stage1_epochs']} epoch(s) at learning rate "
            f"{schedule['stage1_learning_rate']:g}, then {_stage2_text(schedule)}; "
            f"objective `{objective}` ({project['direction']}).",
            "",
        ]
        done = sum(1 for row in rows if row["status"] in ("COMPLETED", "FAILED"))
        total = len(schedule["units_grid"]) + schedule["stage2_trials"]
        # With an epoch budget the number of trials is not known in advance.
        if done < total and schedule.get("stage2_epoch_budget") is None:
            lines += [f"**Unfinished:** {done} of {total} trials ended.", ""]
    lines += [NUMBERING, ""]
    chosen = project["chosen"]
    lines += ["## Chosen configuration", ""]
    if chosen is None:
        lines += ["No trial has completed yet.", ""]
    else:
        kind = (
            "the best stage-2 trial"
            if chosen["stage"] == 2
            else "no stage-2 trial has completed: the best stage-1 trial"
        )
        lines += [
            f"Trial {table.trial_number(chosen['trial_id'])} ({kind}, the first "
            "on ties): "
            f"units = {chosen['units']}, learning rate = "
            f"{table.format_cell(float(chosen['learning_rate']), 6)}, "
            f"{objective} = {table.format_cell(chosen['score'], 6)}.",
            "",
        ]
    for stage in sorted({row["stage"] for row in rows}):
        stage_rows = [
            {**row, "trial_id": table.trial_number(row["trial_id"])}
            for row in rows
            if row["stage"] == stage
        ]
        lines += [
            f"## {table.STAGE_NAMES.get(stage, f'stage {stage}').capitalize()}",
            "",
            table.markdown_table(stage_rows, columns, headers),
        ]
    if not any(row["seconds"] is not None for row in rows):
        lines += [
            "Durations are n/a: this project was made before TwoStageTuner "
            "recorded them (in its `tuner*.json` state), and Keras Tuner "
            "does not record them.",
            "",
        ]
    return "\n".join(lines)


def _stage2_text(schedule) -> str:
    """Stage 2 of a saved `ScheduleConfig` in words."""
    epochs = schedule["stage2_epochs"]
    if schedule.get("stage2_epoch_budget") is not None:
        trials = (
            f"stage-2 trials of up to {epochs} epochs while they fit in "
            f"{schedule['stage2_epoch_budget']} epochs"
        )
    else:
        trials = f"{schedule['stage2_trials']} stage-2 trials of {epochs} epochs"
    if schedule.get("stage2_rule") == "compass":
        trials += f" (compass search from {schedule['stage1_learning_rate']:g})"
    else:
        trials += f" from {schedule['max_learning_rate']:g}"
    if schedule.get("stage2_patience") is not None:
        patience = schedule["stage2_patience"]
        trials += f", stopped after {patience} epoch(s) without improvement"
    return trials


def report_project(
    project_dir,
    output_dir=None,
    *,
    units_hp=None,
    learning_rate_hp=None,
    plots=True,
) -> dict:
    """Write `trials.csv`, `report.md` and the plots of a two-stage project.

    Args:
        project_dir: The Keras Tuner project folder of a `TwoStageTuner`
            search (`directory/project_name`).
        output_dir: Where to write. Defaults to `None`: the project folder.
        units_hp, learning_rate_hp: The hyperparameter names. Defaults to
            `None`: the names the project recorded.
        plots: Whether to draw the PNG plots (needs matplotlib).

    Returns:
        The project as read by `trial_table.read_two_stage_project`, plus
        `markdown` (the report) and `paths` (`{kind: path written}`).
    """
    project = table.read_two_stage_project(
        project_dir, units_hp=units_hp, learning_rate_hp=learning_rate_hp
    )
    output_dir = os.fspath(output_dir or project_dir)
    os.makedirs(output_dir, exist_ok=True)
    paths = {
        "csv": table.write_csv(
            os.path.join(output_dir, REPORT_FILES["csv"]),
            project["rows"],
            table.PROJECT_COLUMNS,
        )
    }
    markdown = report_markdown(project, project_dir)
    if plots:
        from kt_twostage.results import plots as plotting

        objective = project["objective"]
        stage1 = [(r["units"], r["score"]) for r in project["rows"] if r["stage"] == 1]
        stage2 = [r for r in project["rows"] if r["stage"] == 2]
        units = stage2[0]["units"] if stage2 else None
        paths["stage1"] = plotting.plot_stage1(
            {"stage 1": stage1},
            os.path.join(output_dir, REPORT_FILES["stage1"]),
            ylabel=objective,
        )
        paths["stage2"] = plotting.plot_stage2_path(
            {
                f"units {units}": [
                    (i, r["learning_rate"], r["score"])
                    for i, r in enumerate(stage2, start=1)
                ]
            },
            os.path.join(output_dir, REPORT_FILES["stage2"]),
            ylabel=objective,
        )
        markdown += (
            "\n## Plots\n\n"
            f"![stage 1]({REPORT_FILES['stage1']})\n\n"
            f"![stage 2]({REPORT_FILES['stage2']})\n"
        )
    paths["markdown"] = os.path.join(output_dir, REPORT_FILES["markdown"])
    _io.atomic_write_text(paths["markdown"], markdown)
    return {**project, "markdown": markdown, "paths": paths}
