"""The IMDB reference search: data, hypermodel, tuner and final test, in one call.

Used by `kt-twostage search` and the examples; the library pieces it joins
(`load_imdb`, `ImdbLstmHyperModel`, `TwoStageTuner`) know nothing of it.
"""

from __future__ import annotations

import dataclasses
import os

from kt_twostage import _io, console
from kt_twostage.imdb.data import ImdbData, load_imdb
from kt_twostage.imdb.hypermodel import ImdbLstmHyperModel
from kt_twostage.imdb.settings import ImdbSearchSettings
from kt_twostage.tuner import TwoStageTuner

RESULT_FILE = "result.json"


def build_tuner(settings: ImdbSearchSettings, **tuner_kwargs) -> TwoStageTuner:
    """The `TwoStageTuner` of an IMDB search (no data loaded)."""
    hypermodel = ImdbLstmHyperModel(
        num_words=settings.num_words,
        units=(settings.units_min, settings.units_max, settings.units_step),
        max_learning_rate=settings.max_learning_rate,
        default_learning_rate=settings.stage1_learning_rate,
        mixed_precision=settings.mixed_precision,
    )
    return TwoStageTuner(
        hypermodel,
        objective="val_accuracy",
        stage1_epochs=settings.stage1_epochs,
        stage2_epochs=settings.stage2_epochs,
        stage2_trials=settings.stage2_trials,
        max_learning_rate=settings.max_learning_rate,
        stage1_learning_rate=settings.stage1_learning_rate,
        seed=settings.seed,
        stage2_patience=settings.stage2_patience,
        keep_checkpoints=settings.keep_checkpoints,
        stage2_rule=settings.stage2_rule,
        reinvest_stopped_epochs=settings.reinvest_stopped_epochs,
        directory=settings.directory,
        project_name=settings.project_name,
        overwrite=settings.overwrite,
        **tuner_kwargs,
    )


def load_data(settings: ImdbSearchSettings) -> ImdbData:
    """The tokenized reviews of an IMDB search (`load_imdb` with its settings)."""
    return load_imdb(
        settings.data, num_words=settings.num_words, max_length=settings.max_length
    )


def run_search(
    tuner: TwoStageTuner, settings: ImdbSearchSettings, x, y, **fit_kwargs
) -> TwoStageTuner:
    """`tuner.search(x, y)` with the settings' validation split, batch size
    and verbosity, one line per trial whatever the verbosity; returns
    `tuner`."""
    console.show_every_trial(tuner)
    tuner.search(
        x,
        y,
        validation_split=settings.validation_split,
        batch_size=settings.batch_size,
        verbose=settings.verbose,
        **fit_kwargs,
    )
    return tuner


def run_imdb_search(settings: ImdbSearchSettings, callbacks=(), **tuner_kwargs) -> dict:
    """Run (or resume) the search, test the chosen model once, save the result.

    `callbacks` are Keras callbacks for every trial's `fit` (for example
    `keras.callbacks.TensorBoard`).

    Returns:
        A dict with the chosen `units` and `learning_rate`, its validation
        score, the test accuracy and loss, and where it was written.
    """
    data = load_data(settings)
    tuner = build_tuner(settings, **tuner_kwargs)
    fit_kwargs = {"callbacks": list(callbacks)} if callbacks else {}
    run_search(tuner, settings, data.x_train, data.y_train, **fit_kwargs)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    model = tuner.get_best_models(1)[0]
    test_loss, test_accuracy = model.evaluate(
        data.x_test, data.y_test, batch_size=settings.batch_size, verbose=0
    )
    values = best_trial.hyperparameters.values
    result = {
        "units": values["units"],
        "learning_rate": values["learning_rate"],
        "stage": values["tuner/stage"],
        "trial_id": best_trial.trial_id,
        "objective": "val_accuracy",
        "validation_score": best_trial.score,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "train_reviews": int(len(data.x_train)),
        "test_reviews": int(len(data.x_test)),
        # Epochs the trials trained, and the epochs their stages scheduled
        # (`stage2_patience` makes the first smaller).
        "trained_epochs": int(sum(tuner.trained_epochs.values())),
        "scheduled_epochs": int(
            sum(
                tuner.oracle.trials[trial_id].hyperparameters.values["tuner/epochs"]
                for trial_id in tuner.trained_epochs
                if trial_id in tuner.oracle.trials
            )
        ),
        "settings": dataclasses.asdict(settings),
    }
    path = os.path.join(tuner.project_dir, RESULT_FILE)
    _io.atomic_write_json(path, result)
    result["path"] = path
    return result
