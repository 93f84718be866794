"""Keras Tuner's `keras_tuner/tuners/gridsearch_test.py`, adapted to the schedule.

GridSearch tries every combination of every hyperparameter; the two-stage
schedule deliberately does not. What it explores instead: every value of the
units hyperparameter once, in order (stage 1), then `stage2_trials` learning
rates for the winner (stage 2). Every other hyperparameter keeps its default.
These tests check that, on the same hypermodels as Keras Tuner's tests (spaces
declared in `run_trial`, in `HyperModel.fit`, conditional scopes), and the
hand-driven IDLE/RUNNING/STOPPED sequence of several tuners.
`gridsearch_test.py::test_linked_list` tests a GridSearch internal: not
applicable.
"""

import random

import keras
import keras_tuner
import pytest
from conformance_helpers import (
    KINDS,
    LEARNING_RATE,
    SCHEDULE_LENGTH,
    STAGE2_TRIALS,
    UNITS,
    declare_schedule_hps,
    finish,
    make_oracle,
    make_tuner,
    schedule_space,
    trials_in_start_order,
    tuner_base,
)

kinds = pytest.mark.parametrize("kind", KINDS)


def names(hyperparameters):
    return {hp.name for hp in hyperparameters.space}


def values_in_start_order(tuner):
    return [dict(t.hyperparameters.values) for t in trials_in_start_order(tuner.oracle)]


@kinds
def test_that_exhaustive_space_is_explored(kind, tmp_path):
    """Adapts gridsearch_test.py::test_that_exhaustive_space_is_explored.

    Deliberate difference: the schedule explores the units values (each
    once, in order), then the learning rate; the other hyperparameters, here
    declared in `run_trial` as in Keras Tuner's test, join the space and
    keep their defaults.
    """

    class MyTuner(tuner_base(kind)):
        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            hp.Boolean("dropout", default=True)
            hp.Choice("units_2", values=[1, 3])
            hp.Choice("optimizer", values=["adam", "sgd", "rmsprop"])
            hp.Fixed("loss", value="binary_crossentropy")
            return random.random()

    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=None,
        tuner_class=MyTuner,
        objective="val_loss",
        hyperparameters=schedule_space(),
    )
    tuner.search()

    assert names(tuner.oracle.get_space()) == {
        "units",
        "learning_rate",
        "dropout",
        "units_2",
        "optimizer",
        "loss",
    }
    values = values_in_start_order(tuner)
    assert len(values) == SCHEDULE_LENGTH
    assert [v["units"] for v in values[: len(UNITS)]] == list(UNITS)
    assert len({v["units"] for v in values[len(UNITS) :]}) == 1
    for v in values[1:]:
        # Discovered in the first trial: every later trial has the defaults.
        assert (v["dropout"], v["units_2"], v["optimizer"], v["loss"]) == (
            True,
            1,
            "adam",
            "binary_crossentropy",
        )


@kinds
@pytest.mark.parametrize(
    ("declare", "grid"),
    [
        (lambda hp: hp.Int("units", 1, 5), [1, 2, 3, 4, 5]),
        (lambda hp: hp.Int("units", 10, 40, step=10), [10, 20, 30, 40]),
        (lambda hp: hp.Choice("units", [8, 2, 4]), [8, 2, 4]),
    ],
    ids=["Int", "Int with step", "Choice"],
)
def test_int_and_float(kind, declare, grid, tmp_path):
    """Adapts gridsearch_test.py::test_int_and_float.

    Deliberate difference: an `Int` or a `Choice` of units is a grid that
    stage 1 walks in order; the `Float` learning rate is not sampled on a
    grid: stage 1 uses its default, stage 2 starts at its maximum and halves
    it after an improvement.
    """

    class MyTuner(tuner_base(kind)):
        def run_trial(self, trial, *args, **kwargs):
            return random.random()

    hp = keras_tuner.HyperParameters()
    declare(hp)
    low, high, default = LEARNING_RATE
    hp.Float("learning_rate", low, high, sampling="log", default=default)
    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=None,
        tuner_class=MyTuner,
        objective="val_loss",
        hyperparameters=hp,
    )
    tuner.search()
    values = values_in_start_order(tuner)
    assert len(values) == len(grid) + STAGE2_TRIALS
    assert [v["units"] for v in values[: len(grid)]] == grid
    assert {v["learning_rate"] for v in values[: len(grid)]} == {default}
    assert values[len(grid)]["learning_rate"] == high


@kinds
def test_new_hp(kind, tmp_path):
    """Adapts gridsearch_test.py::test_new_hp.

    Hyperparameters that appear in `run_trial`, depending on a Boolean, join
    the space; the number of trials is still the schedule's.
    """

    class MyTuner(tuner_base(kind)):
        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            if hp.Boolean("bool"):
                hp.Choice("choice1", [0, 1, 2])
            else:
                hp.Choice("choice2", [3, 4, 5])
            return random.random()

    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=None,
        tuner_class=MyTuner,
        objective="val_loss",
        hyperparameters=schedule_space(),
    )
    tuner.search(verbose=0)
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH
    assert {"bool", "choice2"} <= names(tuner.oracle.get_space())


@kinds
def test_hp_in_fit(kind, tmp_path):
    """Adapts gridsearch_test.py::test_hp_in_fit."""

    class MyHyperModel(keras_tuner.HyperModel):
        def build(self, hp):
            hp.Fixed("fixed", 3)
            declare_schedule_hps(hp)
            return keras.Sequential()

        def fit(self, hp, model, *args, **kwargs):
            hp.Choice("choice", [0, 1, 2])
            return random.random()

    tuner = make_tuner(kind, tmp_path, hypermodel=MyHyperModel(), objective="val_loss")
    tuner.search(verbose=0)
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH
    assert "choice" in names(tuner.oracle.get_space())


@kinds
def test_conditional_scope(kind, tmp_path):
    """Adapts gridsearch_test.py::test_conditional_scope."""

    class MyHyperModel(keras_tuner.HyperModel):
        def build(self, hp):
            a = hp.Boolean("bool")
            with hp.conditional_scope("bool", [True]):
                if a:
                    hp.Choice("choice1", [1, 2])
            with hp.conditional_scope("bool", [False]):
                if not a:
                    hp.Choice("choice2", [3, 4])
            declare_schedule_hps(hp)
            return keras.Sequential()

        def fit(self, hp, model, *args, **kwargs):
            a = hp.Boolean("bool2")
            with hp.conditional_scope("bool2", [True]):
                if a:
                    hp.Choice("choice3", [1, 2])
            with hp.conditional_scope("bool2", [False]):
                if not a:
                    hp.Choice("choice4", [3, 4])
            return random.random()

    tuner = make_tuner(kind, tmp_path, hypermodel=MyHyperModel(), objective="val_loss")
    tuner.search(verbose=0)
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH
    statuses = {t.status for t in tuner.oracle.trials.values()}
    assert statuses == {"COMPLETED"}


def test_exhaust_trials_in_between_before_the_latter_finishes(tmp_path):
    """Adapts gridsearch_test.py::
    test_exhaust_trials_in_between_before_the_latter_finishes.

    Five tuners ask one oracle by hand. Stage 1 is handed out at once; stage
    2 waits (IDLE) until stage 1 has ended, then runs one trial at a time
    (each step needs the previous score). Once the last trial is handed out,
    the others are told STOPPED.
    """
    oracle = make_oracle(tmp_path)

    trial_1 = oracle.create_trial(tuner_id="1")
    assert trial_1.status == "RUNNING"
    trial_2 = oracle.create_trial(tuner_id="2")
    assert trial_2.status == "RUNNING"
    # Stage 1 handed out; stage 2 needs its winner.
    assert oracle.create_trial(tuner_id="3").status == "IDLE"

    finish(oracle, trial_1, 0.5)
    assert oracle.create_trial(tuner_id="3").status == "IDLE"
    finish(oracle, trial_2, 0.4)
    trial_3 = oracle.create_trial(tuner_id="3")
    assert trial_3.status == "RUNNING"
    assert trial_3.hyperparameters.values["units"] == 4
    # The next learning rate depends on trial 3's score.
    assert oracle.create_trial(tuner_id="4").status == "IDLE"

    finish(oracle, trial_3, 0.3)
    trial_4 = oracle.create_trial(tuner_id="4")
    assert trial_4.status == "RUNNING"
    # Every trial of the schedule is handed out.
    assert oracle.create_trial(tuner_id="5").status == "STOPPED"

    finish(oracle, trial_4, 0.2)
    assert oracle.create_trial(tuner_id="4").status == "STOPPED"
