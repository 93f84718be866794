"""`TwoStageOracle`: the two-stage schedule as a Keras Tuner `Oracle`."""

from __future__ import annotations

import glob
import os

import keras_tuner
from keras_tuner.engine import hyperparameters as hp_module
from keras_tuner.engine import trial as trial_module

from kt_twostage import _io, schedule
from kt_twostage._validation import (
    check_positive_float,
    check_positive_int,
    check_stage1_not_above_max,
)

STAGE_KEY = "tuner/stage"
EPOCHS_KEY = "tuner/epochs"

_ENDED_STATUSES = (
    trial_module.TrialStatus.COMPLETED,
    trial_module.TrialStatus.FAILED,
)


class TwoStageOracle(keras_tuner.Oracle):
    """Architecture first, then the learning rate, as a Keras Tuner `Oracle`.

    Stage 1 trains every value of the `units_hp` hyperparameter, in order, for
    `stage1_epochs` epochs at `stage1_learning_rate`, and keeps the best.
    Stage 2 trains `stage2_trials` trials of `stage2_epochs` epochs with that
    architecture. The first uses `max_learning_rate`; after a trial that
    improved on the previous scored stage-2 trial (the first scored one counts
    as improved, a failed one as "too high") the learning rate is halved,
    otherwise it moves halfway back toward `max_learning_rate`. The best
    stage-2 trial is the result.

    Every trial's values carry `tuner/stage` and `tuner/epochs`, so that a
    `Tuner` (also a distributed worker) knows how long to train. The position
    in the schedule is recomputed from the recorded trials, so a resumed search
    continues exactly where it stopped.

    Args:
        objective: String or `keras_tuner.Objective`, the metric to optimize.
            Defaults to `"val_accuracy"`.
        units_hp: String, the name of the architecture hyperparameter (an
            `Int` or a `Choice`). Defaults to `"units"`.
        learning_rate_hp: String, the name of the learning-rate hyperparameter
            (a `Float`). Defaults to `"learning_rate"`.
        stage1_epochs: Integer, epochs of each stage-1 trial. Defaults to `1`.
        stage2_epochs: Integer, epochs of each stage-2 trial. Defaults to `30`.
        stage2_trials: Integer, number of stage-2 trials. Defaults to `11`.
        max_learning_rate: Float, the first stage-2 learning rate. Defaults to
            `None`: the learning-rate hyperparameter's `max_value`.
        stage1_learning_rate: Float, the learning rate of stage 1. Defaults to
            `None`: the learning-rate hyperparameter's default.
        hyperparameters, seed, tune_new_entries, allow_new_entries,
        max_retries_per_trial, max_consecutive_failed_trials: as in
            `keras_tuner.Oracle`.

    Example:

    ```python
    oracle = TwoStageOracle(objective="val_accuracy", stage2_epochs=5)
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=build_model)
    ```
    """

    def __init__(
        self,
        objective="val_accuracy",
        units_hp="units",
        learning_rate_hp="learning_rate",
        stage1_epochs=1,
        stage2_epochs=30,
        stage2_trials=11,
        max_learning_rate=None,
        stage1_learning_rate=None,
        hyperparameters=None,
        seed=None,
        tune_new_entries=True,
        allow_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
    ):
        for name, value in (
            ("units_hp", units_hp),
            ("learning_rate_hp", learning_rate_hp),
        ):
            if not isinstance(value, str) or not value:
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, expected "
                    f"the name of a hyperparameter (a non-empty string), got "
                    f"{value!r}."
                )
        self.stage1_epochs = check_positive_int("stage1_epochs", stage1_epochs)
        self.stage2_epochs = check_positive_int("stage2_epochs", stage2_epochs)
        self.stage2_trials = check_positive_int("stage2_trials", stage2_trials)
        self.max_learning_rate = check_positive_float(
            "max_learning_rate", max_learning_rate, allow_none=True
        )
        self.stage1_learning_rate = check_positive_float(
            "stage1_learning_rate", stage1_learning_rate, allow_none=True
        )
        check_stage1_not_above_max(self.stage1_learning_rate, self.max_learning_rate)
        if isinstance(objective, (list, tuple)):
            raise ValueError(
                "Received an invalid value for argument `objective`, expected a "
                f"single objective, got {objective!r}. The two-stage schedule "
                "compares one score per trial."
            )
        self.units_hp = units_hp
        self.learning_rate_hp = learning_rate_hp
        super().__init__(
            objective=objective,
            max_trials=None,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        # Resolved lazily: the search space is only known after the Tuner has
        # declared the hypermodel's hyperparameters (`update_space`).
        self._schedule = None
        self._saved_objective_name = None
        # What the user declared, kept apart from the space a reload restores.
        self.declared_hyperparameters = (
            hyperparameters.copy() if hyperparameters else None
        )

    # ------------------------------------------------------------------ #
    # The schedule.
    # ------------------------------------------------------------------ #
    @property
    def schedule(self) -> schedule.ScheduleConfig:
        """The resolved `ScheduleConfig` (resolving it from the space if needed)."""
        if self._schedule is None:
            self._schedule = self._resolve_schedule()
            self.max_trials = self._schedule.total_trials
        return self._schedule

    def _resolve_schedule(self, space=None) -> schedule.ScheduleConfig:
        space = space or self.hyperparameters
        units = _find_hyperparameter(space, self.units_hp, "units_hp")
        if isinstance(units, hp_module.Int):
            grid = tuple(int(value) for value in units.values)
        elif isinstance(units, hp_module.Choice):
            grid = tuple(_to_builtin(value) for value in units.values)
        else:
            raise ValueError(
                f"The hyperparameter `{self.units_hp}` (argument `units_hp`) is a "
                f"`{type(units).__name__}`, but stage 1 trains every value of "
                'it, so it must be an `Int` (e.g. `hp.Int("units", 10, 190, '
                'step=10)`) or a `Choice` (e.g. `hp.Choice("units", [32, 64])`).'
            )
        learning_rate = _find_hyperparameter(
            space, self.learning_rate_hp, "learning_rate_hp"
        )
        if not isinstance(learning_rate, hp_module.Float):
            raise ValueError(
                f"The hyperparameter `{self.learning_rate_hp}` (argument "
                f"`learning_rate_hp`) is a `{type(learning_rate).__name__}`, but "
                "stage 2 sets it to values it computes, so it must be a `Float` "
                '(e.g. `hp.Float("learning_rate", 1e-5, 0.02, sampling="log", '
                "default=0.001)`)."
            )
        max_learning_rate = self.max_learning_rate or float(learning_rate.max_value)
        stage1_learning_rate = self.stage1_learning_rate or float(learning_rate.default)
        check_stage1_not_above_max(stage1_learning_rate, max_learning_rate)
        return schedule.ScheduleConfig(
            units_grid=grid,
            stage1_learning_rate=stage1_learning_rate,
            max_learning_rate=max_learning_rate,
            stage1_epochs=self.stage1_epochs,
            stage2_epochs=self.stage2_epochs,
            stage2_trials=self.stage2_trials,
            direction=self.objective.direction,
        )

    def trial_records(self) -> list[schedule.TrialRecord]:
        """The schedule's view of every started trial, in start order."""
        ended = set(self.end_order)
        records = []
        for trial_id in self.start_order:
            trial = self.trials[trial_id]
            values = trial.hyperparameters.values
            completed = trial.status == trial_module.TrialStatus.COMPLETED
            records.append(
                schedule.TrialRecord(
                    stage=values[STAGE_KEY],
                    units=values[self.units_hp],
                    learning_rate=values[self.learning_rate_hp],
                    score=trial.score if completed and trial_id in ended else None,
                    ended=trial_id in ended,
                )
            )
        return records

    def populate_space(self, trial_id):
        plan = schedule.next_trial(self.schedule, self.trial_records())
        if plan == schedule.IDLE:
            return {"status": trial_module.TrialStatus.IDLE}
        if plan == schedule.STOPPED:
            return {"status": trial_module.TrialStatus.STOPPED}
        values = dict(self.hyperparameters.values)
        values.update(
            {
                self.units_hp: plan.units,
                self.learning_rate_hp: float(plan.learning_rate),
                STAGE_KEY: int(plan.stage),
                EPOCHS_KEY: int(plan.epochs),
            }
        )
        return {"status": trial_module.TrialStatus.RUNNING, "values": values}

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        # Resolve before the base class pads trial ids to `len(str(max_trials))`.
        _ = self.schedule
        return super().create_trial(tuner_id)

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        return super().update_trial(trial_id, metrics, step)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)

    def get_best_trials(self, num_trials=1):
        """Best stage-2 trials first (first on ties), then stage 1, then the rest."""
        ranked = []
        for stage in (schedule.LEARNING_RATE_STAGE, schedule.ARCHITECTURE_STAGE):
            completed = [
                self.trials[trial_id]
                for trial_id in self.start_order
                if self.trials[trial_id].status == trial_module.TrialStatus.COMPLETED
                and self.trials[trial_id].hyperparameters.values.get(STAGE_KEY) == stage
            ]
            # `sorted` is stable, so ties keep start order: the first one wins.
            ranked += sorted(
                completed,
                key=lambda trial: trial.score,
                reverse=self.objective.direction == "max",
            )
        ranked += [t for t in self.trials.values() if t not in ranked]
        return ranked[:num_trials]

    def _compute_values_hash(self, values):
        # The bookkeeping keys say how a trial trains, not what it is.
        values = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        return super()._compute_values_hash(values)

    # ------------------------------------------------------------------ #
    # Saving and reloading.
    # ------------------------------------------------------------------ #
    def get_state(self):
        state = super().get_state()
        # The base `end_trial` saves before it drops the ended trial from the
        # running ones; a reload from that file would run it again.
        not_running = set(self.end_order) | set(self._retry_queue)
        state["ongoing_trials"] = {
            tuner_id: trial_id
            for tuner_id, trial_id in state["ongoing_trials"].items()
            if trial_id not in not_running
        }
        state["schedule"] = self._schedule.to_dict() if self._schedule else None
        state["objective_name"] = self.objective.name
        return state

    def set_state(self, state):
        if "schedule" not in state:
            raise ValueError(
                "this project was not made by TwoStageOracle (its oracle.json "
                "has no two-stage schedule)"
            )
        super().set_state(state)
        self._saved_objective_name = state.get("objective_name")
        saved = state.get("schedule")
        self._schedule = schedule.ScheduleConfig.from_dict(saved) if saved else None
        if self._schedule is not None:
            self.max_trials = self._schedule.total_trials

    def check_resumed_settings(self, space=None):
        """Refuse to resume a project with other schedule settings.

        Keras Tuner silently keeps a reloaded project's settings. Here every
        difference is an error that lists them, except more stage-2 trials:
        that only extends the schedule, so the search goes on and says so.

        Args:
            space: `HyperParameters` declared by the current hypermodel, to
                compare the units grid and learning-rate range against.
                Defaults to the reloaded space.
        """
        saved = self._schedule
        if saved is None:
            return
        current = self._resolve_schedule(space)
        differences = [
            f"{field}: project has {getattr(saved, field)!r}, "
            f"now {getattr(current, field)!r}"
            for field in schedule.ScheduleConfig.__dataclass_fields__
            if getattr(saved, field) != getattr(current, field)
            and not (
                field == "stage2_trials" and current.stage2_trials > saved.stage2_trials
            )
        ]
        saved_objective = self._saved_objective_name
        if saved_objective is not None and saved_objective != self.objective.name:
            differences.append(
                f"objective: project has {saved_objective!r}, "
                f"now {self.objective.name!r}"
            )
        if differences:
            raise ValueError(
                f"Cannot resume the project in {self._project_dir} with other "
                "schedule settings than it was started with: "
                + "; ".join(differences)
                + ". Resume with the original settings, or start over with "
                "`overwrite=True` (this deletes the project) or a new "
                "`project_name`."
            )
        if current.stage2_trials > saved.stage2_trials:
            print(
                f"extending stage 2 from {saved.stage2_trials} to "
                f"{current.stage2_trials} trials"
            )
            self._schedule = current
            self.max_trials = current.total_trials
            self.save()

    def save(self):
        _io.atomic_write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        _io.atomic_write_json(path, trial.get_state())

    def reload(self):
        # Each file is read here, rather than in the base class, so that a
        # corrupt one is named in the error and nothing starts fresh silently.
        pattern = os.path.join(self._project_dir, "trial_*", "trial.json")
        for path in sorted(glob.glob(pattern)):
            trial = self._read_state_file(path, trial_module.Trial.load)
            self.trials[trial.trial_id] = trial
        self._read_state_file(
            self._get_oracle_fname(),
            lambda path: super(keras_tuner.Oracle, self).reload(path),
        )
        self._recover_interrupted_trials()

    def _read_state_file(self, path, read):
        try:
            return read(path)
        except (OSError, ValueError, KeyError, TypeError) as error:
            # json.JSONDecodeError is a ValueError.
            raise RuntimeError(
                f"Cannot resume the project in {self._project_dir}: the file "
                f"{path} is missing, corrupt or truncated ({type(error).__name__}: "
                f"{error}). Nothing was changed. To start over, pass "
                "`overwrite=True` (this deletes the project) or use a new "
                "`project_name`."
            ) from error

    def _recover_interrupted_trials(self):
        """Reconcile trial files with the oracle state after a crash.

        A trial whose own file says it ended (its file is written before the
        oracle's) counts as ended, never as interrupted. Every other trial that
        had not ended is run again, once.
        """
        ended = set(self.end_order)
        queued = []
        for trial_id in sorted(self.trials):
            trial = self.trials[trial_id]
            if trial_id not in self.start_order:
                self.start_order.append(trial_id)
            if trial_id in ended:
                continue
            if trial.status in _ENDED_STATUSES:
                self.end_order.append(trial_id)
                ended.add(trial_id)
                continue
            if trial_id not in queued:
                queued.append(trial_id)
        # `create_trial` pops from the end: keep the earliest trial last.
        self._retry_queue = sorted(queued, reverse=True)
        self.ongoing_trials = {}


def _find_hyperparameter(hyperparameters, name, argument):
    for hp in hyperparameters.space:
        if hp.name == name:
            return hp
    declared = [hp.name for hp in hyperparameters.space]
    raise ValueError(
        f"The search space has no hyperparameter named `{name}` (argument "
        f"`{argument}`); it declares {declared}. Declare it in the hypermodel "
        f"or pass `{argument}=` the name your hypermodel uses. The units "
        "hyperparameter must be an `Int` or a `Choice`, the learning rate a "
        "`Float`."
    )


def _to_builtin(value):
    """Trial values travel through JSON and protobuf: no numpy scalars."""
    if hasattr(value, "item"):
        return value.item()
    return value
