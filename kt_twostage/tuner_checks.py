"""The checks and errors of `TwoStageTuner`, said in the schedule's words.

Each takes plain values, so the tuner stays a list of Keras Tuner hooks.
"""

from __future__ import annotations

import warnings

import keras_tuner

from kt_twostage.schedule import EPOCHS_KEY

# The reference's objective, used for Keras models when none is given.
DEFAULT_OBJECTIVE = "val_accuracy"
# `TwoStageTuner`'s remembered `stage2_patience` before a project is reloaded.
NOT_SAVED = object()


def check_tuner_arguments(hypermodel, kwargs, *, overrides_run_trial):
    """Keras Tuner's checks, said in the two-stage schedule's words.

    `overrides_run_trial`: whether the tuner's class defines its own
    `run_trial` (then it may declare the search space without a hypermodel).
    """
    if hypermodel is None and not overrides_run_trial:
        # Keras Tuner's own words (`Tuner.__init__`), which this class's
        # `run_trial` would otherwise skip.
        raise ValueError(
            "Received `hypermodel=None`. We only allow not specifying "
            "`hypermodel` if the user defines the search space in "
            "`Tuner.run_trial()` by subclassing a `Tuner` class without "
            "using a `HyperModel` instance."
        )
    if "max_trials" in kwargs:
        raise ValueError(
            f"Received max_trials={kwargs['max_trials']!r}, but the two-stage "
            "schedule sets the number of trials itself: one per value of the "
            "units hyperparameter, then `stage2_trials`. Remove `max_trials`; "
            "to change the length, change the units grid or `stage2_trials`."
        )


def check_patience_objective(objective):
    """Early stopping watches one metric that Keras logs every epoch."""
    if isinstance(objective, (list, tuple)):
        raise ValueError(
            "Received `stage2_patience` with a list of objectives: early "
            "stopping watches one metric that Keras logs every epoch. Name one "
            "objective, or leave `stage2_patience=None`."
        )


def check_results_have_a_history(results):
    """With no objective given, refuse a `fit` that returns a number."""
    for result in results if isinstance(results, list) else [results]:
        if isinstance(result, (int, float)) or hasattr(result, "dtype"):
            raise keras_tuner.errors.FatalValueError(
                f"The trial's `fit` (or `run_trial`) returned a single number "
                f"({result!r}), "
                "and no `objective` was given. TwoStageTuner's default objective "
                f"is {DEFAULT_OBJECTIVE!r}, maximised, for models trained with "
                "Keras' `fit`; Keras Tuner's built-in tuners would minimise the "
                "number instead. Say which: e.g. `objective=keras_tuner."
                'Objective("loss", direction="min")` (and return '
                '`{"loss": value}`, or the number).'
            )


def scheduled_epochs(trial, requested):
    """The epochs of `trial`'s stage; warn if `search` asked for others."""
    epochs = trial.hyperparameters.values[EPOCHS_KEY]
    if requested is not None and requested != epochs:
        warnings.warn(
            f"`epochs={requested}` passed to `search` is ignored: the two-stage "
            f"schedule trains this trial for {epochs} epochs (set "
            "`stage1_epochs` / `stage2_epochs` instead).",
            stacklevel=3,
        )
    return epochs


def check_resumed_patience(project_dir, saved, now):
    """A project resumes only with the `stage2_patience` it started with."""
    if saved is NOT_SAVED or saved == now:
        return
    raise ValueError(
        f"Cannot resume the project in {project_dir} with other "
        "schedule settings than it was started with: stage2_patience: "
        f"project has {saved!r}, now {now!r}. Early "
        "stopping changes the stage-2 scores, hence the learning rates "
        "that follow. Resume with the original settings, or start over "
        "with `overwrite=True` (this deletes the project) or a new "
        "`project_name`."
    )


def corrupt_tuner_file(tuner, error) -> RuntimeError:
    """The error for a tuner file that `reload` cannot read."""
    return RuntimeError(
        f"Cannot resume the project in {tuner.project_dir}: the file "
        f"{tuner._get_tuner_fname()} is corrupt or truncated ({error}). "
        "Nothing was changed. To start over, pass `overwrite=True` (this "
        "deletes the project) or use a new `project_name`."
    )
