"""`compare_tuners` / `kt-twostage compare` on the tiny profile, and its parts."""

import csv
import json
import math
import random

import keras_tuner as kt
import pytest
from keras_tuner.engine import trial as trial_module

from kt_twostage import compare
from kt_twostage.cli import main
from kt_twostage.compare import DEFAULT_TUNERS as TUNERS
from kt_twostage.compare import (
    PLOT_FILES,
    PROFILES,
    RUN_COLUMNS,
    TRIAL_COLUMNS,
    BudgetHyperbandOracle,
    GridOracle,
    hyperband_epochs,
    log_grid,
    plan_hyperband,
)
from kt_twostage.compare.budget import oracle_seed
from kt_twostage.compare.records import incumbent_score

PNG_HEADER = b"\x89PNG\r\n\x1a\n"
TINY = PROFILES["tiny"]
NUM_UNITS = len(range(TINY.units_min, TINY.units_max + 1, TINY.units_step))
BUDGET = NUM_UNITS * TINY.stage1_epochs + TINY.stage2_trials * TINY.stage2_epochs


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny comparison through the command line: every tuner, one seed."""
    root = tmp_path_factory.mktemp("compare")
    output = root / "out"
    argv = ["compare", "--profile", "tiny", "--seeds", "1", "--output", str(output)]
    assert main(argv) == 0
    return {"root": root, "output": output, "argv": argv}


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_tuner_runs(tiny_run):
    runs = read_csv(tiny_run["output"] / "runs.csv")
    assert [row["tuner"] for row in runs] == list(TUNERS)
    for row in runs:
        assert int(row["trials"]) > 0
        assert int(row["epochs"]) > 0
        assert 0.0 <= float(row["validation_score"]) <= 1.0
        assert 0.0 <= float(row["test_score"]) <= 1.0
        assert float(row["wall_seconds"]) > 0


def test_budgets_equal_within_one_trial(tiny_run):
    runs = {row["tuner"]: row for row in read_csv(tiny_run["output"] / "runs.csv")}
    assert int(runs["twostage"]["epochs"]) == BUDGET
    for name in ("twostage", "random", "bayesian", "hyperband"):
        assert int(runs[name]["budget"]) == BUDGET
        # One trial trains at most `stage2_epochs` epochs.
        assert abs(int(runs[name]["epochs"]) - BUDGET) < TINY.stage2_epochs, name
    grid_epochs = NUM_UNITS * TINY.grid_learning_rates * TINY.stage2_epochs
    assert int(runs["grid"]["epochs"]) == grid_epochs


def test_trials_csv_counts_every_epoch(tiny_run):
    trials = read_csv(tiny_run["output"] / "trials.csv")
    runs = read_csv(tiny_run["output"] / "runs.csv")
    assert list(trials[0]) == list(TRIAL_COLUMNS)
    for run in runs:
        mine = [t for t in trials if t["tuner"] == run["tuner"]]
        assert len(mine) == int(run["trials"])
        assert sum(int(t["epochs"]) for t in mine) == int(run["epochs"])
        cumulative = [int(t["cumulative_epochs"]) for t in mine]
        assert cumulative == sorted(cumulative)
        assert cumulative[-1] == int(run["epochs"])
    two_stage = [t for t in trials if t["tuner"] == "twostage"]
    assert [t["stage"] for t in two_stage] == ["1"] * NUM_UNITS + ["2"] * (
        TINY.stage2_trials
    )
    # Hyperband continues trials from checkpoints: the counted epochs of a
    # continued trial are fewer than its `tuner/epochs`.
    hyperband = [int(t["epochs"]) for t in trials if t["tuner"] == "hyperband"]
    assert all(1 <= epochs <= TINY.stage2_epochs for epochs in hyperband)


def test_summary_markdown_and_json(tiny_run):
    output = tiny_run["output"]
    summary = json.loads((output / "summary.json").read_text())
    assert [row["tuner"] for row in summary["summary"]] == list(TUNERS)
    assert summary["settings"]["budget_epochs"] == BUDGET
    assert summary["description"]["command"].startswith("kt-twostage compare")
    assert set(summary["runs"][0]) >= set(RUN_COLUMNS)
    markdown = (output / "summary.md").read_text()
    lines = markdown.splitlines()
    start = lines.index("## Summary (mean ± std over seeds)")
    table = [line for line in lines[start + 1 :] if line.startswith("|")]
    table = table[: 2 + len(TUNERS)]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[:3] == ["tuner", "seeds", "budget (epochs)"]
    assert set(table[1].replace("|", "").split()) == {"---"}
    for line, name in zip(table[2:], TUNERS, strict=True):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == len(header)
        assert cells[0] == compare.LABELS[name]


def test_plots_are_png(tiny_run):
    for name in PLOT_FILES.values():
        data = (tiny_run["output"] / name).read_bytes()
        assert len(data) > 1000, name
        assert data.startswith(PNG_HEADER), name


def test_rerun_reuses_finished_runs(tiny_run, capsys):
    before = (tiny_run["output"] / "runs.csv").read_text()
    assert main(tiny_run["argv"]) == 0
    out = capsys.readouterr().out
    assert out.count("done earlier, reused") == len(TUNERS)
    assert "| TwoStageTuner |" in out
    assert (tiny_run["output"] / "runs.csv").read_text() == before


def test_collect_only_trains_nothing(tiny_run, capsys):
    argv = [*tiny_run["argv"], "--seeds", "2", "--collect-only"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("done earlier, reused") == len(TUNERS)
    assert out.count("not run yet, skipped") == len(TUNERS) - 1  # grid: 1 seed
    assert ": running" not in out


def test_changed_settings_are_refused(tiny_run, capsys):
    argv = [*tiny_run["argv"], "--stage2-epochs", "1"]
    assert main(argv) == 1
    assert "other settings (" in capsys.readouterr().err


def test_patience_variant_keeps_the_work_folder(tiny_run, capsys):
    # A work folder made without --stage2-patience is accepted: the variant
    # is keyed by its own run name, the plain runs are reused.
    output = tiny_run["root"] / "patience_collect"
    argv = [
        "compare",
        "--profile",
        "tiny",
        "--seeds",
        "1",
        "--tuners",
        "twostage",
        "--stage2-patience",
        "1",
        "--output",
        str(output),
        "--work-dir",
        str(tiny_run["output"] / "work"),
        "--collect-only",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "twostage seed 0: done earlier, reused" in out
    assert "twostage-patience1 seed 0: not run yet, skipped" in out


def test_patience_variant_trains_no_more_epochs(tmp_path, capsys):
    # Stage-2 trials of 4 epochs, so that patience 1 can stop one early.
    stage2_epochs = 4
    argv = [
        "compare",
        "--profile",
        "tiny",
        "--seeds",
        "1",
        "--tuners",
        "twostage",
        "--stage2-epochs",
        str(stage2_epochs),
        "--stage2-patience",
        "1",
        "--output",
        str(tmp_path / "out"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "twostage-patience1 seed 0: running" in out
    assert "| TwoStageTuner (patience 1) |" in out
    runs = {r["tuner"]: r for r in read_csv(tmp_path / "out" / "runs.csv")}
    assert list(runs) == ["twostage", "twostage-patience1"]
    plain, patient = runs["twostage"], runs["twostage-patience1"]
    budget = NUM_UNITS * TINY.stage1_epochs + TINY.stage2_trials * stage2_epochs
    assert int(plain["epochs"]) == budget
    assert int(patient["epochs"]) <= int(plain["epochs"])
    assert int(patient["budget"]) == budget
    assert 0.0 <= float(patient["test_score"]) <= 1.0
    trials = [
        t
        for t in read_csv(tmp_path / "out" / "trials.csv")
        if t["tuner"] == "twostage-patience1"
    ]
    assert [t["stage"] for t in trials] == ["1"] * NUM_UNITS + ["2"] * (
        TINY.stage2_trials
    )
    for trial in trials:
        if trial["stage"] == "2":
            # Patience 1 stops after 2 epochs at the earliest.
            assert 2 <= int(trial["epochs"]) <= stage2_epochs
        else:
            assert int(trial["epochs"]) == TINY.stage1_epochs
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["settings"]["stage2_patience"] == 1
    assert "--stage2-patience 1" in summary["description"]["command"]
    # Started again: both runs are reused.
    assert main(argv) == 0
    assert capsys.readouterr().out.count("done earlier, reused") == 2


def test_patience_below_one_is_a_usage_error(tmp_path, capsys):
    argv = ["compare", "--stage2-patience", "0", "--output", str(tmp_path)]
    assert main(argv) == 2
    assert "--stage2-patience" in capsys.readouterr().err


def test_unknown_tuner_is_a_usage_error(tmp_path, capsys):
    argv = ["compare", "--tuners", "twostage,grdi", "--output", str(tmp_path)]
    assert main(argv) == 2
    assert "grdi" in capsys.readouterr().err


# ---------------------------------------------------------------------- #
# The parts, without training.
# ---------------------------------------------------------------------- #
def make_space():
    hps = kt.HyperParameters()
    hps.Int("units", 8, 64, step=8)
    hps.Float("learning_rate", 1e-4, 0.02, sampling="log")
    return hps


def drive(oracle, tmp_path, limit=5000):
    """Run an oracle to STOPPED with random scores; returns the trials."""
    oracle._set_project_dir(str(tmp_path), "p")
    rng = random.Random(0)
    trials = []
    for _ in range(limit):
        trial = oracle.create_trial("tuner0")
        if trial.status == trial_module.TrialStatus.STOPPED:
            return trials
        assert trial.status == trial_module.TrialStatus.RUNNING
        oracle.update_trial(trial.trial_id, {"score": rng.random()})
        trial.status = trial_module.TrialStatus.COMPLETED
        oracle.end_trial(trial)
        trials.append(trial)
    raise AssertionError("the oracle did not stop")


def trained_epochs(trial):
    values = trial.hyperparameters.values
    return values["tuner/epochs"] - values["tuner/initial_epoch"]


@pytest.mark.parametrize(
    "max_epochs, factor, iterations", [(2, 2, 1), (3, 3, 2), (9, 3, 1), (30, 4, 1)]
)
def test_hyperband_epochs_match_keras_tuner(tmp_path, max_epochs, factor, iterations):
    oracle = kt.oracles.HyperbandOracle(
        objective=kt.Objective("score", "max"),
        max_epochs=max_epochs,
        factor=factor,
        hyperband_iterations=iterations,
        hyperparameters=make_space(),
        seed=1,
    )
    trials = drive(oracle, tmp_path)
    expected = hyperband_epochs(max_epochs, factor, iterations)
    assert (sum(trained_epochs(t) for t in trials), len(trials)) == expected


@pytest.mark.parametrize("budget, max_epochs", [(349, 30), (19, 3), (6, 2), (5, 1)])
def test_plan_hyperband_reaches_the_budget(budget, max_epochs):
    plan = plan_hyperband(budget, max_epochs)
    assert plan["nominal_epochs"] >= budget
    assert (
        plan["nominal_epochs"]
        == hyperband_epochs(max_epochs, plan["factor"], plan["hyperband_iterations"])[0]
    )
    if plan["hyperband_iterations"] > 1:
        fewer = plan["hyperband_iterations"] - 1
        assert hyperband_epochs(max_epochs, plan["factor"], fewer)[0] < budget


def test_budget_hyperband_stops_within_one_trial(tmp_path):
    oracle = BudgetHyperbandOracle(
        objective=kt.Objective("score", "max"),
        max_epochs=9,
        factor=3,
        hyperband_iterations=3,
        hyperparameters=make_space(),
        seed=1,
        epoch_budget=40,
    )
    trials = drive(oracle, tmp_path)
    total = sum(trained_epochs(t) for t in trials)
    assert 40 <= total < 40 + 9
    assert total - trained_epochs(trials[-1]) < 40


def test_grid_oracle_runs_the_grid_in_order(tmp_path):
    grid = [{"units": u, "learning_rate": lr} for u in (8, 16) for lr in (1e-3, 1e-2)]
    oracle = GridOracle(grid, objective=kt.Objective("score", "max"))
    oracle.hyperparameters = make_space()
    trials = drive(oracle, tmp_path)
    assert [
        {k: t.hyperparameters.values[k] for k in ("units", "learning_rate")}
        for t in trials
    ] == grid


def test_log_grid():
    assert log_grid(0.001, 0.02, 1) == [0.02]
    values = log_grid(0.001, 0.02, 4)
    assert values[0] == pytest.approx(0.001) and values[-1] == pytest.approx(0.02)
    ratios = [b / a for a, b in zip(values, values[1:], strict=False)]
    assert ratios == pytest.approx([20 ** (1 / 3)] * 3, rel=1e-4)


def test_two_stage_incumbent_is_the_best_stage2_trial():
    rows = [
        {"stage": 1, "score": 0.9},
        {"stage": 1, "score": 0.7},
        {"stage": 2, "score": 0.8},
        {"stage": 2, "score": None},
    ]
    assert incumbent_score(rows[:2], "twostage", "max") == 0.9
    assert incumbent_score(rows, "twostage", "max") == 0.8
    assert incumbent_score(rows, "random", "max") == 0.9
    assert incumbent_score(rows, "random", "min") == 0.7


def test_summarize_counts_runs_reaching_the_grid():
    def run(tuner, seed, val, test, curve):
        rows = [{"cumulative_epochs": e, "best_so_far": s} for e, s in curve]
        return {
            "tuner": tuner,
            "seed": seed,
            "budget": 10,
            "epochs": curve[-1][0],
            "trials": len(curve),
            "wall_seconds": 1.0,
            "validation_score": val,
            "test_score": test,
            "trial_rows": rows,
        }

    runs = [
        run("grid", 0, 0.9, 0.85, [(5, 0.8), (10, 0.9)]),
        run("twostage", 0, 0.89, 0.86, [(2, 0.85), (4, 0.895)]),
        run("twostage", 1, 0.8, 0.8, [(2, 0.8)]),
    ]
    rows = compare.summarize(runs, {"direction": "max"}, reach_tolerance=0.01)
    two_stage = next(r for r in rows if r["tuner"] == "twostage")
    assert two_stage["runs_reaching_grid"] == 1
    assert two_stage["epochs_to_reach_grid"]["mean"] == 4
    assert two_stage["test_gap_to_grid"] == pytest.approx(0.83 - 0.85)
    assert math.isclose(two_stage["validation_score"]["max"], 0.89)


def test_seeds_sample_independent_values(tmp_path):
    """keras_tuner samples value k with `Random(seed + k)`: spaced seeds."""
    sampled = []
    for seed in range(3):
        oracle = kt.oracles.RandomSearchOracle(
            objective=kt.Objective("score", "max"),
            max_trials=20,
            hyperparameters=make_space(),
            seed=oracle_seed(seed),
        )
        trials = drive(oracle, tmp_path / str(seed))
        sampled.append({t.hyperparameters.values["learning_rate"] for t in trials})
    assert not sampled[0] & sampled[1]
    assert not sampled[0] & sampled[2]
    assert not sampled[1] & sampled[2]
    # The trap: seeds 1 and 3 as keras_tuner seeds share most values.
    shared = []
    for seed in (1, 3):
        oracle = kt.oracles.RandomSearchOracle(
            objective=kt.Objective("score", "max"),
            max_trials=20,
            hyperparameters=make_space(),
            seed=seed,
        )
        trials = drive(oracle, tmp_path / f"kt{seed}")
        shared.append({t.hyperparameters.values["learning_rate"] for t in trials})
    assert len(shared[0] & shared[1]) >= 15


@pytest.mark.heavy  # real training of both rules
def test_the_variant_runs_beside_the_reference_rule(tmp_path):
    """`--tuners twostage,twostage-compass`: the compass variant, with early
    stopping and reinvested epochs, within the same budget."""
    output = tmp_path / "out"
    argv = ["compare", "--profile", "tiny", "--seeds", "1", "--output", str(output)]
    assert main([*argv, "--tuners", "twostage,twostage-compass"]) == 0
    runs = {row["tuner"]: row for row in read_csv(output / "runs.csv")}
    assert set(runs) == {"twostage", "twostage-compass"}
    assert int(runs["twostage-compass"]["epochs"]) <= BUDGET
    trials = [
        row
        for row in read_csv(output / "trials.csv")
        if row["tuner"] == "twostage-compass" and row["stage"] == "2"
    ]
    # Stage 2 starts at the stage-1 learning rate.
    assert float(trials[0]["learning_rate"]) == TINY.stage1_learning_rate
    summary = (output / "summary.md").read_text()
    assert "TwoStageTuner (compass, early stop)" in summary
