"""TwoStageOracle driven through create_trial / update_trial / end_trial."""

import json
import os

import keras_tuner as kt
import pytest
from oracle_driver import (
    IDLE,
    RUNNING,
    STOPPED,
    describe,
    finish,
    fresh_reload,
    make_oracle,
    make_space,
    run_to_end,
    score_from_values,
)

from kt_twostage import TwoStageOracle


def test_full_schedule_sequence(tmp_path):
    oracle = make_oracle(tmp_path)
    ran = run_to_end(oracle, score_from_values)
    assert ran[:3] == [(1, 10, 0.001, 1), (1, 20, 0.001, 1), (1, 30, 0.001, 1)]
    assert [r[1] for r in ran[3:]] == [20] * 4
    assert [r[3] for r in ran[3:]] == [30] * 4
    # Scores rise toward lr 0.004: 0.02 -> 0.01 -> 0.005 -> 0.0025.
    assert [r[2] for r in ran[3:]] == [0.02, 0.01, 0.005, 0.0025]
    best = oracle.get_best_trials(1)[0].hyperparameters.values
    assert (best["units"], best["learning_rate"]) == (20, 0.005)


def test_other_hyperparameters_stay_at_default(tmp_path):
    oracle = make_oracle(tmp_path)
    trial = oracle.create_trial("tuner0")
    assert trial.hyperparameters.values["dropout"] == 0.0


def test_max_trials_is_the_schedule_length_and_ids_are_padded(tmp_path):
    space = make_space(units=(10, 190, 10))
    oracle = make_oracle(tmp_path, hyperparameters=space, stage2_trials=11)
    trial = oracle.create_trial("tuner0")
    assert oracle.max_trials == 30
    assert trial.trial_id == "00"


def test_custom_names(tmp_path):
    space = kt.HyperParameters()
    space.Choice("width", [64, 16, 32])
    space.Float("lr", 1e-4, 0.1, default=0.01)
    oracle = make_oracle(
        tmp_path,
        hyperparameters=space,
        units_hp="width",
        learning_rate_hp="lr",
        stage2_trials=2,
    )
    seen = []
    for _ in range(5):
        trial = oracle.create_trial("tuner0")
        values = trial.hyperparameters.values
        seen.append((values["tuner/stage"], values["width"], values["lr"]))
        finish(oracle, trial, {64: 0.5, 16: 0.7, 32: 0.6}[values["width"]])
    assert seen == [
        (1, 64, 0.01),
        (1, 16, 0.01),
        (1, 32, 0.01),
        (2, 16, 0.1),
        (2, 16, 0.05),
    ]
    assert oracle.create_trial("tuner0").status == STOPPED


def test_explicit_learning_rates_override_the_space(tmp_path):
    oracle = make_oracle(tmp_path, max_learning_rate=0.008, stage1_learning_rate=0.002)
    ran = run_to_end(oracle, lambda v: 0.5)
    assert {r[2] for r in ran[:3]} == {0.002}
    assert ran[3][2] == 0.008


def test_loss_objective_minimizes(tmp_path):
    oracle = make_oracle(tmp_path, direction="min")
    ran = run_to_end(oracle, lambda v: {10: 0.3, 20: 0.5, 30: 0.4}[v["units"]])
    assert ran[3][1] == 10


def test_best_is_stage2_even_if_stage1_scored_higher(tmp_path):
    oracle = make_oracle(tmp_path)
    run_to_end(oracle, lambda v: 0.99 if v["tuner/stage"] == 1 else 0.5)
    best = oracle.get_best_trials(1)[0]
    assert best.hyperparameters.values["tuner/stage"] == 2
    # All stage-2 scores tie: the first wins.
    assert best.hyperparameters.values["learning_rate"] == 0.02


def test_failed_trials_in_both_stages(tmp_path):
    oracle = make_oracle(tmp_path, max_consecutive_failed_trials=10)
    stage2_scores = iter([0.8, None, 0.7, 0.9])

    def score(values):
        if values["tuner/stage"] == 1:
            return {10: None, 20: 0.6, 30: 0.5}[values["units"]]
        return next(stage2_scores)

    ran = run_to_end(oracle, score)
    assert [r[1] for r in ran[3:]] == [20] * 4
    assert [r[2] for r in ran[3:]] == [0.02, 0.01, 0.005, 0.0125]
    statuses = [t.status for t in oracle.trials.values()]
    assert statuses.count("FAILED") == 2
    best = oracle.get_best_trials(1)[0].hyperparameters.values
    assert best["learning_rate"] == 0.0125


def test_nan_score_fails_the_trial_and_halves(tmp_path):
    oracle = make_oracle(tmp_path)
    stage2_scores = iter([0.8, float("nan"), 0.7, 0.9])
    ran = run_to_end(
        oracle, lambda v: 0.5 if v["tuner/stage"] == 1 else next(stage2_scores)
    )
    assert [r[2] for r in ran[3:]] == [0.02, 0.01, 0.005, 0.0125]
    chosen = oracle.get_best_trials(1)[0]
    assert chosen.hyperparameters.values["learning_rate"] == 0.0125


def test_every_stage1_trial_failed_stops_with_an_error(tmp_path):
    oracle = make_oracle(tmp_path, max_consecutive_failed_trials=10)
    for _ in range(3):
        finish(oracle, oracle.create_trial("tuner0"), None)
    with pytest.raises(RuntimeError, match="Every stage-1 trial failed"):
        oracle.create_trial("tuner0")


def test_idle_while_stage1_runs_on_other_tuners(tmp_path):
    oracle = make_oracle(tmp_path)
    running = [oracle.create_trial(f"tuner{i}") for i in range(3)]
    assert [describe(t)[1] for t in running] == [10, 20, 30]
    assert oracle.create_trial("tuner3").status == IDLE
    finish(oracle, running[0], 0.5)
    finish(oracle, running[1], 0.6)
    assert oracle.create_trial("tuner3").status == IDLE
    finish(oracle, running[2], 0.4)
    trial = oracle.create_trial("tuner3")
    assert describe(trial)[:2] == (2, 20)
    # Stage 2 is sequential: the other tuners wait.
    assert oracle.create_trial("tuner0").status == IDLE


def test_stopped_repeated_to_every_tuner(tmp_path):
    oracle = make_oracle(tmp_path)
    run_to_end(oracle, score_from_values)
    for _ in range(3):
        for tuner_id in ("tuner0", "tuner1", "tuner2"):
            assert oracle.create_trial(tuner_id).status == STOPPED


def test_bookkeeping_keys_do_not_count_for_duplicates(tmp_path):
    oracle = make_oracle(tmp_path)
    a = oracle._compute_values_hash({"units": 1, "tuner/epochs": 1})
    b = oracle._compute_values_hash({"units": 1, "tuner/epochs": 30})
    assert a == b


def test_trial_values_are_plain_python(tmp_path):
    space = kt.HyperParameters()
    space.Choice("units", [8, 16])
    space.Float("learning_rate", 1e-4, 0.1, default=0.01)
    oracle = make_oracle(tmp_path, hyperparameters=space)
    values = oracle.create_trial("tuner0").hyperparameters.values
    for key in ("units", "learning_rate", "tuner/stage", "tuner/epochs"):
        assert type(values[key]) in (int, float), key


def test_state_round_trips_through_json(tmp_path):
    oracle = make_oracle(tmp_path)
    for _ in range(4):
        finish(oracle, oracle.create_trial("tuner0"), 0.5)
    oracle.create_trial("tuner0")
    state = json.loads(json.dumps(oracle.get_state()))
    other = make_oracle(tmp_path)
    other.trials = oracle.trials
    other.set_state(state)
    # `tried_so_far` is a set, listed in hash order.
    mine, theirs = oracle.get_state(), other.get_state()
    assert set(mine.pop("tried_so_far")) == set(theirs.pop("tried_so_far"))
    assert theirs == mine
    assert other.schedule == oracle.schedule


# --------------------------------------------------------------------------- #
# Save and reload at every point of the schedule.
# --------------------------------------------------------------------------- #
def reference_run(tmp_path):
    return run_to_end(make_oracle(tmp_path / "reference"), score_from_values)


@pytest.mark.parametrize("ended_trials", range(8))
@pytest.mark.parametrize("mid_trial", [False, True])
def test_reload_at_every_point_continues_identically(tmp_path, ended_trials, mid_trial):
    expected = reference_run(tmp_path)
    oracle = make_oracle(tmp_path)
    ran = []
    for _ in range(ended_trials):
        trial = oracle.create_trial("tuner0")
        if trial.status == STOPPED:
            break
        ran.append(describe(trial))
        finish(oracle, trial, score_from_values(trial.hyperparameters.values))
    interrupted = None
    if mid_trial:
        interrupted = oracle.create_trial("tuner0")
    oracle.save()  # what `Tuner.save` writes after each trial

    resumed = fresh_reload(tmp_path)
    if interrupted is not None and interrupted.status == RUNNING:
        retried = resumed.create_trial("tuner0")
        assert retried.trial_id == interrupted.trial_id
        assert describe(retried) == describe(interrupted)
        ran.append(describe(retried))
        finish(resumed, retried, score_from_values(retried.hyperparameters.values))
    ran += run_to_end(resumed, score_from_values)
    assert ran == expected
    assert len(resumed.trials) == len(expected)


def test_reload_right_after_end_trial_saved_does_not_rerun(tmp_path):
    oracle = make_oracle(tmp_path)
    trial = oracle.create_trial("tuner0")

    # Die inside the base `end_trial`: after it saved, before it dropped the
    # trial from the running ones.
    def die(_trial):
        raise KeyboardInterrupt

    oracle._display.on_trial_end = die
    with pytest.raises(KeyboardInterrupt):
        finish(oracle, trial, 0.5)

    resumed = fresh_reload(tmp_path)
    nxt = resumed.create_trial("tuner0")
    assert nxt.trial_id != trial.trial_id
    assert describe(nxt)[1] == 20


def test_reload_when_trial_file_written_but_oracle_not(tmp_path):
    oracle = make_oracle(tmp_path)
    trial = oracle.create_trial("tuner0")
    save = oracle.save

    def die():
        raise KeyboardInterrupt

    oracle.save = die
    with pytest.raises(KeyboardInterrupt):
        finish(oracle, trial, 0.5)
    del save

    resumed = fresh_reload(tmp_path)
    nxt = resumed.create_trial("tuner0")
    assert describe(nxt)[1] == 20
    assert resumed.trials[trial.trial_id].score == 0.5


def test_reload_when_a_trial_started_but_oracle_not_saved(tmp_path):
    oracle = make_oracle(tmp_path)
    finish(oracle, oracle.create_trial("tuner0"), 0.5)
    oracle.save = lambda: (_ for _ in ()).throw(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        oracle.create_trial("tuner0")  # trial file written, oracle.json not

    resumed = fresh_reload(tmp_path)
    ran = run_to_end(resumed, score_from_values)
    assert ran[0] == (1, 20, 0.001, 1)  # the interrupted trial, run again
    assert len(ran) == 6
    assert len(resumed.trials) == 7


def test_corrupt_oracle_file_is_an_error_naming_it(tmp_path):
    oracle = make_oracle(tmp_path)
    finish(oracle, oracle.create_trial("tuner0"), 0.5)
    path = os.path.join(tmp_path, "project", "oracle.json")
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write(text[: len(text) // 2])
    with pytest.raises(RuntimeError, match="oracle.json.*overwrite=True"):
        fresh_reload(tmp_path)
    with open(path) as handle:
        assert handle.read() == text[: len(text) // 2]  # nothing overwritten


def test_corrupt_trial_file_is_an_error_naming_it(tmp_path):
    oracle = make_oracle(tmp_path)
    trial = oracle.create_trial("tuner0")
    finish(oracle, trial, 0.5)
    path = os.path.join(tmp_path, "project", f"trial_{trial.trial_id}", "trial.json")
    with open(path, "w") as handle:
        handle.write('{"trial_id": ')
    with pytest.raises(RuntimeError, match="trial.json.*project_name"):
        fresh_reload(tmp_path)


# --------------------------------------------------------------------------- #
# Bad arguments and bad search spaces.
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"stage1_epochs": 0}, "`stage1_epochs`, expected a positive integer, got 0"),
        ({"stage2_epochs": 2.5}, "`stage2_epochs`, expected a positive integer"),
        ({"stage2_trials": -1}, "`stage2_trials`, expected a positive integer"),
        ({"stage2_trials": True}, "`stage2_trials`, expected a positive integer"),
        ({"max_learning_rate": 0}, "`max_learning_rate`, expected a positive"),
        ({"max_learning_rate": "0.1"}, "`max_learning_rate`, expected a positive"),
        ({"stage1_learning_rate": -1e-3}, "`stage1_learning_rate`, expected a"),
        (
            {"stage1_learning_rate": 0.1, "max_learning_rate": 0.01},
            "`stage1_learning_rate`, expected at most `max_learning_rate`",
        ),
        ({"units_hp": ""}, "`units_hp`, expected the name of a hyperparameter"),
        ({"learning_rate_hp": 3}, "`learning_rate_hp`, expected the name"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TwoStageOracle(**kwargs)


def _space(declare):
    hps = kt.HyperParameters()
    declare(hps)
    return hps


@pytest.mark.parametrize(
    "declare, message",
    [
        (
            lambda hp: hp.Float("learning_rate", 1e-4, 0.1),
            "no hyperparameter named `units`.*`Int` or a `Choice`",
        ),
        (
            lambda hp: (hp.Float("units", 1, 2), hp.Float("learning_rate", 1e-4, 1)),
            "`units`.*is a `Float`.*must be an `Int`",
        ),
        (
            lambda hp: hp.Int("units", 1, 4),
            "no hyperparameter named `learning_rate`",
        ),
        (
            lambda hp: (hp.Int("units", 1, 4), hp.Choice("learning_rate", [0.1])),
            "`learning_rate`.*is a `Choice`.*must be a `Float`",
        ),
        (
            lambda hp: (
                (
                    hp.Int("units", 1, 4),
                    hp.Float("learning_rate", 1e-4, 0.01, default=0.005),
                    hp.Fixed("unused", 0),
                )
                and None
            ),
            None,
        ),
    ],
)
def test_bad_search_space(tmp_path, declare, message):
    if message is None:
        oracle = make_oracle(tmp_path, hyperparameters=_space(declare))
        assert oracle.create_trial("tuner0").status == RUNNING
        return
    # Refused as soon as the space is known: here, when the oracle is made.
    with pytest.raises(ValueError, match=message):
        oracle = make_oracle(tmp_path, hyperparameters=_space(declare))
        oracle.create_trial("tuner0")


def test_space_with_stage1_rate_above_max(tmp_path):
    space = _space(
        lambda hp: (
            hp.Int("units", 1, 2),
            hp.Float("learning_rate", 0.001, 0.01, default=0.01),
        )
    )
    with pytest.raises(ValueError, match="expected at most `max_learning_rate`"):
        oracle = make_oracle(
            tmp_path,
            hyperparameters=space,
            stage1_learning_rate=None,
            max_learning_rate=0.005,
        )
        oracle.create_trial("tuner0")


# --------------------------------------------------------------------------- #
# Resuming with other settings.
# --------------------------------------------------------------------------- #
def _started_project(tmp_path, **kwargs):
    oracle = make_oracle(tmp_path, **kwargs)
    for _ in range(2):
        finish(oracle, oracle.create_trial("tuner0"), 0.5)
    oracle.save()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"stage2_epochs": 10}, "stage2_epochs: project has 30, now 10"),
        ({"stage1_epochs": 2}, "stage1_epochs: project has 1, now 2"),
        ({"stage2_trials": 3}, "stage2_trials: project has 4, now 3"),
        ({"max_learning_rate": 0.01}, "max_learning_rate: project has 0.02, now 0.01"),
        ({"direction": "min"}, "direction: project has 'max', now 'min'"),
        (
            {"hyperparameters": make_space(units=(10, 40, 10))},
            r"units_grid: project has \(10, 20, 30\), now \(10, 20, 30, 40\)",
        ),
    ],
)
def test_resume_with_other_settings_lists_the_differences(tmp_path, changes, message):
    _started_project(tmp_path)
    space = changes.pop("hyperparameters", None)
    resumed = fresh_reload(tmp_path, **changes)
    with pytest.raises(ValueError, match=message + ".*overwrite=True"):
        resumed.check_resumed_settings(space)


def test_resume_with_another_objective_is_refused(tmp_path):
    _started_project(tmp_path)
    resumed = TwoStageOracle(
        objective=kt.Objective("other", "max"), hyperparameters=make_space()
    )
    resumed._set_project_dir(str(tmp_path), "project")
    resumed.reload()
    with pytest.raises(ValueError, match="objective: project has 'score'"):
        resumed.check_resumed_settings()


def test_resume_with_more_stage2_trials_extends(tmp_path, capsys):
    oracle = make_oracle(tmp_path)
    first = run_to_end(oracle, score_from_values)
    resumed = fresh_reload(tmp_path, stage2_trials=6)
    resumed.check_resumed_settings()
    assert "extending stage 2 from 4 to 6 trials" in capsys.readouterr().out
    more = run_to_end(resumed, score_from_values)
    assert len(more) == 2
    expected = run_to_end(
        make_oracle(tmp_path / "reference", stage2_trials=6), score_from_values
    )
    assert first + more == expected
    assert fresh_reload(tmp_path, stage2_trials=6).max_trials == 9


def test_resume_with_same_settings_passes(tmp_path):
    _started_project(tmp_path)
    fresh_reload(tmp_path).check_resumed_settings(make_space())


def test_resume_a_project_of_another_tuner_is_refused(tmp_path):
    random_search = kt.oracles.RandomSearchOracle(
        objective=kt.Objective("score", "max"), hyperparameters=make_space()
    )
    random_search._set_project_dir(str(tmp_path), "project")
    trial = random_search.create_trial("tuner0")
    random_search.update_trial(trial.trial_id, {"score": 0.5})
    trial.status = "COMPLETED"
    random_search.end_trial(trial)
    with pytest.raises(RuntimeError, match="not made by TwoStageOracle"):
        fresh_reload(tmp_path)


def test_a_list_of_objectives_is_a_multi_objective():
    # As Keras Tuner: the signed sum of the objectives, minimised (a list was
    # refused before).
    oracle = TwoStageOracle(
        objective=[kt.Objective("a", "max"), kt.Objective("b", "min")],
        hyperparameters=make_space(),
    )
    assert oracle.objective.name == "multi_objective"
    assert oracle.schedule.direction == "min"


def test_no_objective_follows_keras_tuners_rule():
    oracle = TwoStageOracle(hyperparameters=make_space())
    assert (oracle.objective.name, oracle.objective.direction) == (
        "default_objective",
        "min",
    )
