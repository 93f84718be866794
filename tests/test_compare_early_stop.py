"""`random-es` and `twostage-scout-s1e2` in `kt-twostage compare`: the
early-stopped RandomSearch (`BudgetRandomSearchOracle`) and the recommended
two-stage variant, on a tiny real model."""

import csv
import json
import types

import keras
import keras_tuner as kt
import pytest
import tiny_model
from keras_tuner.engine import trial as trial_module

from kt_twostage.cli import compare as compare_cli
from kt_twostage.compare import baselines, compare_tuners
from kt_twostage.compare.tuners import BudgetRandomSearchOracle
from kt_twostage.replay import tuners as replay_tuners
from kt_twostage.schedule.compass import RECOMMENDED_VARIANT, VARIANT_PATIENCE

RUNNING = trial_module.TrialStatus.RUNNING
IDLE = trial_module.TrialStatus.IDLE
STOPPED = trial_module.TrialStatus.STOPPED
NEW = (baselines.SCOUT_S1E2, baselines.RANDOM_EARLY_STOPPING)


# ---------------------------------------------------------------------- #
# The registry and the oracle, without training.
# ---------------------------------------------------------------------- #
def test_new_tuners_are_registered_but_not_run_by_default():
    for name in NEW:
        assert name in baselines.TUNERS
        assert name not in baselines.DEFAULT_TUNERS
    assert baselines.COMPASS not in baselines.DEFAULT_TUNERS
    assert baselines.is_two_stage(baselines.SCOUT_S1E2)
    assert not baselines.is_two_stage(baselines.RANDOM_EARLY_STOPPING)
    assert baselines.label("random-es") == "RandomSearch (early stop)"
    # The command line accepts them, as `twostage-compass`.
    args = types.SimpleNamespace(tuners="twostage-scout-s1e2,random-es")
    assert compare_cli.tuners_from_args(args) == list(NEW)


def test_scout_s1e2_runs_the_replays_recommended_variant():
    from kt_twostage.replay.settings import ReplaySettings, SearchSpace

    space = SearchSpace((8, 16), 1e-4, 0.02, 0.001)
    settings = ReplaySettings(1, 4, 3, 0.001, 0.02)
    factory = replay_tuners.TUNERS[replay_tuners.RECOMMENDED]
    oracle = factory(space, 20, 1_000_000, settings)
    for option, value in RECOMMENDED_VARIANT.items():
        assert getattr(oracle, option) == value
    assert RECOMMENDED_VARIANT["stage1_epochs"] == 2
    assert RECOMMENDED_VARIANT["stage2_rule"] == "scout"
    assert RECOMMENDED_VARIANT["stage2_patience"] == VARIANT_PATIENCE == 2
    assert RECOMMENDED_VARIANT["reinvest_stopped_epochs"] is True


def make_oracle(tmp_path, budget, trial_epochs):
    hps = kt.HyperParameters()
    hps.Int("units", 8, 64, step=8)
    hps.Float("learning_rate", 1e-4, 0.02, sampling="log")
    oracle = BudgetRandomSearchOracle(
        objective=kt.Objective("score", "max"),
        max_trials=budget + 1,
        hyperparameters=hps,
        seed=1,
        epoch_budget=budget,
        trial_epochs=trial_epochs,
    )
    oracle._set_project_dir(str(tmp_path), "p")
    return oracle


def end(oracle, trial, epochs, score=0.5):
    oracle.record_trained_epochs(trial.trial_id, epochs)
    oracle.update_trial(trial.trial_id, {"score": score})
    trial.status = trial_module.TrialStatus.COMPLETED
    oracle.end_trial(trial)


@pytest.mark.parametrize("trained, expected", [(6, 3), (3, 5), (1, 15)])
def test_budget_random_search_spends_saved_epochs(tmp_path, trained, expected):
    """Budget 20, trials of up to 6 epochs: trials while a whole one fits."""
    oracle = make_oracle(tmp_path, budget=20, trial_epochs=6)
    count = 0
    while (trial := oracle.create_trial("tuner0")).status == RUNNING:
        end(oracle, trial, trained)
        count += 1
    assert trial.status == STOPPED
    assert count == expected
    assert oracle.committed_epochs() == trained * expected <= 20
    assert oracle.committed_epochs() + 6 > 20


def test_budget_random_search_counts_a_running_trial_whole(tmp_path):
    oracle = make_oracle(tmp_path, budget=12, trial_epochs=6)
    first = oracle.create_trial("tuner0")
    second = oracle.create_trial("tuner1")
    assert (first.status, second.status) == (RUNNING, RUNNING)
    assert oracle.committed_epochs() == 12
    # Both running trials fill the budget: wait, they may stop early.
    assert oracle.create_trial("tuner2").status == IDLE
    end(oracle, first, 2)
    assert oracle.committed_epochs() == 8
    assert oracle.create_trial("tuner2").status == IDLE
    end(oracle, second, 2)
    third = oracle.create_trial("tuner2")
    assert third.status == RUNNING
    end(oracle, third, 6)
    # 10 trained: no whole trial fits and none runs.
    assert oracle.create_trial("tuner0").status == STOPPED


def test_budget_random_search_state_round_trips(tmp_path):
    oracle = make_oracle(tmp_path, budget=20, trial_epochs=6)
    end(oracle, oracle.create_trial("tuner0"), 3)
    reloaded = make_oracle(tmp_path / "other", budget=1, trial_epochs=1)
    reloaded.set_state(oracle.get_state())
    assert (reloaded.epoch_budget, reloaded.trial_epochs) == (20, 6)
    assert reloaded.trained_epochs == oracle.trained_epochs


# ---------------------------------------------------------------------- #
# A real comparison on the tiny model.
# ---------------------------------------------------------------------- #
STAGE1_EPOCHS, STAGE2_EPOCHS, STAGE2_TRIALS = 1, 6, 3
WIDTHS = (2, 4)
BUDGET = len(WIDTHS) * STAGE1_EPOCHS + STAGE2_TRIALS * STAGE2_EPOCHS  # 20


def frozen_model(hp):
    """The tiny model trained with a learning rate of 0: its validation
    accuracy never improves after the first epoch, so `EarlyStopping
    (patience=2)` stops every trial after 3 epochs."""
    hp.Float("lr", 1e-4, 0.05, sampling="log", default=0.01)
    return tiny_model.build_model(
        hp, widths=WIDTHS, optimizer=lambda rate: keras.optimizers.SGD(0.0)
    )


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def frozen_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("compare_es") / "out"
    x, y = tiny_model.tiny_data(96)
    summary = compare_tuners(
        frozen_model,
        (x[:48], y[:48]),
        (x[48:72], y[48:72]),
        (x[72:], y[72:]),
        output,
        stage1_epochs=STAGE1_EPOCHS,
        stage2_epochs=STAGE2_EPOCHS,
        stage2_trials=STAGE2_TRIALS,
        units_hp="width",
        learning_rate_hp="lr",
        seeds=(0,),
        tuners=("random", "random-es", "twostage-scout-s1e2"),
        batch_size=16,
        log=lambda line: None,
    )
    runs = {row["tuner"]: row for row in read_csv(output / "runs.csv")}
    trials = read_csv(output / "trials.csv")
    return {"summary": summary, "runs": runs, "trials": trials, "output": output}


def trials_of(run, name):
    return [row for row in run["trials"] if row["tuner"] == name]


@pytest.mark.filterwarnings("ignore")
def test_random_es_stops_early_and_runs_more_trials(frozen_run):
    plain = trials_of(frozen_run, "random")
    early = trials_of(frozen_run, "random-es")
    assert [int(t["epochs"]) for t in plain] == [STAGE2_EPOCHS] * 3
    # First epoch the best, then 2 without improvement: 3 epochs each; the
    # saved epochs buy trials while a whole 6-epoch trial fits in 20.
    assert [int(t["epochs"]) for t in early] == [3] * 5
    assert int(early[-1]["cumulative_epochs"]) == 15 <= BUDGET
    runs = frozen_run["runs"]
    assert int(runs["random-es"]["epochs"]) == 15
    assert int(runs["random-es"]["trials"]) == 5
    assert int(runs["random-es"]["budget"]) == BUDGET
    # Its trials sample new values, as RandomSearch's do.
    values = {(t["units"], t["learning_rate"]) for t in early}
    assert len(values) == len(early)


@pytest.mark.filterwarnings("ignore")
def test_random_es_outcome_is_read_like_the_others(frozen_run):
    runs = frozen_run["runs"]
    for name in ("random", "random-es", "twostage-scout-s1e2"):
        row = runs[name]
        assert 0.0 <= float(row["validation_score"]) <= 1.0
        assert 0.0 <= float(row["test_score"]) <= 1.0
        assert int(row["epochs"]) <= BUDGET
    early = trials_of(frozen_run, "random-es")
    assert all(t["status"] == "COMPLETED" for t in early)
    best = max(float(t["score"]) for t in early)
    assert float(runs["random-es"]["validation_score"]) == pytest.approx(best)
    assert float(early[-1]["best_so_far"]) == pytest.approx(best)
    summary = json.loads((frozen_run["output"] / "summary.json").read_text())
    labels = [row["tuner"] for row in summary["summary"]]
    assert "RandomSearch (early stop)" in labels or "random-es" in labels
    markdown = (frozen_run["output"] / "summary.md").read_text()
    assert "RandomSearch (early stop)" in markdown


@pytest.mark.filterwarnings("ignore")
def test_scout_s1e2_trains_two_epochs_per_width_in_stage1(frozen_run):
    trials = trials_of(frozen_run, "twostage-scout-s1e2")
    stage1 = [t for t in trials if t["stage"] == "1"]
    stage2 = [t for t in trials if t["stage"] == "2"]
    assert sorted(int(t["units"]) for t in stage1) == list(WIDTHS)
    assert [int(t["epochs"]) for t in stage1] == [2, 2]
    # Stage 2 gets what the budget leaves after 4 stage-1 epochs: 2 trials
    # of 6 (12 epochs), early-stopped at 3 epochs and reinvested while a
    # whole 6-epoch trial fits: 3 trials.
    assert [int(t["epochs"]) for t in stage2] == [3] * 3
    assert int(frozen_run["runs"]["twostage-scout-s1e2"]["epochs"]) == 13 <= BUDGET
    markdown = (frozen_run["output"] / "summary.md").read_text()
    assert baselines.label("twostage-scout-s1e2") in markdown
