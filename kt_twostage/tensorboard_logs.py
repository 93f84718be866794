"""TensorBoard logs of a search: one run per trial, with its HParams.

Keras Tuner gives each trial's `keras.callbacks.TensorBoard` its own log
folder, `<log_dir>/<trial id>/execution<n>`, and adds TensorBoard's HParams
callback with the trial's hyperparameters. The two-stage schedule's own
values, `tuner/stage` and `tuner/epochs`, are not hyperparameters of the
space, so Keras Tuner leaves them out; they are added here, so that the
HParams view can tell stage 1 from stage 2. As in Keras Tuner, only with the
TensorFlow backend (TensorBoard's HParams callback needs TensorFlow).
"""

from __future__ import annotations

import keras
from keras_tuner.src.engine import tuner_utils

from kt_twostage.schedule.config import EPOCHS_KEY, STAGE_KEY


def schedule_hparams(trial, hparams_api) -> dict:
    """`{HParam: value}` of the trial's stage and epochs."""
    values = trial.hyperparameters.values
    hparams = {}
    if STAGE_KEY in values:
        hparams[hparams_api.HParam(STAGE_KEY, hparams_api.Discrete([1, 2]))] = values[
            STAGE_KEY
        ]
    if EPOCHS_KEY in values:
        hparams[hparams_api.HParam(EPOCHS_KEY)] = values[EPOCHS_KEY]
    return hparams


def configure_tensorboard(tuner, callbacks, trial, execution=0):
    """As Keras Tuner's `Tuner._configure_tensorboard_dir`, with the trial's
    stage and epochs among the HParams: each `TensorBoard` callback in
    `callbacks` writes to the trial's own folder, and an HParams callback is
    appended for it."""
    if keras.backend.backend() != "tensorflow":
        return
    from tensorboard.plugins.hparams import api as hparams_api

    for callback in list(callbacks):
        if callback.__class__.__name__ != "TensorBoard":
            continue
        log_dir = tuner._get_tensorboard_dir(
            callback.log_dir, trial.trial_id, execution
        )
        callback.log_dir = log_dir
        hparams = tuner_utils.convert_hyperparams_to_hparams(
            trial.hyperparameters, hparams_api
        )
        hparams.update(schedule_hparams(trial, hparams_api))
        callbacks.append(
            hparams_api.KerasCallback(
                writer=log_dir, hparams=hparams, trial_id=trial.trial_id
            )
        )
