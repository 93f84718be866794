"""Keras Tuner's `keras_tuner/engine/tuner_test.py`, on the two-stage schedule.

Every tuner-level test runs twice: on `TwoStageTuner`, and on Keras Tuner's own
`keras_tuner.Tuner(oracle=TwoStageOracle(...), hypermodel=...)`. The schedule is
2 units values + 2 stage-2 trials of 1 epoch each (`SCHEDULE_LENGTH` = 4), on
32 samples of 3 features.

Adapted to the two-stage semantics (see each docstring): `max_trials` is the
schedule's length, epochs come from the schedule, the hypermodel declares a
units hyperparameter and a learning rate, and the result is the best stage-2
trial.
"""

import functools
import os
import warnings
from unittest import mock

import keras
import keras_tuner
import pytest
from conformance_helpers import (
    BEST_REPLAYED_LOSS,
    FIT,
    KINDS,
    OMIT,
    PLAIN_TUNER,
    REPLAYED_LOSSES,
    SCHEDULE_LENGTH,
    STAGE2_TRIALS,
    TWO_STAGE_TUNER,
    UNITS,
    X_TRAIN,
    X_VAL,
    Y_TRAIN,
    Y_VAL,
    EpochLog,
    ReplayHyperModel,
    ScheduleEpochsHyperModel,
    build_model,
    declare_schedule_hps,
    make_oracle,
    make_tuner,
    schedule_space,
    trials_in_start_order,
    tuner_base,
)
from keras_tuner import errors

from kt_twostage import TwoStageOracle, TwoStageTuner

kinds = pytest.mark.parametrize("kind", KINDS)


def stage2_units(tuner):
    """The units values of the stage-2 trials (the stage-1 winner)."""
    return {
        trial.hyperparameters.values["units"]
        for trial in tuner.oracle.trials.values()
        if trial.hyperparameters.values.get("tuner/stage") == 2
    }


def names(hyperparameters):
    return {hp.name for hp in hyperparameters.space}


class ShuffleHyperModel(keras_tuner.HyperModel):
    """Declares `shuffle` in `fit`: the space grows during the search."""

    def build(self, hp):
        return build_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, shuffle=hp.Boolean("shuffle"), **kwargs)


# --------------------------------------------------------------------------- #
# Construction and attributes.
# --------------------------------------------------------------------------- #
@kinds
def test_basic_tuner_attributes(kind, tmp_path):
    """Mirrors tuner_test.py::test_basic_tuner_attributes.

    Adapted: `max_trials` is the schedule's length (units grid + stage-2
    trials), known as soon as `__init__` has declared the space, and the
    search trains the schedule's epochs (no `epochs=` to `search`).
    """
    tuner = make_tuner(kind, tmp_path, objective="val_accuracy", executions_per_trial=2)
    max_trials_at_init = tuner.oracle.max_trials

    assert tuner.oracle.objective.name == "val_accuracy"
    assert tuner.executions_per_trial == 2
    assert tuner.directory == str(tmp_path)
    assert tuner.hypermodel.__class__.__name__ == "DefaultHyperModel"
    assert names(tuner.oracle.hyperparameters) == {"units", "learning_rate"}
    assert len(tuner.oracle.hyperparameters.values) == 2
    tuner.search_space_summary()

    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    tuner.results_summary()

    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH
    assert os.path.exists(tmp_path / "untitled_project")
    assert max_trials_at_init == SCHEDULE_LENGTH


@kinds
def test_search_space_summary_right_after_init(kind, tmp_path, capsys):
    """Mirrors tuner_test.py::test_basic_tuner_attributes
    (`search_space_summary()` before `search`).

    Keras Tuner declares the space in `Tuner.__init__`: the summary lists the
    two tuned hyperparameters and `remaining_trials` is the schedule's length.
    """
    tuner = make_tuner(kind, tmp_path)
    capsys.readouterr()
    tuner.search_space_summary()
    summary = capsys.readouterr().out
    assert "Search space summary" in summary
    assert "units" in summary
    assert "learning_rate" in summary
    assert tuner.oracle.max_trials == SCHEDULE_LENGTH
    assert tuner.remaining_trials == SCHEDULE_LENGTH


@kinds
def test_multi_objective(kind, tmp_path):
    """Mirrors tuner_test.py::test_multi_objective.

    A list of objectives is a `MultiObjective` (the signed sum, minimised), as
    in Keras Tuner.
    """
    tuner = make_tuner(kind, tmp_path, objective=["val_accuracy", "val_loss"])
    assert tuner.oracle.objective.name == "multi_objective"
    tuner.search_space_summary()
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    tuner.results_summary()
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH


@kinds
def test_no_hypermodel_without_override_run_trial_error(kind, tmp_path):
    """Mirrors tuner_test.py::test_no_hypermodel_without_override_run_trial_error."""
    with pytest.raises(ValueError, match="Received `hypermodel=None`"):
        make_tuner(kind, tmp_path, hypermodel=None, executions_per_trial=3)


@kinds
def test_error_on_unknown_objective_direction(kind, tmp_path):
    """Mirrors tuner_test.py::test_error_on_unknown_objective_direction."""
    with pytest.raises(ValueError, match="Could not infer optimization direction"):
        make_tuner(kind, tmp_path, objective="custom_metric")


@kinds
def test_invalid_hypermodel_error(kind, tmp_path):
    """Mirrors tuner_test.py::test_tuner_errors (invalid hypermodel).

    The "invalid oracle" case is not applicable to `TwoStageTuner`, which
    makes its own oracle.
    """
    with pytest.raises(ValueError, match="`hypermodel` argument should be either"):
        make_tuner(kind, tmp_path, hypermodel="build_model")


@kinds
@pytest.mark.parametrize("units", [(2, 4), (2, 4, 8)], ids=["2 values", "3 values"])
def test_oversized_model_error_quotes_the_trials_error(kind, units, tmp_path):
    """Mirrors tuner_test.py::test_tuner_errors (oversized model).

    Every trial fails with "Oversized model"; the search stops with a
    `RuntimeError` quoting it. With 3 units values that is Keras Tuner's
    limit of 3 consecutive failures; with 2, stage 1 ends without a winner,
    and the error must still quote the trials' error message.
    """
    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=functools.partial(build_model, units=units),
        max_model_size=4,
    )
    with pytest.raises(RuntimeError, match="Oversized model"):
        tuner.search(X_TRAIN, Y_TRAIN, **FIT)


# --------------------------------------------------------------------------- #
# Objectives and what `fit` / `run_trial` return.
# --------------------------------------------------------------------------- #
@kinds
def test_no_hypermodel_with_objective(kind, tmp_path):
    """Mirrors tuner_test.py::test_no_hypermodel_with_objective.

    Adapted: the schedule needs its two hyperparameters before the first
    trial, so they are given as `hyperparameters=`; `run_trial` declares
    another one, as in Keras Tuner's test.
    """

    class MyTuner(tuner_base(kind)):
        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            value = hp.Float("value", 0, 10) + hp["units"] * hp["learning_rate"]
            return {"val_loss": value}

    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=None,
        tuner_class=MyTuner,
        objective="val_loss",
        hyperparameters=schedule_space(),
    )
    tuner.search()
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH


@pytest.mark.parametrize(
    ("kind", "objective"),
    [(TWO_STAGE_TUNER, "val_loss"), (PLAIN_TUNER, "val_loss"), (PLAIN_TUNER, OMIT)],
    ids=[
        "TwoStageTuner-val_loss",
        "keras_tuner.Tuner-val_loss",
        "keras_tuner.Tuner-none",
    ],
)
def test_no_hypermodel_no_objective(kind, objective, tmp_path):
    """Mirrors tuner_test.py::test_no_hypermodel_no_objective.

    `run_trial` returns a single number: with `objective="val_loss"` (as in
    Keras Tuner's test), or under a plain `keras_tuner.Tuner` with no
    objective at all (Keras Tuner's rule), it is minimised, so stage 1 keeps
    the units value with the smaller number. (`TwoStageTuner` with no
    objective: `test_bare_number_without_objective_is_refused`.)
    """

    class MyTuner(tuner_base(kind)):
        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            return hp["units"] + hp["learning_rate"]

    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=None,
        tuner_class=MyTuner,
        hyperparameters=schedule_space(),
        objective=objective,
    )
    tuner.search()
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH
    assert tuner.oracle.objective.direction == "min"
    assert stage2_units(tuner) == {min(UNITS)}


class NumberHyperModel(keras_tuner.HyperModel):
    """`fit` returns a single number, smaller for the smaller units value."""

    def build(self, hp):
        return build_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        return hp["units"] + hp["learning_rate"]


def test_no_objective_with_hypermodel(tmp_path):
    """Mirrors tuner_test.py::test_no_objective_with_hypermodel under a plain
    `keras_tuner.Tuner`.

    No objective, and `HyperModel.fit` returns a single number: as in Keras
    Tuner, `TwoStageOracle()` minimises it (`default_objective`), never a
    `val_accuracy` to maximise. (`TwoStageTuner`:
    `test_bare_number_without_objective_is_refused`.)
    """
    tuner = make_tuner(
        PLAIN_TUNER,
        tmp_path,
        hypermodel=NumberHyperModel(),
        objective=OMIT,
        executions_per_trial=2,
    )
    tuner.search()
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH
    assert tuner.oracle.objective.direction == "min"
    assert stage2_units(tuner) == {min(UNITS)}


class NumberTuner(TwoStageTuner):
    """`run_trial` returns a single number."""

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        return hp["units"] + hp["learning_rate"]


@pytest.mark.parametrize("source", ["HyperModel.fit", "Tuner.run_trial"])
def test_bare_number_without_objective_is_refused(source, tmp_path):
    """Adapts tuner_test.py::test_no_objective_with_hypermodel and
    ::test_no_hypermodel_no_objective to `TwoStageTuner`.

    Deliberate difference: with no objective, `TwoStageTuner` optimises the
    reference's `val_accuracy` (maximised) for Keras models; a `fit` or
    `run_trial` that returns a single number is refused with an error
    saying to name the objective, never maximised silently (Keras Tuner's
    built-in tuners would minimise it).
    """
    if source == "HyperModel.fit":
        tuner = make_tuner(
            TWO_STAGE_TUNER, tmp_path, hypermodel=NumberHyperModel(), objective=OMIT
        )
    else:
        tuner = make_tuner(
            TWO_STAGE_TUNER,
            tmp_path,
            hypermodel=None,
            tuner_class=NumberTuner,
            objective=OMIT,
            hyperparameters=schedule_space(),
        )
    with pytest.raises(ValueError, match="no `objective` was given"):
        tuner.search()
    assert not [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]


@pytest.mark.parametrize(
    "hypermodel",
    [build_model, "ImdbLstmHyperModel"],
    ids=["Keras model", "ImdbLstmHyperModel"],
)
def test_no_objective_keeps_val_accuracy_maximised(hypermodel, tmp_path):
    """Companion of tuner_test.py::test_no_objective_with_hypermodel.

    Deliberate difference: `TwoStageTuner` with no objective, on a Keras
    model (the README's usage, the IMDB reference problem), maximises
    `val_accuracy`, the reference's objective.
    """
    if hypermodel == "ImdbLstmHyperModel":
        from kt_twostage import ImdbLstmHyperModel

        hypermodel = ImdbLstmHyperModel(num_words=100, units=(4, 8, 4))
    tuner = make_tuner(TWO_STAGE_TUNER, tmp_path, hypermodel=hypermodel, objective=OMIT)
    assert tuner.oracle.objective.name == "val_accuracy"
    assert tuner.oracle.objective.direction == "max"


@kinds
def test_fit_return_string(kind, tmp_path):
    """Mirrors tuner_test.py::test_fit_return_string."""

    class MyHyperModel(keras_tuner.HyperModel):
        def build(self, hp):
            return build_model(hp)

        def fit(self, hp, model, *args, **kwargs):
            return hp.Choice("value", ["a", "b"])

    tuner = make_tuner(kind, tmp_path, hypermodel=MyHyperModel(), objective="val_loss")
    with pytest.raises(TypeError, match=r"HyperModel\.fit\(\) to be one of"):
        tuner.search()


@kinds
def test_run_trial_return_string(kind, tmp_path):
    """Mirrors tuner_test.py::test_run_trial_return_string."""

    class MyTuner(tuner_base(kind)):
        def run_trial(self, trial, **kwargs):
            return trial.hyperparameters.Choice("value", ["a", "b"])

    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=None,
        tuner_class=MyTuner,
        objective="val_loss",
        hyperparameters=schedule_space(),
    )
    with pytest.raises(TypeError, match=r"Tuner\.run_trial\(\) to be one of"):
        tuner.search()


# Without an objective: Keras Tuner's error under a plain Tuner; under
# `TwoStageTuner` (deliberate difference, see
# `test_bare_number_without_objective_is_refused`), the dict must hold the
# default objective, `val_accuracy`, and the error says so.
NOT_A_NUMBER_ERRORS = pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        (PLAIN_TUNER, TypeError, r"\(\) to be a single float"),
        (TWO_STAGE_TUNER, ValueError, "val_accuracy"),
    ],
    ids=[PLAIN_TUNER, TWO_STAGE_TUNER],
)


@NOT_A_NUMBER_ERRORS
def test_no_objective_fit_return_not_float(kind, error, message, tmp_path):
    """Mirrors tuner_test.py::test_no_objective_fit_return_not_float."""

    class MyHyperModel(keras_tuner.HyperModel):
        def build(self, hp):
            return build_model(hp)

        def fit(self, hp, model, *args, **kwargs):
            return {"val_loss": hp["units"] * 1.0}

    tuner = make_tuner(kind, tmp_path, hypermodel=MyHyperModel(), objective=OMIT)
    with pytest.raises(error, match=message):
        tuner.search()


@NOT_A_NUMBER_ERRORS
def test_no_objective_run_trial_return_not_float(kind, error, message, tmp_path):
    """Mirrors tuner_test.py::test_no_objective_run_trial_return_not_float."""

    class MyTuner(tuner_base(kind)):
        def run_trial(self, trial, **kwargs):
            return {"val_loss": trial.hyperparameters["units"] * 1.0}

    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=None,
        tuner_class=MyTuner,
        objective=OMIT,
        hyperparameters=schedule_space(),
    )
    with pytest.raises(error, match=message):
        tuner.search()


@pytest.mark.parametrize("direction", ["max", "min"])
def test_metric_direction_inferred_from_objective(direction, tmp_path):
    """Mirrors tuner_test.py::test_metric_direction_inferred_from_objective."""
    oracle = make_oracle(tmp_path, objective=keras_tuner.Objective("a", direction))
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"a": 1})
    trial = oracle.get_trial(trial.trial_id)
    assert trial.metrics.get_direction("a") == direction


# --------------------------------------------------------------------------- #
# A search with a mock model: scores, checkpoints, what `fit` returns.
# --------------------------------------------------------------------------- #
@kinds
def test_tuning_correctness(kind, tmp_path):
    """Mirrors tuner_test.py::test_tuning_correctness.

    Keras Tuner's mock model: it is never built and its `save_weights` writes
    nothing. Each trial's score is its best epoch's loss. Adapted: stage 1
    keeps units 0 (loss 3.0 against 11.0), stage 2 trains units 0, and the
    best trial is the first stage-2 trial (the result is a stage-2 trial, the
    first one on ties).
    """
    tuner = make_tuner(kind, tmp_path, hypermodel=ReplayHyperModel(), objective="loss")
    tuner.search()
    trials = trials_in_start_order(tuner.oracle)
    assert len(trials) == SCHEDULE_LENGTH
    assert [t.status for t in trials] == ["COMPLETED"] * SCHEDULE_LENGTH
    assert [t.score for t in trials[:2]] == [min(REPLAYED_LOSSES[u]) for u in (0, 1)]
    assert stage2_units(tuner) == {0}
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.score == BEST_REPLAYED_LOSS
    assert best.trial_id == trials[2].trial_id


@kinds
def test_checkpoints_use_the_models_save_and_load_weights(kind, tmp_path):
    """Mirrors tuner_test.py::test_tuning_correctness (`MockModel.save_weights`)
    and the `load_model` of Keras Tuner's `Tuner`.

    Keras Tuner's `SaveBestEpoch` saves the best epoch with
    `model.save_weights(path)` and `load_model` reloads it with
    `model.load_weights(path)`, so a model that overrides them is in charge
    of its own checkpoints.
    """
    calls = []
    tuner = make_tuner(
        kind, tmp_path, hypermodel=ReplayHyperModel(calls), objective="loss"
    )
    tuner.search()
    saved = [path for method, path in calls if method == "save_weights"]
    assert saved, "no checkpoint went through model.save_weights"
    assert all(path.endswith(".weights.h5") for path in saved)
    # One checkpoint per improving epoch: the replayed losses always improve.
    assert len(saved) == SCHEDULE_LENGTH * 3

    calls.clear()
    best = tuner.get_best_models(1)[0]
    assert isinstance(best, keras.Model)
    best_id = tuner.oracle.get_best_trials(1)[0].trial_id
    loaded = [path for method, path in calls if method == "load_weights"]
    assert len(loaded) == 1
    assert f"trial_{best_id}" in loaded[0]


class RecordingSequential(keras.Sequential):
    """A real model whose `save_weights` / `load_weights` log their path."""

    log = []

    def save_weights(self, filepath, *args, **kwargs):
        RecordingSequential.log.append(("save_weights", str(filepath)))
        return super().save_weights(filepath, *args, **kwargs)

    def load_weights(self, filepath, *args, **kwargs):
        RecordingSequential.log.append(("load_weights", str(filepath)))
        return super().load_weights(filepath, *args, **kwargs)


def build_recording_model(hp):
    units, lr = declare_schedule_hps(hp)
    model = RecordingSequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=lr),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        run_eagerly=True,
    )
    return model


@kinds
def test_real_model_overriding_save_and_load_weights(kind, tmp_path):
    """Mirrors tuner_test.py::test_tuning_correctness (`MockModel.save_weights`)
    with a real model: checkpoints go through the model's own methods and the
    best model comes back with the checkpoint's weights."""
    RecordingSequential.log = []
    tuner = make_tuner(kind, tmp_path, hypermodel=build_recording_model)
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    assert any(method == "save_weights" for method, _ in RecordingSequential.log)
    RecordingSequential.log = []
    model = tuner.get_best_models(1)[0]
    assert [method for method, _ in RecordingSequential.log] == ["load_weights"]
    best = tuner.oracle.get_best_trials(1)[0]
    accuracy = model.evaluate(X_VAL, Y_VAL, verbose=0)[1]
    assert accuracy == pytest.approx(best.score)


def _hypermodel_returning(form):
    class MyHyperModel(ReplayHyperModel):
        def fit(self, hp, model, *args, **kwargs):
            history = model.fit(*args, **kwargs)
            best = min(history.history["loss"])
            if form == "dict":
                return {"loss": best, "other_metric": 0.5}
            if form == "float":
                return best
            return int(best)

    return MyHyperModel()


@kinds
@pytest.mark.parametrize("form", ["dict", "float", "int"])
def test_hypermodel_fit_return(kind, form, tmp_path):
    """Mirrors tuner_test.py::test_hypermodel_fit_return_a_dict,
    ::test_hypermodel_fit_return_a_float and ::test_hypermodel_fit_return_an_int
    (`assert_found_best_score`)."""
    tuner = make_tuner(
        kind, tmp_path, hypermodel=_hypermodel_returning(form), objective="loss"
    )
    tuner.search(callbacks=[])
    assert tuner.oracle.get_best_trials(1)[0].score == BEST_REPLAYED_LOSS


def _tuner_returning(kind, form):
    class MyTuner(tuner_base(kind)):
        def run_trial(self, trial, *fit_args, **fit_kwargs):
            def fit():
                model = self.hypermodel.build(trial.hyperparameters)
                return model.fit(*fit_args, **fit_kwargs)

            if form == "history":
                return fit()
            if form == "dict":
                return {"loss": min(fit().history["loss"])}
            if form == "float":
                return min(fit().history["loss"])
            if form == "float list":
                return [min(fit().history["loss"]) for _ in range(3)]
            if form == "update_trial":
                loss = min(fit().history["loss"])
                self.oracle.update_trial(trial.trial_id, {"loss": loss})
                return None
            fit()
            return None

    return MyTuner


@kinds
@pytest.mark.parametrize("form", ["history", "dict", "float", "float list"])
def test_run_trial_return(kind, form, tmp_path):
    """Mirrors tuner_test.py::test_run_trial_return_history,
    ::test_run_trial_return_a_dict, ::test_run_trial_return_a_float and
    ::test_run_trial_return_float_list (`assert_found_best_score`)."""
    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=ReplayHyperModel(),
        tuner_class=_tuner_returning(kind, form),
        objective="loss",
    )
    tuner.search(callbacks=[])
    assert tuner.oracle.get_best_trials(1)[0].score == BEST_REPLAYED_LOSS


@kinds
def test_run_trial_return_none_without_update_trial(kind, tmp_path):
    """Mirrors tuner_test.py::test_run_trial_return_none_without_update_trial."""
    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=ReplayHyperModel(),
        tuner_class=_tuner_returning(kind, "none"),
        objective="loss",
    )
    with pytest.raises(errors.FatalTypeError, match="Did you forget"):
        tuner.search(callbacks=[])


@kinds
def test_run_trial_return_none_with_update_trial(kind, tmp_path):
    """Mirrors tuner_test.py::test_run_trial_return_none_with_update_trial."""
    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=ReplayHyperModel(),
        tuner_class=_tuner_returning(kind, "update_trial"),
        objective="loss",
    )
    with pytest.deprecated_call(match="Please remove the call"):
        tuner.search(callbacks=[])
    assert tuner.oracle.get_best_trials(1)[0].score == BEST_REPLAYED_LOSS


# --------------------------------------------------------------------------- #
# Epochs: the schedule's, not `search(epochs=...)`'s.
# --------------------------------------------------------------------------- #
def test_search_epochs_are_ignored_with_a_warning(tmp_path):
    """Adapts tuner_test.py::test_basic_tuner_attributes (`search(epochs=2)`).

    Deliberate difference: `TwoStageTuner` trains each trial for its stage's
    epochs (`tuner/epochs`); an `epochs` passed to `search` is ignored, with a
    warning.
    """
    tuner = make_tuner(TWO_STAGE_TUNER, tmp_path, stage2_epochs=2)
    log = tmp_path / "epochs.log"
    with pytest.warns(UserWarning, match="`epochs=3` passed to `search` is ignored"):
        tuner.search(X_TRAIN, Y_TRAIN, epochs=3, callbacks=[EpochLog(log)], **FIT)
    # Stage 1: 2 trials of 1 epoch; stage 2: 2 trials of 2 epochs.
    assert log.read_text().split() == ["0", "0", "0", "1", "0", "1"]


def test_plain_tuner_hypermodel_reading_tuner_epochs(tmp_path):
    """Adapts tuner_test.py::test_basic_tuner_attributes (`search(epochs=2)`)
    to a plain `keras_tuner.Tuner`: a `HyperModel.fit` that reads
    `tuner/epochs` (as Hyperband's tuner does) trains the schedule's epochs,
    silently."""
    tuner = make_tuner(
        PLAIN_TUNER,
        tmp_path,
        hypermodel=ScheduleEpochsHyperModel(),
        stage2_epochs=2,
    )
    log = tmp_path / "epochs.log"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tuner.search(X_TRAIN, Y_TRAIN, epochs=3, callbacks=[EpochLog(log)], **FIT)
    assert log.read_text().split() == ["0", "0", "0", "1", "0", "1"]
    assert not [w for w in caught if "tuner/epochs" in str(w.message)]


def test_plain_tuner_warns_when_trials_ignore_tuner_epochs(tmp_path):
    """Adapts tuner_test.py::test_basic_tuner_attributes (`search(epochs=2)`)
    to a plain `keras_tuner.Tuner`.

    Keras Tuner's `Tuner.run_trial` trains the `epochs` given to `search`,
    whatever the oracle says. The schedule's 1-epoch trials then train 3
    epochs: the oracle warns, once, naming `tuner/epochs` (how to fix it).
    The objective is the training loss, which falls at every epoch here, so
    each trial reports its last (third) epoch as its best.
    """
    tuner = make_tuner(PLAIN_TUNER, tmp_path, objective="loss")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tuner.search(X_TRAIN, Y_TRAIN, epochs=3, **FIT)
    about_epochs = [w for w in caught if "tuner/epochs" in str(w.message)]
    assert len(about_epochs) == 1, [str(w.message) for w in caught]


# --------------------------------------------------------------------------- #
# Callbacks.
# --------------------------------------------------------------------------- #
@kinds
def test_callbacks_in_fit_kwargs(kind, tmp_path):
    """Mirrors tuner_test.py::test_callbacks_in_fit_kwargs.

    Adapted for `TwoStageTuner`: its checkpoint callback is its own
    (`SaveBest...`, weights only) and Keras Tuner's per-batch `TunerCallback`
    is left out unless a subclass overrides the epoch or batch hooks (see
    `test_overridden_epoch_hooks_are_called`).
    """
    tuner = make_tuner(kind, tmp_path, executions_per_trial=1)
    with mock.patch.object(
        tuner, "_build_and_fit_model", wraps=tuner._build_and_fit_model
    ) as build_and_fit:
        tuner.search(
            X_TRAIN,
            Y_TRAIN,
            callbacks=[
                keras.callbacks.EarlyStopping(),
                keras.callbacks.TensorBoard(str(tmp_path / "logs")),
            ],
            **FIT,
        )
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH
    callback_names = {
        type(callback).__name__ for callback in build_and_fit.call_args[1]["callbacks"]
    }
    assert {"EarlyStopping", "TensorBoard"} <= callback_names
    if kind == PLAIN_TUNER:
        assert {"TunerCallback", "SaveBestEpoch"} <= callback_names
    else:
        assert any(name.startswith("SaveBest") for name in callback_names)


def test_overridden_epoch_hooks_are_called(tmp_path):
    """Companion of tuner_test.py::test_callbacks_in_fit_kwargs
    (`TunerCallback`): a `TwoStageTuner` subclass that overrides
    `on_epoch_end` is called at every epoch, as with Keras Tuner."""
    seen = []

    class MyTuner(TwoStageTuner):
        def on_epoch_end(self, trial, model, epoch, logs=None):
            seen.append((trial.trial_id, epoch))

    tuner = make_tuner(TWO_STAGE_TUNER, tmp_path, tuner_class=MyTuner)
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    assert [epoch for _, epoch in seen] == [0] * SCHEDULE_LENGTH
    assert {trial_id for trial_id, _ in seen} == set(tuner.oracle.trials)


@kinds
def test_callbacks_run_each_execution(kind, tmp_path):
    """Mirrors tuner_test.py::test_callbacks_run_each_execution.

    Each execution of each trial gets its own deep copy of the callback. (The
    copies are kept alive, so that no id is reused: Keras Tuner's test
    allows 5 or 6 for that reason.)
    """
    copies = []

    class LoggingCallback(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            copies.append(self)

    original = LoggingCallback()
    tuner = make_tuner(kind, tmp_path, executions_per_trial=2)
    tuner.search(X_TRAIN, Y_TRAIN, callbacks=[original], **FIT)
    assert len(copies) == SCHEDULE_LENGTH * 2
    assert len({id(copy) for copy in copies}) == len(copies)
    assert all(copy is not original for copy in copies)


@kinds
def test_callback_cannot_be_deep_copied(kind, tmp_path):
    """Mirrors tuner_test.py::test_callback_cannot_be_deep_copied."""

    def build(hp):
        declare_schedule_hps(hp)
        return keras.Sequential()

    tuner = make_tuner(kind, tmp_path, hypermodel=build)
    with pytest.raises(
        errors.FatalValueError,
        match="All callbacks used during a search should be deep-copyable",
    ):
        tuner.search(callbacks=[keras_tuner])


# --------------------------------------------------------------------------- #
# Search spaces.
# --------------------------------------------------------------------------- #
@kinds
def test_hypermodel_with_dynamic_space(kind, tmp_path):
    """Mirrors tuner_test.py::test_hypermodel_with_dynamic_space.

    A hyperparameter declared in `HyperModel.fit` joins the space. (It keeps
    its default: only the units and the learning rate are tuned.)
    """
    hypermodel = ShuffleHyperModel()
    tuner = make_tuner(kind, tmp_path, hypermodel=hypermodel, executions_per_trial=1)
    assert tuner.hypermodel is hypermodel
    tuner.search_space_summary()
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    tuner.results_summary()
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH
    tuner.oracle.hyperparameters.get("shuffle")


def _build_from_static_space(hp):
    model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(hp.get("units"), activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=hp.get("learning_rate")),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        run_eagerly=True,
    )
    return model


@kinds
def test_static_space(kind, tmp_path):
    """Mirrors tuner_test.py::test_static_space."""
    hp = schedule_space()
    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=_build_from_static_space,
        hyperparameters=hp,
        allow_new_entries=False,
    )
    assert tuner.oracle.hyperparameters == hp
    assert names(tuner.oracle.hyperparameters) == {"units", "learning_rate"}
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH


def _build_with_extra_hp(hp):
    hp.Int("extra", 1, 5, default=2)
    return build_model(hp)


def _units_only_space():
    hp = keras_tuner.HyperParameters()
    hp.Choice("units", list(UNITS))
    return hp


@kinds
@pytest.mark.parametrize(
    ("hypermodel", "space"),
    [
        (_build_with_extra_hp, schedule_space),
        (build_model, _units_only_space),
    ],
    ids=["extra hp", "learning rate not given"],
)
def test_static_space_errors(kind, hypermodel, space, tmp_path):
    """Mirrors tuner_test.py::test_static_space_errors."""
    with pytest.raises(RuntimeError, match="`allow_new_entries` is `False`"):
        tuner = make_tuner(
            kind,
            tmp_path,
            hypermodel=hypermodel,
            hyperparameters=space(),
            allow_new_entries=False,
        )
        tuner.search(X_TRAIN, Y_TRAIN, **FIT)


@kinds
def test_restricted_space_using_defaults(kind, tmp_path):
    """Mirrors tuner_test.py::test_restricted_space_using_defaults."""
    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=_build_with_extra_hp,
        hyperparameters=schedule_space(),
        allow_new_entries=True,
        tune_new_entries=False,
    )
    assert names(tuner.oracle.hyperparameters) == {"units", "learning_rate"}
    assert tuner.oracle.hyperparameters.get("units") in UNITS
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH
    assert names(tuner.oracle.hyperparameters) == {"units", "learning_rate"}
    for trial in tuner.oracle.trials.values():
        # Trials get default values but don't pass these on to the oracle.
        assert len(trial.hyperparameters.space) >= 2


@kinds
def test_restricted_space_with_custom_defaults(kind, tmp_path):
    """Mirrors tuner_test.py::test_restricted_space_with_custom_defaults."""
    hp = schedule_space()
    hp.Fixed("extra", 3)
    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=_build_with_extra_hp,
        hyperparameters=hp,
        allow_new_entries=True,
        tune_new_entries=False,
    )
    assert len(tuner.oracle.hyperparameters.space) == 3
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH
    extras = {t.hyperparameters.values["extra"] for t in tuner.oracle.trials.values()}
    assert extras == {3}


@kinds
def test_reparameterized_space(kind, tmp_path):
    """Mirrors tuner_test.py::test_reparameterized_space."""
    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=_build_with_extra_hp,
        hyperparameters=_units_only_space(),
        seed=1337,
        allow_new_entries=True,
        tune_new_entries=True,
    )
    # Initial build model adds to the space.
    assert names(tuner.oracle.hyperparameters) == {"units", "learning_rate", "extra"}
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH
    assert len(tuner.oracle.hyperparameters.space) == 3


class ConditionalHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        model_type = hp.Choice("model_type", ["cnn", "mlp"])
        with hp.conditional_scope("model_type", ["cnn"]):
            if model_type == "cnn":
                sub_cnn = hp.Choice("sub_cnn", ["a", "b"])
                with hp.conditional_scope("sub_cnn", ["a"]):
                    if sub_cnn == "a":
                        hp.Int("n_filters_a", 2, 4)
                with hp.conditional_scope("sub_cnn", ["b"]):
                    if sub_cnn == "b":
                        hp.Int("n_filters_b", 6, 8)
        with hp.conditional_scope("model_type", ["mlp"]):
            if model_type == "mlp":
                hp.Int("n_units", 2, 4)
        more_block = hp.Boolean("more_block", default=False)
        with hp.conditional_scope("more_block", [True]):
            if more_block:
                hp.Int("new_block_hp", 1, 3)
        return build_model(hp)


@kinds
def test_init_build_all_hps_in_all_conditions(kind, tmp_path):
    """Mirrors tuner_test.py::test_init_build_all_hps_in_all_conditions."""
    tuner = make_tuner(kind, tmp_path, hypermodel=ConditionalHyperModel())
    assert names(tuner.oracle.hyperparameters) >= {
        "units",
        "learning_rate",
        "model_type",
        "sub_cnn",
        "n_filters_a",
        "n_filters_b",
        "n_units",
        "more_block",
        "new_block_hp",
    }


@kinds
def test_populate_initial_space_with_hp_parent_arg(kind, tmp_path):
    """Mirrors tuner_test.py::test_populate_initial_space_with_hp_parent_arg."""

    def build(hp):
        hp.Boolean("parent", default=True)
        hp.Boolean("child", parent_name="parent", parent_values=[False])
        declare_schedule_hps(hp)
        return keras.Sequential()

    tuner = make_tuner(kind, tmp_path, hypermodel=build)
    assert names(tuner.oracle.hyperparameters) >= {"parent", "child", "units"}


@kinds
def test_populate_initial_space_with_declare_hp(kind, tmp_path):
    """Mirrors tuner_test.py::test_populate_initial_space_with_declare_hp."""

    class MyHyperModel(keras_tuner.HyperModel):
        def declare_hyperparameters(self, hp):
            hp.Boolean("bool")
            declare_schedule_hps(hp)

        def build(self, hp):
            return keras.Sequential()

    tuner = make_tuner(kind, tmp_path, hypermodel=MyHyperModel())
    assert names(tuner.oracle.hyperparameters) == {"bool", "units", "learning_rate"}


@kinds
def test_build_did_not_return_keras_model(kind, tmp_path):
    """Mirrors tuner_test.py::test_build_did_not_return_keras_model."""

    def build(hp):
        declare_schedule_hps(hp)
        return None

    tuner = make_tuner(kind, tmp_path, hypermodel=build)
    with pytest.raises(
        errors.FatalTypeError, match="Expected the model-building function"
    ):
        tuner.search()


# --------------------------------------------------------------------------- #
# Compile overrides.
# --------------------------------------------------------------------------- #
@kinds
def test_override_compile(kind, tmp_path):
    """Mirrors tuner_test.py::test_override_compile."""
    seen = []

    class MyHyperModel(keras_tuner.HyperModel):
        def build(self, hp):
            return build_model(hp, optimizer=keras.optimizers.Adam)

        def fit(self, hp, model, *args, **kwargs):
            history = model.fit(*args, **kwargs)
            seen.append(
                (
                    type(model.optimizer).__name__,
                    model.loss,
                    [type(metric).__name__ for metric in model.metrics],
                )
            )
            return history

    tuner = make_tuner(
        kind,
        tmp_path,
        hypermodel=MyHyperModel(),
        objective="val_mse",
        metrics=["mse", "accuracy"],
        loss="mse",
        optimizer="rmsprop",
    )
    assert tuner.oracle.objective.name == "val_mse"
    assert tuner.optimizer == "rmsprop"
    assert tuner.loss == "mse"
    assert tuner.metrics == ["mse", "accuracy"]

    tuner.search_space_summary()
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    tuner.results_summary()
    assert len(seen) == SCHEDULE_LENGTH
    for optimizer, loss, metrics in seen:
        assert optimizer == "RMSprop"
        assert loss == "mse"
        assert metrics[-1] == "CompileMetrics"
    assert tuner.get_best_models()[0].loss == "mse"


@kinds
def test_override_optimizer_with_actual_optimizer_object(kind, tmp_path):
    """Mirrors tuner_test.py::test_override_optimizer_with_actual_optimizer_object."""
    tuner = make_tuner(
        kind,
        tmp_path,
        objective="val_loss",
        optimizer=keras.optimizers.Adam(0.01),
    )
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH


# --------------------------------------------------------------------------- #
# Models, best models, saving and reloading.
# --------------------------------------------------------------------------- #
@kinds
def test_get_best_models(kind, tmp_path):
    """Mirrors tuner_test.py::test_get_best_models."""
    tuner = make_tuner(kind, tmp_path)
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    models = tuner.get_best_models(2)
    assert len(models) == 2
    assert all(isinstance(model, keras.Model) for model in models)


@kinds
def test_saving_and_reloading(kind, tmp_path):
    """Mirrors tuner_test.py::test_saving_and_reloading."""
    tuner = make_tuner(kind, tmp_path, executions_per_trial=1)
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)

    new_tuner = make_tuner(kind, tmp_path, executions_per_trial=1)
    new_tuner.reload()
    assert len(new_tuner.oracle.trials) == SCHEDULE_LENGTH
    new_tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    assert len(new_tuner.oracle.trials) == SCHEDULE_LENGTH


@kinds
def test_overwrite_true(kind, tmp_path):
    """Mirrors tuner_test.py::test_overwrite_true."""
    tuner = make_tuner(kind, tmp_path)
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH

    new_tuner = make_tuner(kind, tmp_path, overwrite=True)
    assert len(new_tuner.oracle.trials) == 0


@kinds
def test_correct_display_trial_number(kind, tmp_path):
    """Mirrors tuner_test.py::test_correct_display_trial_number.

    Adapted: Keras Tuner resumes with a larger `max_trials`; here the
    schedule is extended with more stage-2 trials (the one setting a resume
    may change).
    """
    fit = {k: v for k, v in FIT.items() if k != "verbose"}  # the display is on
    tuner = make_tuner(kind, tmp_path, stage2_trials=1)
    tuner.search(X_TRAIN, Y_TRAIN, **fit)
    assert len(tuner.oracle.trials) == len(UNITS) + 1

    new_tuner = make_tuner(kind, tmp_path, stage2_trials=STAGE2_TRIALS)
    new_tuner.search(X_TRAIN, Y_TRAIN, **fit)
    assert len(new_tuner.oracle.trials) == SCHEDULE_LENGTH
    assert len(new_tuner.oracle.trials) == max(
        new_tuner.oracle._display.trial_number.values()
    )


@kinds
def test_reloading_error_message(kind, tmp_path):
    """Mirrors tuner_test.py::test_reloading_error_message.

    A project made by another tuner (here RandomSearch) is not taken over:
    the error says to pass `overwrite=True`.
    """
    random_search = keras_tuner.RandomSearch(
        build_model,
        objective="val_accuracy",
        max_trials=1,
        directory=str(tmp_path),
    )
    random_search.search(X_TRAIN, Y_TRAIN, **FIT)
    with pytest.raises(RuntimeError, match="overwrite=True"):
        make_tuner(kind, tmp_path)


@kinds
def test_search_logging_verbosity(kind, tmp_path, capsys):
    """Mirrors tuner_test.py::test_search_logging_verbosity."""
    tuner = make_tuner(kind, tmp_path, executions_per_trial=1)
    capsys.readouterr()
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)  # verbose=0
    assert capsys.readouterr().out.strip() == ""


def build_subclass_model(hp):
    units, lr = declare_schedule_hps(hp)

    class MyModel(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = keras.layers.Dense(units, activation="relu")
            self.out = keras.layers.Dense(1, activation="sigmoid")

        def build(self, input_shape):
            self.hidden.build(input_shape)
            self.out.build((input_shape[0], units))
            super().build(input_shape)

        def call(self, x):
            x = x + hp.Float("bias", 0, 1)
            return self.out(self.hidden(x))

        # Keras Tuner's test model: hyperparameters are not in the config.
        def get_config(self):
            return {}

    model = MyModel()
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=lr),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        run_eagerly=True,
    )
    return model


@kinds
def test_subclass_model(kind, tmp_path):
    """Mirrors tuner_test.py::test_subclass_model."""
    tuner = make_tuner(kind, tmp_path, hypermodel=build_subclass_model)
    tuner.search_space_summary()
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    tuner.results_summary()
    assert len(tuner.oracle.trials) == SCHEDULE_LENGTH


@kinds
def test_subclass_model_loading(kind, tmp_path):
    """Mirrors tuner_test.py::test_subclass_model_loading."""
    tuner = make_tuner(kind, tmp_path, hypermodel=build_subclass_model)
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    best_trial_score = tuner.oracle.get_best_trials()[0].score
    best_model = tuner.get_best_models()[0]
    best_model_score = best_model.evaluate(X_VAL, Y_VAL, verbose=0)[1]
    assert best_model_score == pytest.approx(best_trial_score)


@kinds
def test_build_and_fit_model(kind, tmp_path):
    """Mirrors tuner_test.py::test_build_and_fit_model and
    ::test_build_and_fit_model_in_tuner."""

    class MyTuner(tuner_base(kind)):
        def _build_and_fit_model(self, trial, *args, **kwargs):
            self.was_called = True
            return super()._build_and_fit_model(trial, *args, **kwargs)

    tuner = make_tuner(kind, tmp_path, tuner_class=MyTuner, objective="val_loss")
    tuner.run_trial(tuner.oracle.create_trial("tuner0"), X_TRAIN, Y_TRAIN, **FIT)
    assert tuner.was_called


# --------------------------------------------------------------------------- #
# The oracle under a plain Tuner, and the best trials.
# --------------------------------------------------------------------------- #
def test_update_trial(tmp_path):
    """Mirrors tuner_test.py::test_update_trial.

    A subclass of `TwoStageOracle` that stops every trial in `update_trial`;
    each trial records one value of the objective (its best epoch's).
    """

    class MyOracle(TwoStageOracle):
        @keras_tuner.synchronized
        def update_trial(self, trial_id, metrics, step=0):
            super().update_trial(trial_id, metrics, step)
            trial = self.trials[trial_id]
            trial.status = "STOPPED"
            return trial

    oracle = MyOracle(
        objective="val_accuracy",
        stage1_epochs=1,
        stage2_epochs=1,
        stage2_trials=STAGE2_TRIALS,
    )
    tuner = keras_tuner.Tuner(
        oracle=oracle, hypermodel=build_model, directory=str(tmp_path)
    )
    tuner.search(X_TRAIN, Y_TRAIN, **FIT)
    assert len(oracle.trials) == SCHEDULE_LENGTH
    for trial in oracle.trials.values():
        assert len(trial.metrics.get_history("val_accuracy")) == 1


@kinds
@pytest.mark.parametrize("order", ["best first", "best last"])
def test_get_best_hyperparameters(kind, order, tmp_path):
    """Mirrors tuner_test.py::test_get_best_hyperparameters.

    Trials that the schedule did not make (no `tuner/stage`) are ranked by
    score, whatever their order: under `val_accuracy`, the 10 comes first.
    Keras Tuner's test inserts the 10 first; the reverse order is added.
    """
    pairs = [(1, 10), (2, 9)]
    if order == "best last":
        pairs.reverse()
    trials = {}
    for a, score in pairs:
        hp = keras_tuner.HyperParameters()
        hp.Fixed("a", a)
        trial = keras_tuner.engine.trial.Trial(hyperparameters=hp)
        trial.status = "COMPLETED"
        trial.score = score
        trials[trial.trial_id] = trial

    tuner = make_tuner(kind, tmp_path, objective="val_accuracy")
    tuner.oracle.trials = trials
    assert tuner.get_best_hyperparameters()[0]["a"] == 1
