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
    # TwoStageTuner records every trial's wall time (Keras Tuner does not).
    assert all(float(row["seconds"]) > 0 for row in rows)
    for name in ("stage1", "stage2"):
        data = (tmp_path / REPORT_FILES[name]).read_bytes()
        assert data.startswith(PNG_HEADER) and len(data) > 1000
    markdown = (tmp_path / REPORT_FILES["markdown"]).read_text()
    assert "## Stage 1 (architecture)" in markdown
    assert "## Stage 2 (learning rate)" in markdown
    assert "Durations are n/a" not in markdown
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
    assert table.chosen_row(rows, "max")["trial_id"] == "2"
    assert table.chosen_row(rows, "min")["trial_id"] == "1"
    assert table.chosen_row(rows[:1], "max")["trial_id"] == "0"
    assert table.chosen_row([], "max") is None


def copy_as_old_project(project_dir, copy):
    """A copy of the project as the first version wrote it: no durations in
    `tuner0.json`, no hyperparameter names in `oracle.json`."""
    import shutil

    shutil.copytree(project_dir, copy)
    tuner_state = json.loads((copy / "tuner0.json").read_text())
    tuner_state.pop("trial_seconds")
    (copy / "tuner0.json").write_text(json.dumps(tuner_state))
    oracle_state = json.loads((copy / "oracle.json").read_text())
    for key in ("units_hp", "learning_rate_hp"):
        oracle_state.pop(key)
    (copy / "oracle.json").write_text(json.dumps(oracle_state))
    return copy


def test_old_project_has_no_durations(project, tmp_path):
    copy = copy_as_old_project(project["dir"], tmp_path / "copy")
    result = report_project(copy, units_hp="width", learning_rate_hp="lr")
    assert all(row["seconds"] is None for row in result["rows"])
    assert "Durations are n/a" in result["markdown"]


def test_report_needs_no_names_on_a_new_project(project, tmp_path, capsys):
    assert main(["report", project["dir"], "--output", str(tmp_path)]) == 0
    assert (
        project["best"].trial_id
        == read_csv(tmp_path / REPORT_FILES["csv"])[int(project["best"].trial_id)][
            "trial_id"
        ]
    )


def test_cli_report_into_project_dir(project, capsys, tmp_path):
    copy = copy_as_old_project(project["dir"], tmp_path / "copy")
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
    # The hyperparameter names are "width" and "lr", not the defaults, and a
    # project of the first version did not record them.
    old = copy_as_old_project(project["dir"], tmp_path / "old")
    assert main(["report", str(old), "--output", str(tmp_path)]) == 1
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
    table.mark_roles(rows, 3, "max")
    assert [r["role"] for r in rows] == ["stage 1", "path", "path", "off-path"]
    assert table.chosen_row(rows, "max")["trial_id"] == "2"
