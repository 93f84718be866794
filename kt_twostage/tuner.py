"""`TwoStageTuner`: a standard Keras Tuner `Tuner` driven by `TwoStageOracle`."""

from __future__ import annotations

import time
import warnings
import zlib

import keras
import keras_tuner

from kt_twostage import _io, schedule
from kt_twostage.oracle import EPOCHS_KEY, TwoStageOracle

# Arguments that belong to the oracle rather than to `keras_tuner.Tuner`.
_ORACLE_KWARGS = (
    "hyperparameters",
    "tune_new_entries",
    "allow_new_entries",
    "max_retries_per_trial",
    "max_consecutive_failed_trials",
)
_IDLE_WAIT_SECONDS = (0.05, 2.0)  # first wait, longest wait


class TwoStageTuner(keras_tuner.Tuner):
    """Keras Tuner `Tuner` that runs the two-stage schedule.

    Each trial trains for the epochs its stage asks for (`tuner/epochs` in the
    trial's values); an `epochs` passed to `search` is overridden, with a
    warning. Everything else is the standard `keras_tuner.Tuner`: checkpoints,
    `get_best_models()`, `results_summary()`, resuming with `overwrite=False`,
    and distributed tuning.

    Args:
        hypermodel: A `keras_tuner.HyperModel`, or a function that takes `hp`
            and returns a compiled model. It must declare the units
            hyperparameter (`Int` or `Choice`) and the learning-rate
            hyperparameter (`Float`).
        objective, units_hp, learning_rate_hp, stage1_epochs, stage2_epochs,
        stage2_trials, max_learning_rate, stage1_learning_rate, seed: as in
            `TwoStageOracle`. With a `seed`, Keras' global seed is set to
            `seed + trial number` before each trial, so that runs repeat.
        **kwargs: The oracle's `hyperparameters`, `tune_new_entries`,
            `allow_new_entries`, `max_retries_per_trial`,
            `max_consecutive_failed_trials`, and the standard
            `keras_tuner.Tuner` arguments (`directory`, `project_name`,
            `overwrite`, `executions_per_trial`, ...).

    Example:

    ```python
    tuner = TwoStageTuner(build_model, directory="runs", project_name="imdb")
    tuner.search(x_train, y_train, validation_split=0.2)
    best_hp = tuner.get_best_hyperparameters()[0]
    ```
    """

    def __init__(
        self,
        hypermodel=None,
        objective="val_accuracy",
        units_hp="units",
        learning_rate_hp="learning_rate",
        stage1_epochs=1,
        stage2_epochs=30,
        stage2_trials=11,
        max_learning_rate=None,
        stage1_learning_rate=None,
        seed=None,
        **kwargs,
    ):
        oracle_kwargs = {k: kwargs.pop(k) for k in _ORACLE_KWARGS if k in kwargs}
        oracle = TwoStageOracle(
            objective=objective,
            units_hp=units_hp,
            learning_rate_hp=learning_rate_hp,
            stage1_epochs=stage1_epochs,
            stage2_epochs=stage2_epochs,
            stage2_trials=stage2_trials,
            max_learning_rate=max_learning_rate,
            stage1_learning_rate=stage1_learning_rate,
            seed=seed,
            **oracle_kwargs,
        )
        self.seed = seed
        self._idle_wait = None
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)

    def run_trial(self, trial, *args, **kwargs):
        epochs = trial.hyperparameters.values[EPOCHS_KEY]
        requested = kwargs.get("epochs")
        if requested is not None and requested != epochs:
            warnings.warn(
                f"`epochs={requested}` passed to `search` is ignored: the "
                f"two-stage schedule trains this trial for {epochs} epochs "
                "(set `stage1_epochs` / `stage2_epochs` instead).",
                stacklevel=2,
            )
        kwargs["epochs"] = epochs
        # Models of earlier trials are not needed any more; dropping their
        # graphs keeps memory flat over a long search.
        keras.backend.clear_session()
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed + _trial_number(trial.trial_id))
        return super().run_trial(trial, *args, **kwargs)

    # Keras Tuner asks again at once after IDLE (a worker waiting for the end
    # of stage 1 would busy-spin); wait a little longer each time instead.
    def pre_create_trial(self):
        if self._idle_wait is not None:
            time.sleep(self._idle_wait)
            self._idle_wait = min(self._idle_wait * 2, _IDLE_WAIT_SECONDS[1])
        else:
            self._idle_wait = _IDLE_WAIT_SECONDS[0]
        super().pre_create_trial()

    def on_trial_begin(self, trial):
        self._idle_wait = None
        super().on_trial_begin(trial)

    def on_search_begin(self):
        self._idle_wait = None
        super().on_search_begin()

    def save(self):
        # As `BaseTuner.save`, but a kill never leaves a half-written file.
        if not self._is_worker():
            self.oracle.save()
        _io.atomic_write_json(self._get_tuner_fname(), self.get_state())

    def reload(self):
        try:
            super().reload()
        except (ValueError, KeyError, TypeError) as error:
            raise RuntimeError(
                f"Cannot resume the project in {self.project_dir}: the file "
                f"{self._get_tuner_fname()} is corrupt or truncated ({error}). "
                "Nothing was changed. To start over, pass `overwrite=True` (this "
                "deletes the project) or use a new `project_name`."
            ) from error
        if self._is_worker():
            return
        self.oracle.check_resumed_settings(self._declared_space())
        if self.oracle._schedule is not None:
            records = self.oracle.trial_records()
            print(
                "resuming: " + schedule.describe_progress(self.oracle.schedule, records)
            )

    def _declared_space(self):
        """The search space the current hypermodel declares (None if none)."""
        declared = self.oracle.declared_hyperparameters
        if self.hypermodel is None:
            return declared
        space = declared.copy() if declared else keras_tuner.HyperParameters()
        self.hypermodel.declare_hyperparameters(space)
        self.hypermodel.build(space)
        keras.backend.clear_session()
        return space

    def load_model(self, trial):
        # The checkpoint holds the optimizer's slots too; a freshly compiled
        # model has none yet, and Keras warns about it on every load.
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Skipping variable loading for optimizer"
            )
            return super().load_model(trial)


def _trial_number(trial_id):
    try:
        return int(trial_id)
    except ValueError:
        return zlib.crc32(trial_id.encode("utf-8"))
