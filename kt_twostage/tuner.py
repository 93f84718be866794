"""`TwoStageTuner`: a standard Keras Tuner `Tuner` driven by `TwoStageOracle`."""

from __future__ import annotations

import copy
import time
import warnings

import keras
import keras_tuner
from keras_tuner.src.engine import tuner_utils

from kt_twostage import (
    _io,
    checkpoints,
    console,
    disk_full,
    distributed,
    interrupt,
    reproducibility,
    tensorboard_logs,
    trial_memory,
    tuner_checks,
)
from kt_twostage._gc import long_lived_objects_frozen
from kt_twostage.oracle import TwoStageOracle
from kt_twostage.schedule import PATIENCE_KEY
from kt_twostage.search_space import declared_space

# Arguments that belong to the oracle rather than to `keras_tuner.Tuner`.
_ORACLE_KWARGS = (
    "hyperparameters",
    "tune_new_entries",
    "allow_new_entries",
    "max_retries_per_trial",
    "max_consecutive_failed_trials",
    "stage2_parallelism",
    "reinvest_stopped_epochs",
    "stage2_rule",
    "worker_timeout",
)
DEFAULT_OBJECTIVE = tuner_checks.DEFAULT_OBJECTIVE


class TwoStageTuner(keras_tuner.Tuner):
    """Keras Tuner `Tuner` that runs the two-stage schedule.

    Each trial trains for the epochs its stage asks for (`tuner/epochs` in the
    trial's values); an `epochs` passed to `search` is overridden, with a
    warning. Everything else is the standard `keras_tuner.Tuner`: checkpoints,
    `get_best_models()`, `results_summary()`, resuming with `overwrite=False`,
    and distributed tuning. The length of the search is the schedule's (the
    units grid plus `stage2_trials`), so there is no `max_trials`.

    The search prints one line per trial, with the best so far per stage
    (`kt_twostage.console`), when `verbose` is 1 or more. Ctrl-C (SIGINT)
    during `search` stops it at the end of the current batch, or between
    trials: the cut-short trial stays unfinished, the project is saved, and
    `kt_twostage.interrupt.SearchInterrupted` (a `KeyboardInterrupt`) is
    raised; a search with `overwrite=False` resumes it. A second Ctrl-C
    raises at once.

    Args:
        hypermodel: A `keras_tuner.HyperModel`, or a function that takes `hp`
            and returns a compiled model. It must declare the units
            hyperparameter (`Int` or `Choice`) and the learning-rate
            hyperparameter (`Float`). Required unless a subclass overrides
            `run_trial`.
        objective: String, `keras_tuner.Objective` or a list of them, as in
            `TwoStageOracle`. Defaults to `None`: `"val_accuracy"` (maximised)
            for models trained with Keras' `fit`, as in the reference; a
            hypermodel whose `fit` returns a single number must name its
            objective (Keras Tuner's built-in tuners would minimise that
            number), and is stopped with an error saying so.
        units_hp, learning_rate_hp, stage1_epochs, stage2_epochs,
        stage2_trials, max_learning_rate, stage1_learning_rate, seed: as in
            `TwoStageOracle`. With a `seed`, Keras' global seed is set to
            `seed + trial number` before each trial, so that runs repeat.
        stage2_patience: Integer or `None`. With an integer, a stage-2 trial
            stops after that many epochs without improvement of the
            objective (`keras.callbacks.EarlyStopping`); its score is still
            its best epoch's. Stage 1 is never stopped early. It changes the
            scores, hence the stage-2 learning rates, so a project is only
            resumed with the value it was started with. Stage-2 trials carry
            it in `tuner/patience` (workers follow the chief's). Defaults to
            `None`: every trial trains all its epochs, as in the reference.
        keep_checkpoints: Integer or `None`. With an integer `K`, the
            best-epoch checkpoint of a trial is deleted as soon as `K`
            completed trials rank ahead of it, since from then on it can never
            be among the best `K` (see `kt_twostage.checkpoints`);
            `get_best_models(num_models)` works for `num_models <= K`. Only
            the weights file goes; the trial's record stays. Deletion is done
            by the process that holds the oracle (a standalone tuner, or the
            chief, which then needs the workers' project directory). Defaults
            to `None`: every checkpoint is kept, as in Keras Tuner.
        **kwargs: The oracle's `hyperparameters`, `tune_new_entries`,
            `allow_new_entries`, `max_retries_per_trial`,
            `max_consecutive_failed_trials`, `stage2_parallelism`,
            `reinvest_stopped_epochs`, `stage2_rule`, `worker_timeout` (see
            `TwoStageOracle`),
            and the standard
            `keras_tuner.Tuner` arguments (`directory`, `project_name`,
            `overwrite`, `executions_per_trial`, ...).

    Example:

    ```python
    import keras
    import numpy as np
    from kt_twostage import TwoStageTuner

    x_train = np.random.rand(200, 8).astype("float32")
    y_train = (x_train.sum(axis=1) > 4).astype("float32")


    def build_model(hp):
        width = hp.Choice("width", [8, 16])
        lr = hp.Float("lr", 1e-4, 0.02, sampling="log", default=1e-3)
        model = keras.Sequential([
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
        model.compile(
            optimizer=keras.optimizers.RMSprop(lr),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        return model


    tuner = TwoStageTuner(
        build_model, units_hp="width", learning_rate_hp="lr",
        stage2_trials=2, stage2_epochs=2, directory="runs",
    )
    tuner.search(x_train, y_train, validation_split=0.2)
    best_hp = tuner.get_best_hyperparameters()[0]
    ```
    """

    def __init__(
        self,
        hypermodel=None,
        objective=None,
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
        tuner_checks.check_tuner_arguments(
            hypermodel,
            kwargs,
            overrides_run_trial=type(self).run_trial is not TwoStageTuner.run_trial,
        )
        self.objective_given = objective is not None
        objective = objective if self.objective_given else DEFAULT_OBJECTIVE
        if stage2_patience is not None:
            tuner_checks.check_patience_objective(objective)
        self.stage2_patience = stage2_patience
        self.keep_checkpoints = checkpoints.check_keep_checkpoints(keep_checkpoints)
        self.seed = seed
        # Per trial of this process: epochs trained (early stopping makes it
        # differ from `tuner/epochs`) and wall seconds; saved in the tuner's
        # state, so that reports show them for any project.
        self.trained_epochs = {}
        self.trial_seconds = {}
        self._trial_start = None
        self._saved_stage2_patience = tuner_checks.NOT_SAVED
        self._idle = distributed.IdleBackoff()
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
            stage2_patience=stage2_patience,
            **{k: kwargs.pop(k) for k in _ORACLE_KWARGS if k in kwargs},
        )
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        # One line per trial instead of Keras Tuner's tables (`console`).
        # (On a worker `self.oracle` is now Keras Tuner's client: the display
        # goes on the oracle itself.)
        console.install(oracle, epochs_of=self._trained_epochs_of)
        distributed.prepare_worker(self)

    def _trained_epochs_of(self, trial_id):
        return self.trained_epochs.get(trial_id)

    def run_trial(self, trial, *args, **kwargs):
        kwargs["epochs"] = tuner_checks.scheduled_epochs(trial, kwargs.get("epochs"))
        if self.seed is not None:
            keras.utils.set_random_seed(
                reproducibility.trial_seed(self.seed, trial.trial_id)
            )
        # As `keras_tuner.Tuner.run_trial`, with three changes: the checkpoint
        # holds the model's weights only (`SaveBestWeights`), the per-batch
        # `TunerCallback` is left out unless a subclass overrides the hooks
        # (it makes Keras wait for every step), and stage 2 may stop early.
        checkpoint = checkpoints.SaveBestWeights(
            objective=self.oracle.objective,
            filepath=self._get_checkpoint_fname(trial.trial_id),
        )
        original_callbacks = kwargs.pop("callbacks", None) or []
        histories = []
        for execution in range(self.executions_per_trial):
            copied_kwargs = copy.copy(kwargs)
            callbacks = self._deepcopy_callbacks(original_callbacks)
            self._configure_tensorboard_dir(callbacks, trial, execution)
            callbacks += [*self._extra_callbacks(trial), checkpoint]
            callbacks.append(interrupt.stop_at_interrupt())
            copied_kwargs["callbacks"] = callbacks
            histories.append(self._build_and_fit_model(trial, *args, **copied_kwargs))
            # A trial that Ctrl-C cut short stays unfinished (resume reruns it).
            interrupt.raise_if_requested()
        self.trained_epochs[trial.trial_id] = sum(
            len(history.epoch) for history in histories if hasattr(history, "epoch")
        )
        return histories

    def _run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        # A full disk is no trial's fault: Keras Tuner would count the trial
        # as failed and go on; it stops the search instead (`disk_full`).
        # What the trial leaves in TensorFlow's or JAX's caches goes with it
        # (`trial_memory`).
        with (
            disk_full.stop_search_when_disk_full(),
            trial_memory.released_after_trial(),
        ):
            self._run_and_report_trial(trial, *fit_args, **fit_kwargs)

    def _run_and_report_trial(self, trial, *fit_args, **fit_kwargs):
        # As `BaseTuner._run_and_update_trial`, with one check between running
        # the trial and reporting it (also for a subclass's `run_trial`): with
        # no objective given, a bare number is refused, never maximised.
        results = self.run_trial(trial, *fit_args, **fit_kwargs)
        if not self.objective_given:
            tuner_checks.check_results_have_a_history(results)
        objective = self.oracle.objective
        if self.oracle.get_trial(trial.trial_id).metrics.exists(objective.name):
            # Keras Tuner's own warning, word for word.
            warnings.warn(
                "The use case of calling "
                "`self.oracle.update_trial(trial_id, metrics)` "
                "in `Tuner.run_trial()` to report the metrics is deprecated, "
                "and will be removed in the future."
                "Please remove the call and do 'return metrics' "
                "in `Tuner.run_trial()` instead. ",
                DeprecationWarning,
                stacklevel=2,
            )
            return
        tuner_utils.validate_trial_results(results, objective, "Tuner.run_trial()")
        self.oracle.update_trial(
            trial.trial_id,
            tuner_utils.convert_to_metrics_dict(results, objective),
            step=tuner_utils.get_best_step(results, objective),
        )

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        # Keras Tuner's, with `tuner/stage` and `tuner/epochs` in the HParams.
        tensorboard_logs.configure_tensorboard(self, callbacks, trial, execution)

    def _extra_callbacks(self, trial):
        # First: a worker that lost its trial stops before any checkpoint.
        callbacks = distributed.lease_callbacks(self, trial)
        if self._uses_tuner_hooks():
            callbacks.append(tuner_utils.TunerCallback(self, trial))
        patience = trial.hyperparameters.values.get(PATIENCE_KEY)
        if patience is not None:
            callbacks.append(self._early_stopping(patience))
        return callbacks

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

    def _early_stopping(self, patience):
        objective = self.oracle.objective
        return keras.callbacks.EarlyStopping(
            monitor=objective.name,
            mode=objective.direction,
            patience=patience,
        )

    def pre_create_trial(self):
        interrupt.raise_if_requested()  # Ctrl-C between trials
        self._idle.wait()
        super().pre_create_trial()

    def on_trial_begin(self, trial):
        self._idle.reset()
        self._trial_start = time.perf_counter()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        if self._trial_start is not None:
            self.trial_seconds[trial.trial_id] = time.perf_counter() - self._trial_start
        super().on_trial_end(trial)
        checkpoints.delete_unneeded(self)

    def on_search_begin(self):
        self._idle.reset()
        super().on_search_begin()
        # Keras Tuner reloads a project only if `tuner0.json` exists, which it
        # first writes when a trial ends: a kill right after the first trial
        # ended would otherwise start over and run that trial again.
        if not self._is_worker():
            self.save()
        # A resumed project may hold checkpoints that can go.
        checkpoints.delete_unneeded(self)

    def search(self, *fit_args, **fit_kwargs):
        if distributed.is_chief():
            if self.keep_checkpoints is not None:
                checkpoints.delete_when_trials_end(self)
            distributed.run_chief(self, fit_kwargs.get("verbose"))
            return
        with (
            long_lived_objects_frozen(),
            console.retracing_warnings_hidden(),
            interrupt.stops_at_safe_points(),
        ):
            try:
                super().search(*fit_args, **fit_kwargs)
            except KeyboardInterrupt:
                self._save_interrupted()

    def _save_interrupted(self):
        """After Ctrl-C: save what is done, then raise `SearchInterrupted`."""
        if not self._is_worker():
            self.save()
        progress = (
            self.oracle.describe_progress()
            if self.oracle.schedule_resolved
            else "no trial done"
        )
        raise interrupt.SearchInterrupted(
            f"{progress}, kept in {self.project_dir}"
        ) from None

    def _get_tuner_fname(self):
        return distributed.tuner_file(self, super()._get_tuner_fname())

    def get_state(self):
        state = super().get_state()
        state["stage2_patience"] = self.stage2_patience
        state["trained_epochs"] = dict(self.trained_epochs)
        state["trial_seconds"] = dict(self.trial_seconds)
        return state

    def set_state(self, state):
        super().set_state(state)
        # A project started before `stage2_patience` existed had none.
        self._saved_stage2_patience = state.get("stage2_patience")
        for name in ("trained_epochs", "trial_seconds"):
            setattr(self, name, {**state.get(name, {}), **getattr(self, name)})

    def save(self):
        # As `BaseTuner.save`, but a kill never leaves a half-written file.
        if not self._is_worker():
            self.oracle.save()
        _io.atomic_write_json(self._get_tuner_fname(), self.get_state())

    def reload(self):
        try:
            super().reload()
        except (ValueError, KeyError, TypeError) as error:
            raise tuner_checks.corrupt_tuner_file(self, error) from error
        if self._is_worker():
            return
        declared = self.oracle.declared_hyperparameters
        if self.hypermodel is not None:
            declared = declared_space(self.hypermodel, declared)
        self.oracle.check_resumed_settings(declared)
        tuner_checks.check_resumed_patience(
            self.project_dir, self._saved_stage2_patience, self.stage2_patience
        )
        if self.oracle.schedule_resolved:
            print("resuming: " + self.oracle.describe_progress())

    def get_best_models(self, num_models=1):
        checkpoints.check_num_models(self.keep_checkpoints, num_models)
        return super().get_best_models(num_models)

    def load_model(self, trial):
        # Checkpoints written by Keras Tuner itself (before `SaveBestWeights`)
        # hold the optimizer's slots too; a freshly compiled model has none
        # yet, and Keras warns about it on every load.
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="Skipping variable loading for optimizer"
            )
            try:
                # The model loads its own weights (it may override
                # `load_weights`), as with Keras Tuner's tuners.
                return super().load_model(trial)
            except (OSError, ValueError) as error:
                checkpoints.check_checkpoint_exists(self, trial, error)
                raise
