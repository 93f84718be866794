"""The outputs of `kt_twostage.compare`: tables, summary and plots.

`trials.csv`, `runs.csv`, `summary.md`, `summary.json` and the PNG plots,
from the runs `compare_tuners` collected.
"""

from __future__ import annotations

import json
import os
import statistics

from kt_twostage import _io
from kt_twostage.compare.baselines import label, patience_variant, run_names
from kt_twostage.results import trial_table as table

TRIAL_COLUMNS = (
    "tuner",
    "seed",
    "trial_id",
    "status",
    "stage",
    "units",
    "learning_rate",
    "epochs",
    "score",
    "seconds",
    "start_seconds",
    "end_seconds",
    "cumulative_epochs",
    "best_so_far",
)
RUN_COLUMNS = (
    "tuner",
    "seed",
    "trials",
    "epochs",
    "budget",
    "wall_seconds",
    "best_trial_id",
    "units",
    "learning_rate",
    "validation_score",
    "test_score",
    "test_loss",
    "test_seconds",
)
PLOT_FILES = {
    "epochs": "best_so_far_epochs.png",
    "time": "best_so_far_time.png",
    "stage1": "stage1_units.png",
    "stage2": "stage2_learning_rate.png",
}


def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarize(runs, settings, *, reach_tolerance=0.01) -> list[dict]:
    """One row per tuner: means, spreads and the grid gap over its seeds."""
    direction = settings["direction"]
    sign = 1 if direction == "max" else -1
    grid_runs = [r for r in runs if r["tuner"] == "grid"]
    grid_val = _stats([r["validation_score"] for r in grid_runs])["mean"]
    grid_test = _stats([r["test_score"] for r in grid_runs])["mean"]
    rows = []
    for name in run_names(runs):
        mine = [r for r in runs if r["tuner"] == name]
        reach = []
        if grid_val is not None:
            target = grid_val - sign * reach_tolerance
            for run in mine:
                hit = next(
                    (
                        t["cumulative_epochs"]
                        for t in run["trial_rows"]
                        if t["best_so_far"] is not None
                        and sign * (t["best_so_far"] - target) >= 0
                    ),
                    None,
                )
                reach.append(hit)
        test = _stats([r["test_score"] for r in mine])
        rows.append(
            {
                "tuner": name,
                "label": label(name),
                "seeds": len(mine),
                "budget": mine[0]["budget"],
                "epochs": _stats([r["epochs"] for r in mine]),
                "trials": _stats([r["trials"] for r in mine]),
                "wall_seconds": _stats([r["wall_seconds"] for r in mine]),
                "validation_score": _stats([r["validation_score"] for r in mine]),
                "test_score": test,
                "test_gap_to_grid": (
                    None
                    if grid_test is None or test["mean"] is None
                    else test["mean"] - grid_test
                ),
                "runs_reaching_grid": (
                    None if grid_val is None else sum(h is not None for h in reach)
                ),
                "epochs_to_reach_grid": _stats(reach),
            }
        )
    return rows


def _mean_std(stats, digits=4, scale=1.0):
    if stats["mean"] is None:
        return "n/a"
    mean = stats["mean"] * scale
    if stats["n"] < 2:
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {stats['std'] * scale:.2g}"


def _range(stats, digits=4):
    if stats["mean"] is None:
        return "n/a"
    return f"{stats['min']:.{digits}g}–{stats['max']:.{digits}g}"


_SUMMARY_COLUMNS = (
    "tuner",
    "seeds",
    "budget",
    "epochs",
    "trials",
    "wall",
    "val",
    "test",
    "gap",
    "reach",
)


def _summary_row(row) -> dict:
    """One row of the summary table: a tuner's stats, formatted."""
    reach = row["epochs_to_reach_grid"]
    return {
        "tuner": row["label"],
        "seeds": row["seeds"],
        "budget": row["budget"],
        "epochs": _mean_std(row["epochs"]),
        "trials": _mean_std(row["trials"], 3),
        "wall": _mean_std(row["wall_seconds"], 3, 1 / 60),
        "val": f"{_mean_std(row['validation_score'])} "
        f"({_range(row['validation_score'])})",
        "test": f"{_mean_std(row['test_score'])} ({_range(row['test_score'])})",
        "gap": "n/a"
        if row["test_gap_to_grid"] is None
        else f"{row['test_gap_to_grid']:+.4f}",
        "reach": "n/a"
        if row["runs_reaching_grid"] is None
        else f"{row['runs_reaching_grid']}/{row['seeds']}"
        + (f" ({reach['mean']:.3g})" if reach["mean"] is not None else ""),
    }


def _summary_table(rows, metric, test_metric, reach_tolerance) -> str:
    headers = {
        "budget": "budget (epochs)",
        "epochs": "epochs trained",
        "wall": "wall time (min)",
        "val": f"best {metric} (min–max)",
        "test": f"test {test_metric} (min–max)",
        "gap": "test vs grid",
        "reach": f"runs within {reach_tolerance:g} of grid best val (mean epochs)",
    }
    return table.markdown_table(
        [_summary_row(row) for row in rows],
        _SUMMARY_COLUMNS,
        headers,
        {column: str for column in _SUMMARY_COLUMNS},
    )


def _runs_table(runs) -> str:
    run_rows = [
        {
            **{k: r.get(k) for k in RUN_COLUMNS},
            "tuner": label(r["tuner"]),
            "wall_seconds": round(r["wall_seconds"], 1),
            "load": "/".join(
                "n/a" if v is None else f"{v:.1f}"
                for v in r.get("load_average") or (None, None)
            ),
        }
        for r in runs
    ]
    return table.markdown_table(run_rows, (*RUN_COLUMNS, "load"))


def _schedule_lines(settings) -> list[str]:
    """The settings' lines on the search space, the schedule and the budget."""
    lines = [
        f"- search space: `{settings['units_hp']}` in {settings['units']}, "
        f"`{settings['learning_rate_hp']}` log-uniform in "
        f"[{settings['learning_rate_range'][0]:.4g}, "
        f"{settings['learning_rate_range'][1]:.4g}]",
        f"- two-stage schedule: {len(settings['units'])} stage-1 trials of "
        f"{settings['stage1_epochs']} epoch(s) at learning rate "
        f"{settings['stage1_learning_rate']:g}, then {settings['stage2_trials']} "
        f"stage-2 trials of {settings['stage2_epochs']} epochs from "
        f"{settings['max_learning_rate']:g}",
        f"- budget for every tuner but the grid: **{settings['budget_epochs']} "
        "epochs**",
    ]
    if settings.get("stage2_patience") is not None:
        lines.append(
            f"- {label(patience_variant(settings['stage2_patience']))}: the "
            "same schedule and seeds, each stage-2 trial stopped after "
            f"{settings['stage2_patience']} epoch(s) without improvement of "
            f"{settings['objective']} (Keras `EarlyStopping`); the other tuners "
            "keep the plain schedule's budget"
        )
    return lines


def _baseline_lines(settings) -> list[str]:
    """The settings' lines on the other tuners and the data."""
    hb = settings["hyperband"]
    lines = [
        f"- RandomSearch and BayesianOptimization: "
        f"{settings['random_bayesian_trials']} trials of "
        f"{settings['stage2_epochs']} epochs (Bayesian: "
        f"{settings['bayesian_initial_points']} random initial points)",
        f"- Hyperband: max_epochs={hb['max_epochs']}, factor={hb['factor']}, "
        f"hyperband_iterations={hb['hyperband_iterations']} (nominally "
        f"{hb['nominal_epochs']} epochs in {hb['nominal_trials']} trials), stopped "
        f"once its started trials reach {hb['epoch_budget']} epochs",
        f"- reference grid (not exhaustive): {len(settings['units'])} units values × "
        f"{len(settings['grid_learning_rates'])} learning rates "
        f"({', '.join(f'{lr:.3g}' for lr in settings['grid_learning_rates'])}) "
        f"× {settings['stage2_epochs']} epochs = {settings['grid_epochs']} epochs",
    ]
    if settings.get("problem", {}).get("data"):
        lines.append(f"- source: `{settings['problem']['data']}`")
    lines.append(
        f"- data: {settings['train_examples']} training, "
        f"{settings['validation_examples']} validation (selection), "
        f"{settings['test_examples']} test examples (each returned model "
        f"evaluated once); batch size {settings['batch_size']}"
    )
    return lines


def summary_markdown(rows, runs, settings, *, test_metric, reach_tolerance, extra=""):
    """The comparison as Markdown: settings, the summary and every run."""
    metric = settings["objective"]
    lines = [
        "# Two-stage schedule vs. Keras Tuner's built-in tuners",
        "",
        extra,
        "## Settings",
        "",
        *_schedule_lines(settings),
        *_baseline_lines(settings),
        "",
        "## Summary (mean ± std over seeds)",
        "",
        _summary_table(rows, metric, test_metric, reach_tolerance),
        f"The validation score is the one of the trial each tuner returns "
        f"(TwoStageTuner: the best stage-2 trial); the test score is that "
        f"model's, measured once. The last column counts the runs whose "
        f"returned-so-far trial came within {reach_tolerance:g} of the grid's "
        f"best validation score, and the mean epochs they needed. Wall time "
        "is the search alone (no data loading, no test evaluation); the "
        "`load` column of each run below gives the machine's 1-minute load "
        "average at its start and end, as other processes slow it down.",
        "",
        "## Every run",
        "",
        _runs_table(runs),
        "## Plots",
        "",
        *(f"- `{file}`" for file in PLOT_FILES.values()),
        "",
    ]
    return "\n".join(lines)


def write_outputs(
    output_dir,
    runs,
    settings,
    *,
    test_metric,
    reach_tolerance=0.01,
    description=None,
) -> dict:
    """Write trials.csv, runs.csv, summary.md/.json and the plots."""
    os.makedirs(output_dir, exist_ok=True)
    trials = [t for run in runs for t in run["trial_rows"]]
    paths = {
        "trials": table.write_csv(
            os.path.join(output_dir, "trials.csv"), trials, TRIAL_COLUMNS
        ),
        "runs": table.write_csv(
            os.path.join(output_dir, "runs.csv"), runs, RUN_COLUMNS
        ),
    }
    rows = summarize(runs, settings, reach_tolerance=reach_tolerance)
    extra = ""
    if description:
        extra = (
            "\n".join(f"- {key}: {value}" for key, value in description.items()) + "\n"
        )
    markdown = summary_markdown(
        rows,
        runs,
        settings,
        test_metric=test_metric,
        reach_tolerance=reach_tolerance,
        extra=extra,
    )
    paths["summary_md"] = os.path.join(output_dir, "summary.md")
    _io.atomic_write_text(paths["summary_md"], markdown)
    paths.update(write_plots(output_dir, runs, settings))
    summary = {
        "description": description or {},
        "settings": settings,
        "summary": rows,
        "runs": [{k: v for k, v in r.items() if k != "trial_rows"} for r in runs],
        "files": {k: os.path.basename(v) for k, v in paths.items()},
    }
    paths["summary_json"] = os.path.join(output_dir, "summary.json")
    summary["files"]["summary_json"] = "summary.json"
    _io.atomic_write_text(paths["summary_json"], json.dumps(summary, indent=1) + "\n")
    summary["paths"] = paths
    summary["markdown"] = markdown
    return summary


def write_plots(output_dir, runs, settings) -> dict:
    from kt_twostage.results import plots

    metric = settings["objective"]
    reference = {}
    grid_runs = [r for r in runs if r["tuner"] == "grid"]
    if grid_runs:
        best = statistics.fmean(r["validation_score"] for r in grid_runs)
        reference[f"grid best ({best:.4f})"] = best
    paths = {}
    for key, x_key, xlabel in (
        ("epochs", "cumulative_epochs", "epochs trained (cumulative)"),
        ("time", "end_seconds", "wall time (s)"),
    ):
        curves = {}
        for name in run_names(runs):
            mine = [r for r in runs if r["tuner"] == name]
            if mine:
                curves[label(name)] = [
                    [(t[x_key], t["best_so_far"]) for t in r["trial_rows"]]
                    for r in mine
                ]
        paths[f"plot_{key}"] = plots.plot_best_so_far(
            curves,
            os.path.join(output_dir, PLOT_FILES[key]),
            xlabel=xlabel,
            ylabel=f"best-so-far {metric}",
            title=f"Best-so-far validation score vs {xlabel.split(' (')[0]} "
            "(mean, min–max band)",
            references=reference,
        )
    two_stage = [r for r in runs if r["tuner"] == "twostage"]
    stage1 = {
        f"seed {r['seed']}": [
            (t["units"], t["score"]) for t in r["trial_rows"] if t["stage"] == 1
        ]
        for r in two_stage
    }
    stage2 = {}
    for r in two_stage:
        rows = [t for t in r["trial_rows"] if t["stage"] == 2]
        stage2[f"seed {r['seed']} (units {rows[0]['units'] if rows else '?'})"] = [
            (i, t["learning_rate"], t["score"]) for i, t in enumerate(rows, start=1)
        ]
    paths["plot_stage1"] = plots.plot_stage1(
        stage1, os.path.join(output_dir, PLOT_FILES["stage1"]), ylabel=metric
    )
    paths["plot_stage2"] = plots.plot_stage2_path(
        stage2, os.path.join(output_dir, PLOT_FILES["stage2"]), ylabel=metric
    )
    return paths
