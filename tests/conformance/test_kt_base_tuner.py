"""Keras Tuner's `keras_tuner/engine/base_tuner_test.py`, on the two-stage schedule.

Keras Tuner runs these on `BaseTuner` subclasses (with a `RandomSearchOracle`)
and on `GridSearch` subclasses; here they run on `BaseTuner` subclasses with a
`TwoStageOracle`, and on `TwoStageTuner` / `keras_tuner.Tuner(oracle=
TwoStageOracle(...))` subclasses. `test_chief_should_wait_for_clients` is in
`test_kt_distribute.py`.
"""

import os
import pickle

import keras_tuner
import numpy as np
import pytest
from conformance_helpers import (
    KINDS,
    SCHEDULE_LENGTH,
    SHORT_SCHEDULE,
    STAGE2_TRIALS,
    X_TRAIN,
    X_VAL,
    Y_TRAIN,
    Y_VAL,
    build_model,
    declare_schedule_hps,
    make_tuner,
    schedule_space,
    trials_in_start_order,
    tuner_base,
)
from keras_tuner import errors
from keras_tuner.engine import base_tuner
from sklearn import linear_model

from kt_twostage import TwoStageOracle, TwoStageTuner

kinds = pytest.mark.parametrize("kind", KINDS)

FIVE_UNITS = (1, 2, 3, 4, 5)


def five_units_space():
    """Units 1..5 (as Keras Tuner's `hp.Int("value", 1, 5)`) and a learning rate."""
    hp = keras_tuner.HyperParameters()
    hp.Int("units", 1, 5)
    hp.Float("learning_rate", 1e-4, 0.05, sampling="log", default=0.01)
    return hp


class FactorModel:
    """Not a Keras model: multiplies its input by `units * learning_rate`."""

    def __init__(self, hp):
        units, lr = declare_schedule_hps(hp)
        self.factor = units * lr

    def __call__(self, x):
        return self.factor * x


class FactorTuner(base_tuner.BaseTuner):
    """Keras Tuner's `MyTuner` of `test_base_tuner`."""

    def run_trial(self, trial, x):
        model = self.hypermodel.build(trial.hyperparameters)
        self.oracle.update_space(trial.hyperparameters)
        return {"score": model(x)}

    def get_best_models(self, num_models=1):
        best_trials = self.oracle.get_best_trials(num_models)
        return [self.hypermodel.build(t.hyperparameters) for t in best_trials]


def score_oracle(**kwargs):
    return TwoStageOracle(
        objective=keras_tuner.Objective("score", "max"), **SHORT_SCHEDULE, **kwargs
    )


def test_base_tuner(tmp_path):
    """Mirrors base_tuner_test.py::test_base_tuner.

    A `BaseTuner` with a model that is not a Keras model: the best model has
    the largest factor. (Stage 1 keeps units 4; stage 2 starts at the largest
    learning rate, which scores best.)
    """
    tuner = FactorTuner(
        oracle=score_oracle(), hypermodel=FactorModel, directory=str(tmp_path)
    )
    tuner.search(1.0)
    models = tuner.get_best_models(SCHEDULE_LENGTH)
    assert len(models) == SCHEDULE_LENGTH
    assert models[0].factor == max(model.factor for model in models)


def test_best_trials_rank_stage2_first(tmp_path):
    """Adapts base_tuner_test.py::test_base_tuner (the ranking of the best
    models).

    Deliberate difference: the result is the best stage-2 trial. Completed
    stage-2 trials rank first (by score), then stage-1 trials (by score),
    even when a stage-1 trial scored higher: stage-1 scores come from a
    short training at a fixed learning rate.
    """

    class StageTuner(base_tuner.BaseTuner):
        def run_trial(self, trial, *args):
            values = trial.hyperparameters.values
            if values["tuner/stage"] == 1:
                return {"score": 10.0 * values["units"]}
            return {"score": 1.0 / values["learning_rate"] / 1000}

    tuner = StageTuner(
        oracle=score_oracle(), hypermodel=FactorModel, directory=str(tmp_path)
    )
    tuner.search()
    ranked = tuner.oracle.get_best_trials(SCHEDULE_LENGTH)
    stages = [t.hyperparameters.values["tuner/stage"] for t in ranked]
    assert stages == [2] * STAGE2_TRIALS + [1] * (SCHEDULE_LENGTH - STAGE2_TRIALS)
    scores = [t.score for t in ranked]
    assert scores[:STAGE2_TRIALS] == sorted(scores[:STAGE2_TRIALS], reverse=True)
    assert scores[STAGE2_TRIALS:] == sorted(scores[STAGE2_TRIALS:], reverse=True)
    assert max(scores[STAGE2_TRIALS:]) > max(scores[:STAGE2_TRIALS])


def test_oracle_idle(tmp_path):
    """Mirrors base_tuner_test.py::test_oracle_idle.

    The oracle answers IDLE before each trial; `BaseTuner.search` asks again
    and runs the whole schedule.
    """

    class MyOracle(TwoStageOracle):
        idle_next = True

        @keras_tuner.synchronized
        def create_trial(self, tuner_id):
            if self.idle_next and tuner_id not in self.ongoing_trials:
                self.idle_next = False
                return keras_tuner.engine.trial.Trial(self.get_space(), status="IDLE")
            self.idle_next = True
            return super().create_trial(tuner_id)

    class MyTuner(base_tuner.BaseTuner):
        def run_trial(self, trial, *args, **kwargs):
            trial.hyperparameters.Boolean("foo")
            trial.hyperparameters.Boolean("bar")
            return np.random.rand()

    oracle = MyOracle(
        objective=keras_tuner.Objective("score", "min"),
        hyperparameters=schedule_space(),
        **SHORT_SCHEDULE,
    )
    tuner = MyTuner(oracle=oracle, directory=str(tmp_path))
    tuner.search()
    assert [t.status for t in trials_in_start_order(oracle)] == [
        "COMPLETED"
    ] * SCHEDULE_LENGTH


def test_simple_sklearn_tuner(tmp_path):
    """Mirrors base_tuner_test.py::test_simple_sklearn_tuner.

    Adapted: the units hyperparameter is the solver's `max_iter` (a Choice),
    the "learning rate" is the regularisation `c` (a Float).
    """

    class SimpleSklearnTuner(base_tuner.BaseTuner):
        def run_trial(self, trial, x, y, validation_data):
            model = self.hypermodel.build(trial.hyperparameters)
            model.fit(x, y)
            x_val, y_val = validation_data
            score = model.score(x_val, y_val)
            self.save_model(trial.trial_id, model)
            return {"score": score}

        def save_model(self, trial_id, model, step=0):
            path = os.path.join(self.get_trial_dir(trial_id), "model.pickle")
            with open(path, "wb") as handle:
                pickle.dump(model, handle)

        def load_model(self, trial):
            path = os.path.join(self.get_trial_dir(trial.trial_id), "model.pickle")
            with open(path, "rb") as handle:
                return pickle.load(handle)

    def sklearn_build_fn(hp):
        c = hp.Float("c", 1e-4, 10, sampling="log", default=1.0)
        max_iter = hp.Choice("max_iter", [5, 100])
        return linear_model.LogisticRegression(C=c, max_iter=max_iter)

    tuner = SimpleSklearnTuner(
        oracle=score_oracle(units_hp="max_iter", learning_rate_hp="c"),
        hypermodel=sklearn_build_fn,
        directory=str(tmp_path),
    )
    tuner.search(X_TRAIN, Y_TRAIN, validation_data=(X_VAL, Y_VAL))
    models = tuner.get_best_models(2)
    score0 = models[0].score(X_VAL, Y_VAL)
    score1 = models[1].score(X_VAL, Y_VAL)
    assert score0 >= score1


def _counting_tuner(kind, fail_on, error):
    """A tuner of `kind` whose `run_trial` raises `error` for the units values
    in `fail_on`; `calls` counts its runs."""

    class MyTuner(tuner_base(kind)):
        calls = 0

        def run_trial(self, trial, *fit_args, **fit_kwargs):
            type(self).calls += 1
            value = trial.hyperparameters["units"]
            if value in fail_on:
                raise error(f"wrong value {value}.")
            return value

    return MyTuner


@kinds
def test_retry_common_errors(kind, tmp_path):
    """Mirrors base_tuner_test.py::test_retry_common_errors.

    Adapted from GridSearch: units 1..5 are stage 1; units 2 and 3 raise and
    are retried twice each; then stage 2 runs its trials.
    """
    tuner_class = _counting_tuner(kind, (2, 3), ValueError)
    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=None,
        tuner_class=tuner_class,
        objective="val_loss",
        hyperparameters=five_units_space(),
        max_retries_per_trial=2,
    )
    tuner.search()
    assert tuner_class.calls == 5 + 2 * 2 + STAGE2_TRIALS


@kinds
def test_fatal_error_is_raise_again(kind, tmp_path):
    """Mirrors base_tuner_test.py::test_fatal_error_is_raise_again."""

    class MyTuner(tuner_base(kind)):
        def run_trial(self, trial, *fit_args, **fit_kwargs):
            raise errors.FatalError("FatalError raised.")

    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=None,
        tuner_class=MyTuner,
        objective="val_loss",
        hyperparameters=five_units_space(),
        max_retries_per_trial=2,
    )
    with pytest.raises(errors.FatalError, match="FatalError raised."):
        tuner.search()


@kinds
def test_failed_trial_error_no_retry(kind, tmp_path):
    """Mirrors base_tuner_test.py::test_failed_trial_error_no_retry."""
    tuner_class = _counting_tuner(kind, (2, 3), errors.FailedTrialError)
    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=None,
        tuner_class=tuner_class,
        objective="val_loss",
        hyperparameters=five_units_space(),
        max_retries_per_trial=2,
    )
    tuner.search()
    assert tuner_class.calls == 5 + STAGE2_TRIALS  # no retry


@kinds
def test_space_declared_only_in_run_trial_is_refused(kind, tmp_path):
    """Adapts base_tuner_test.py::test_retry_common_errors, whose GridSearch
    discovers its space in `run_trial`.

    Deliberate difference: the schedule needs its two hyperparameters before
    the first trial (in the hypermodel, or as `hyperparameters=`), so a space
    declared only inside `run_trial` is refused with an error naming the
    missing hyperparameter.
    """

    class MyTuner(tuner_base(kind)):
        def run_trial(self, trial, *fit_args, **fit_kwargs):
            return trial.hyperparameters.Int("units", 1, 5)

    tuner = make_tuner(
        kind, tmp_path, hypermodel=None, tuner_class=MyTuner, objective="val_loss"
    )
    with pytest.raises(ValueError, match="`units`"):
        tuner.search()


class _FatalTuner:
    def run_trial(self, trial, *fit_args, **fit_kwargs):
        raise errors.FatalError("FatalError raised.")


@kinds
@pytest.mark.parametrize("space", ["hypermodel", "hyperparameters"])
def test_remaining_trials(kind, space, tmp_path):
    """Mirrors base_tuner_test.py::test_remaining_trials.

    Adapted: `max_trials` is the schedule's length, known as soon as
    `Tuner.__init__` has declared the space (from the hypermodel, or from
    `hyperparameters=` with a `run_trial` of its own).
    """
    if space == "hypermodel":
        tuner = make_tuner(kind, tmp_path, hypermodel=build_model)
    else:
        tuner = make_tuner(
            kind,
            tmp_path,
            hypermodel=None,
            tuner_class=type("MyTuner", (_FatalTuner, tuner_base(kind)), {}),
            objective="val_loss",
            hyperparameters=schedule_space(),
            max_retries_per_trial=2,
        )
    assert tuner.oracle.max_trials == SCHEDULE_LENGTH
    assert tuner.remaining_trials == SCHEDULE_LENGTH


def test_max_trials_argument_says_what_sets_the_length(tmp_path):
    """Adapts base_tuner_test.py::test_remaining_trials (`max_trials=200`).

    Deliberate difference: the schedule sets the number of trials (the units
    grid plus `stage2_trials`), so `TwoStageTuner(max_trials=...)` is refused
    with an error that says so.
    """
    with pytest.raises(ValueError, match="stage2_trials"):
        TwoStageTuner(build_model, max_trials=10, directory=str(tmp_path))


@kinds
def test_logger_deprecated(kind, tmp_path):
    """Mirrors base_tuner_test.py::test_logger_deprecated."""
    with pytest.deprecated_call(match="logger"):
        make_tuner(kind, tmp_path, logger=1)


@kinds
def test_unrecognized_arguments_raise_value_error(kind, tmp_path):
    """Mirrors base_tuner_test.py::test_unrecognized_arguments_raise_value_error."""
    with pytest.raises(ValueError, match="Unrecognized arguments"):
        make_tuner(kind, tmp_path, unrecognized=3)
