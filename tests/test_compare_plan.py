"""`ComparisonPlan` and the registry of baselines, without training."""

import dataclasses
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from kt_twostage import compare
from kt_twostage.compare import BASELINES, TUNERS, ComparisonPlan, workdir
from kt_twostage.compare import imdb as compare_imdb
from kt_twostage.imdb.settings import PROFILES

ROOT = Path(__file__).parents[1]
BENCHMARK = ROOT / "docs" / "benchmarks" / "compare_cpu" / "summary.json"


def make_plan(**changes):
    arguments = {
        "objective": "val_accuracy",
        "direction": "max",
        "units_hp": "units",
        "learning_rate_hp": "learning_rate",
        "units": (8, 16),
        "learning_rate_range": (0.001, 0.02),
        "stage1_epochs": 1,
        "stage2_epochs": 2,
        "stage2_trials": 2,
        "max_learning_rate": 0.02,
        "stage1_learning_rate": 0.001,
        "train_examples": 400,
        "validation_examples": 100,
        "test_examples": 500,
    }
    return ComparisonPlan(**{**arguments, **changes})


# No runs: the plots have no curves to label.
@pytest.mark.filterwarnings("ignore:No artists with labels")
def test_the_benchmark_work_folder_is_still_accepted(tmp_path, monkeypatch):
    """The cpu benchmark's settings (docs/benchmarks/compare_cpu), made again
    from its command, are the ones its work folder holds: its runs are reused."""
    saved = json.loads(BENCHMARK.read_text())["settings"]
    reviews = np.zeros((25000, 4), dtype="int32")
    labels = np.zeros(25000, dtype="int32")
    data = types.SimpleNamespace(
        x_train=reviews, y_train=labels, x_test=reviews, y_test=labels
    )
    monkeypatch.setattr(compare_imdb, "load_imdb", lambda *args, **kwargs: data)
    work = tmp_path / "work"
    work.mkdir()
    (work / workdir.SETTINGS_FILE).write_text(json.dumps(saved))
    settings = dataclasses.replace(PROFILES["cpu"], data=saved["problem"]["data"])
    summary = compare_imdb.run_imdb_compare(
        settings,
        tmp_path / "out",
        seeds=3,
        stage2_patience=1,
        work_dir=work,
        run_missing=False,
        log=lambda line: None,
    )
    assert summary["settings"] == saved
    assert json.loads((work / workdir.SETTINGS_FILE).read_text()) == saved


def test_plan_settings_and_runs():
    plan = make_plan(seeds=(0, 1), stage2_patience=1)
    settings = plan.to_dict()
    assert settings["budget_epochs"] == 2 * 1 + 2 * 2
    assert settings["random_bayesian_trials"] == 3
    assert settings["bayesian_initial_points"] == 1
    assert settings["grid_trials"] == 2 * 5
    assert settings["grid_epochs"] == 2 * 5 * 2
    assert settings["units"] == [8, 16]  # as JSON reads it back
    assert plan.runs() == [
        ("twostage", 0),
        ("twostage-patience1", 0),
        ("random", 0),
        ("bayesian", 0),
        ("hyperband", 0),
        ("twostage", 1),
        ("twostage-patience1", 1),
        ("random", 1),
        ("bayesian", 1),
        ("hyperband", 1),
        ("grid", 0),
    ]
    assert plan.budget_of("grid") == 20 and plan.budget_of("random") == 6
    assert plan.grid()[0] == {"units": 8, "learning_rate": 0.001}
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.stage2_trials = 3


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"tuners": ("twostage", "grdi")}, r"Unknown tuners \['grdi'\]"),
        ({"tuners": ()}, "Unknown tuners"),
        ({"seeds": ()}, "at least one seed"),
        ({"seeds": (0, -1)}, "`seeds`, expected a sequence of non-negative"),
        ({"grid_seeds": (1.5,)}, "`grid_seeds`"),
        ({"stage2_patience": 0}, "`stage2_patience`, expected a positive integer"),
        ({"stage2_epochs": 0}, "`stage2_epochs`, expected a positive integer"),
        ({"batch_size": True}, "`batch_size`"),
        ({"grid_learning_rate_count": 0}, "`grid_learning_rate_count`"),
        ({"max_learning_rate": -1.0}, "`max_learning_rate`, expected a positive"),
        ({"stage1_learning_rate": 0.05}, "expected at most `max_learning_rate`"),
        ({"direction": "up"}, "`direction`"),
        ({"units": ()}, "`units`, expected at least one"),
        ({"learning_rate_range": (0.02, 0.001)}, "`learning_rate_range`"),
        ({"problem": None}, "`problem`"),
        ({"objective": ""}, "`objective`, expected a non-empty string"),
    ],
)
def test_bad_plans_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        make_plan(**changes)


def test_every_baseline_is_one_registry_entry():
    assert TUNERS == tuple(BASELINES)
    assert [name for name, b in BASELINES.items() if b.reference] == ["grid"]
    for baseline in BASELINES.values():
        assert baseline.label and callable(baseline.build)


def test_changed_settings_ignore_additive_ones():
    plan = make_plan(stage2_patience=2)
    saved = make_plan().to_dict()
    assert workdir.changed_settings(saved, plan.to_dict()) == []
    assert workdir.changed_settings(saved, make_plan(batch_size=64).to_dict()) == [
        "batch_size"
    ]


def test_every_public_name_is_importable():
    for name in compare.__all__:
        assert getattr(compare, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        compare.Nope  # noqa: B018


def test_plan_and_registry_load_no_tensorflow():
    code = (
        "from kt_twostage.compare import BASELINES, ComparisonPlan, TUNERS\n"
        "import kt_twostage.compare.budget, sys\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_tuner') "
        "if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip().splitlines()[-1] == "[]"


def test_min_learning_rate_sets_the_range_every_tuner_searches():
    narrow = PROFILES["cpu"]
    assert compare_imdb._hypermodel(narrow).min_learning_rate == 0.001
    wide = dataclasses.replace(narrow, min_learning_rate=7.8125e-5)
    assert compare_imdb._hypermodel(wide).min_learning_rate == 7.8125e-5
    # Recorded only when set, so older work folders keep matching.
    assert "min_learning_rate" not in compare_imdb._recorded_settings(narrow)
    assert compare_imdb._recorded_settings(wide)["min_learning_rate"] == 7.8125e-5
