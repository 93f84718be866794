"""`TwoStageTuner`: a standard Keras Tuner `Tuner` driven by `TwoStageOracle`."""

from __future__ import annotations

import contextlib
import copy
import gc
import os
import time
import warnings
import zlib

import keras
import keras_tuner
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import tuner_utils

from kt_twostage import _io, checkpoints, distributed, schedule
from kt_twostage._validation import check_positive_int
from kt_twostage.oracle import EPOCHS_KEY, STAGE_KEY, TwoStageOracle

# Arguments that belong to the oracle rather than to `keras_tuner.Tuner`.
_ORACLE_KWARGS = (
    "hyperparameters",
    "tune_new_entries",
    "allow_new_entries",
    "max_retries_per_trial",
    "max_consecutive_failed_trials",
    "stage2_parallelism",
)
_IDLE_WAIT_SECONDS = (0.05, 2.0)  # first wait, longest wait
_NOT_SAVED = object()


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
        stage2_patience: Integer or `None`. With an integer, a stage-2 trial
            stops after that many epochs without improvement of the
            objective (`keras.callbacks.EarlyStopping`); its score is still
            its best epoch's. Stage 1 is never stopped early. It changes the
            scores, hence the stage-2 learning rates, so a project is only
            resumed with the value it was started with. Defaults to `None`:
            every trial trains all its epochs, as in the reference.
        keep_checkpoints: Integer or `None`. With an integer `K`, the
            best-epoch checkpoint of a trial is deleted as soon as `K`
            completed trials rank ahead of it (in `get_best_trials` order),
            since from then on it can never be among the best `K` (see
            `kt_twostage.checkpoints`): the best `K` checkpoints, and those
            of running, retried and pending speculative trials, are always
            kept, and `get_best_models(num_models)` works for
            `num_models <= K` (larger is a `ValueError`). Only the weights
            file goes; the trial's record stays, and resuming needs none of
            the deleted files.
            Deletion is done by the process that holds the oracle (a
            standalone tuner, or the chief in distributed mode, which needs
            the workers' project directory to be shared with it). Defaults
            to `None`: every checkpoint is kept, as in Keras Tuner.
        **kwargs: The oracle's `hyperparameters`, `tune_new_entries`,
            `allow_new_entries`, `max_retries_per_trial`,
            `max_consecutive_failed_trials`, `stage2_parallelism` (how many
            stage-2 trials distributed workers may run at once, speculatively;
            see `TwoStageOracle`), and the standard
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
        stage2_patience=None,
        keep_checkpoints=None,
        **kwargs,
    ):
        if stage2_patience is not None:
            stage2_patience = check_positive_int("stage2_patience", stage2_patience)
        self.stage2_patience = stage2_patience
        self.keep_checkpoints = checkpoints.check_keep_checkpoints(keep_checkpoints)
        # Epochs each trial of this process trained (early stopping makes it
        # differ from `tuner/epochs`); saved with the tuner's state.
        self.trained_epochs = {}
        self._saved_stage2_patience = _NOT_SAVED
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
        if self._is_worker():
            # Wait for a chief that restarts instead of failing.
            distributed.make_client_resilient(self.oracle)

    def run_trial(self, trial, *args, **kwargs):
        values = trial.hyperparameters.values
        epochs = values[EPOCHS_KEY]
        requested = kwargs.get("epochs")
        if requested is not None and requested != epochs:
            warnings.warn(
                f"`epochs={requested}` passed to `search` is ignored: the "
                f"two-stage schedule trains this trial for {epochs} epochs "
                "(set `stage1_epochs` / `stage2_epochs` instead).",
                stacklevel=2,
            )
        kwargs["epochs"] = epochs
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed + _trial_number(trial.trial_id))
        # As `keras_tuner.Tuner.run_trial`, with three changes: the checkpoint
        # holds the model's weights only (`SaveBestWeights`), the per-batch
        # `TunerCallback` is left out unless a subclass overrides the
        # per-batch or per-epoch hooks (it makes Keras run the batch hooks
        # synchronously, waiting for every step), and stage 2 may stop early.
        # Models of earlier trials are dropped by `_try_build`
        # (`clear_session`), which keeps memory flat over a long search.
        checkpoint = checkpoints.SaveBestWeights(
            objective=self.oracle.objective,
            filepath=self._get_checkpoint_fname(trial.trial_id),
        )
        original_callbacks = kwargs.pop("callbacks", None) or []
        extra_callbacks = []
        if self._uses_tuner_hooks():
            extra_callbacks.append(tuner_utils.TunerCallback(self, trial))
        if (
            self.stage2_patience is not None
            and values.get(STAGE_KEY) == schedule.LEARNING_RATE_STAGE
        ):
            extra_callbacks.append(self._early_stopping())
        histories = []
        for execution in range(self.executions_per_trial):
            copied_kwargs = copy.copy(kwargs)
            callbacks = self._deepcopy_callbacks(original_callbacks)
            self._configure_tensorboard_dir(callbacks, trial, execution)
            callbacks += [*extra_callbacks, checkpoint]
            copied_kwargs["callbacks"] = callbacks
            histories.append(self._build_and_fit_model(trial, *args, **copied_kwargs))
        self.trained_epochs[trial.trial_id] = sum(
            len(history.epoch) for history in histories if hasattr(history, "epoch")
        )
        return histories

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
        # Keras Tuner reloads a project only if `tuner0.json` exists, which it
        # first writes when a trial ends: a kill right after the first trial
        # ended would otherwise start over and run that trial again.
        if not self._is_worker():
            self.save()
        # A resumed project may hold checkpoints that can go.
        checkpoints.delete_unneeded(self)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        checkpoints.delete_unneeded(self)

    def search(self, *fit_args, **fit_kwargs):
        if self.keep_checkpoints is not None and dist_utils.is_chief_oracle():
            checkpoints.delete_when_trials_end(self)
        if dist_utils.is_chief_oracle():
            # As Keras Tuner's chief, but it exits as soon as every worker has
            # been told to stop (Keras Tuner's checks every 20 seconds).
            if "verbose" in fit_kwargs:
                self.oracle.verbose = fit_kwargs["verbose"]
            self.save()
            distributed.serve_oracle(self.oracle)
            return
        with _long_lived_objects_frozen():
            super().search(*fit_args, **fit_kwargs)

    def _get_tuner_fname(self):
        # The chief keeps the standalone tuner's file, so that a project is
        # resumed the same way with workers or without (Keras Tuner reloads a
        # project only if this tuner's file exists).
        if dist_utils.is_chief_oracle():
            return os.path.join(str(self.project_dir), "tuner0.json")
        return super()._get_tuner_fname()

    def _uses_tuner_hooks(self):
        """Whether a subclass overrides `Tuner`'s per-epoch or per-batch hooks."""
        return any(
            getattr(type(self), name) is not getattr(keras_tuner.Tuner, name)
            for name in (
                "on_epoch_begin",
                "on_batch_begin",
                "on_batch_end",
                "on_epoch_end",
            )
        )

    def _early_stopping(self):
        objective = self.oracle.objective
        return keras.callbacks.EarlyStopping(
            monitor=objective.name,
            mode=objective.direction,
            patience=self.stage2_patience,
        )

    def get_state(self):
        state = super().get_state()
        state["stage2_patience"] = self.stage2_patience
        state["trained_epochs"] = dict(self.trained_epochs)
        return state

    def set_state(self, state):
        super().set_state(state)
        # A project started before `stage2_patience` existed had none.
        self._saved_stage2_patience = state.get("stage2_patience")
        self.trained_epochs = {
            **state.get("trained_epochs", {}),
            **self.trained_epochs,
        }

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
        saved = self._saved_stage2_patience
        if saved is not _NOT_SAVED and saved != self.stage2_patience:
            raise ValueError(
                f"Cannot resume the project in {self.project_dir} with other "
                "schedule settings than it was started with: stage2_patience: "
                f"project has {saved!r}, now {self.stage2_patience!r}. Early "
                "stopping changes the stage-2 scores, hence the learning rates "
                "that follow. Resume with the original settings, or start over "
                "with `overwrite=True` (this deletes the project) or a new "
                "`project_name`."
            )
        if self.oracle._schedule is not None:
            print("resuming: " + self.oracle.describe_progress())

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

    def get_best_models(self, num_models=1):
        if self.keep_checkpoints is not None and num_models > self.keep_checkpoints:
            raise ValueError(
                f"Received num_models={num_models}, but this tuner keeps the "
                f"checkpoints of the best {self.keep_checkpoints} trials only "
                f"(`keep_checkpoints={self.keep_checkpoints}`): the others are "
                "deleted once they can no longer be among the best. Ask for at "
                f"most {self.keep_checkpoints} models, or use "
                f"`get_best_hyperparameters({num_models})` and train those "
                "models again. To keep every checkpoint, create the tuner with "
                "`keep_checkpoints=None` (the default) before searching."
            )
        return super().get_best_models(num_models)

    def load_model(self, trial):
        path = checkpoints.checkpoint_path(self, trial.trial_id)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"Cannot load the model of trial {trial.trial_id}: its checkpoint "
                f"{path} does not exist (status {trial.status}). With "
                "`keep_checkpoints=K`, only the best K trials keep theirs; a "
                "trial that failed before its first epoch ended has none. Use "
                "its hyperparameters (`trial.hyperparameters`) to train the "
                "model again."
            )
        # Checkpoints written by Keras Tuner itself (before `SaveBestWeights`)
        # hold the optimizer's slots too; a freshly compiled model has none
        # yet, and Keras warns about it on every load.
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Skipping variable loading for optimizer"
            )
            return super().load_model(trial)


@contextlib.contextmanager
def _long_lived_objects_frozen():
    """Leave the objects alive when the search starts out of garbage collections.

    Keras Tuner runs two full garbage collections before every trial
    (`clear_session()` and `gc.collect()` in `Tuner._try_build`), and Python
    runs more while a model is traced. Each walks every object TensorFlow and
    Keras made at import (about 400,000): 0.2 to 0.4 s each on 2 CPU cores, a
    few percent of a short trial. `gc.freeze()` moves the objects alive now out
    of those walks; whatever the trials create is collected as before, so
    memory stays flat. `gc.unfreeze()` at the end puts them back. If the
    process froze objects itself, it is left alone.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _trial_number(trial_id):
    try:
        return int(trial_id)
    except ValueError:
        return zlib.crc32(trial_id.encode("utf-8"))
