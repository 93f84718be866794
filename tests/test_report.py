"""`kt-twostage report` and `kt_twostage.report` on a small real project."""

import csv
import json

import keras
import numpy as np
import pytest

from kt_twostage import TwoStageTuner
from kt_twostage.cli import main
from kt_twostage.results import trial_table as table
from kt_twostage.results.report import REPORT_FILES, report_project

PNG_HEADER = b"\x89PNG\r\n\x1a\n"


def build_model(hp):
    units = hp.Int("width", 2, 4, step=2)
    model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(
            hp.Float("lr", 1e-4, 0.05, sampling="log", default=0.01)
        ),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A finished two-stage search: 2 stage-1 and 3 stage-2 trials."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    tuner = TwoStageTuner(
        build_model,
        units_hp="width",
        learning_rate_hp="lr",
        stage1_epochs=1,
        stage2_epochs=2,
        stage2_trials=3,
        seed=1,
        directory=str(tmp_path_factory.mktemp("report")),
        project_name="tiny",
    )
    tuner.search(x, y, validation_split=0.25, verbose=0)
    best = tuner.oracle.get_best_trials(1)[0]
    return {"dir": tuner.project_dir, "best": best}


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_report_writes_table_and_plots(project, tmp_path):
    result = report_project(
        project["dir"], tmp_path, units_hp="width", learning_rate_hp="lr"
    )
    rows = read_csv(tmp_path / REPORT_FILES["csv"])
    assert list(rows[0]) == list(table.PROJECT_COLUMNS)
    assert [row["stage"] for row in rows] == ["1", "1", "2", "2", "2"]
    assert [row["units"] for row in rows[:2]] == ["2", "4"]
    assert [row["epochs"] for row in rows] == ["1", "1", "2", "2", "2"]
    assert all(row["status"] == "COMPLETED" for row in rows)
    # Keras Tuner records no durations: empty cells, "n/a" in the report.
    assert all(row["seconds"] == "" for row in rows)
    for name in ("stage1", "stage2"):
        data = (tmp_path / REPORT_FILES[name]).read_bytes()
        assert data.startswith(PNG_HEADER) and len(data) > 1000
    markdown = (tmp_path / REPORT_FILES["markdown"]).read_text()
    assert "## Stage 1 (architecture)" in markdown
    assert "## Stage 2 (learning rate)" in markdown
    assert "Durations are n/a" in markdown
    best = project["best"]
    assert result["chosen"]["trial_id"] == best.trial_id
    assert f"Trial {best.trial_id} (the best stage-2 trial" in markdown


def test_chosen_is_the_first_best_stage2_trial():
    rows = [
        {"trial_id": "0", "stage": 1, "score": 0.99, "status": "COMPLETED"},
        {"trial_id": "1", "stage": 2, "score": 0.8, "status": "COMPLETED"},
        {"trial_id": "2", "stage": 2, "score": 0.9, "status": "COMPLETED"},
        {"trial_id": "3", "stage": 2, "score": 0.9, "status": "COMPLETED"},
        {"trial_id": "4", "stage": 2, "score": None, "status": "FAILED"},
    ]
    assert table.choose_two_stage(rows, "max")["trial_id"] == "2"
    assert table.choose_two_stage(rows, "min")["trial_id"] == "1"
    assert table.choose_two_stage(rows[:1], "max")["trial_id"] == "0"
    assert table.choose_two_stage([], "max") is None


def test_cli_report_into_project_dir(project, capsys, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(project["dir"], copy)
    # Durations recorded by `kt-twostage compare` are shown when present.
    (copy / table.TIMINGS_FILE).write_text(
        json.dumps({"0": {"seconds": 1.5, "epochs": 1}})
    )
    argv = ["report", str(copy), "--units-hp", "width", "--lr-hp", "lr"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "## Chosen configuration" in out
    assert "| trial | units | learning rate |" in out
    rows = read_csv(copy / REPORT_FILES["csv"])
    assert rows[0]["seconds"] == "1.5" and rows[1]["seconds"] == ""
    assert (copy / REPORT_FILES["stage1"]).exists()


def test_cli_report_errors(project, tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    assert "not a Keras Tuner project folder" in capsys.readouterr().err
    # The hyperparameter names are "width" and "lr", not the defaults.
    assert main(["report", project["dir"], "--output", str(tmp_path)]) == 1
    assert "Pass the right name with --units-hp" in capsys.readouterr().err


def test_off_path_speculative_trials_are_marked_and_never_chosen():
    def row(trial_id, stage, branch, score):
        return {
            "trial_id": trial_id,
            "stage": stage,
            "units": 8,
            "learning_rate": 0.02,
            "score": score,
            "status": "COMPLETED",
            "role": "stage 1",
            "branch": branch,
        }

    # The first stage-2 trial ("") counts as improved, so the path goes on
    # with "H" (halve); "B" was trained speculatively and scored best.
    rows = [row("0", 1, None, 0.7), row("1", 2, "", 0.8)]
    rows += [row("2", 2, "H", 0.9), row("3", 2, "B", 0.95)]
    table._mark_stage2_roles(rows, {"stage2_trials": 3}, "max")
    assert [r["role"] for r in rows] == ["stage 1", "path", "path", "off-path"]
    assert table.choose_two_stage(rows, "max")["trial_id"] == "2"
