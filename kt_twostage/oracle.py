"""`TwoStageOracle`: the two-stage schedule as a Keras Tuner `Oracle`.

The oracle translates between Keras Tuner and the pure schedule: the search
space becomes a `ScheduleConfig`, the trials become `TrialRecord`s, and the
planner's next trial becomes trial values. Crash safety comes from
`ResilientOracle`.
"""

from __future__ import annotations

import warnings

import keras_tuner
from keras_tuner.engine import trial as trial_module

from kt_twostage import oracle_checks, schedule, search_space
from kt_twostage._validation import (
    check_hyperparameter_name,
    check_positive_float,
    check_positive_int,
    check_stage1_not_above_max,
)
from kt_twostage.resilient_oracle import ENDED_STATUSES, ResilientOracle
from kt_twostage.schedule import (
    BRANCH_KEY,
    EPOCHS_KEY,
    PATIENCE_KEY,
    SPECULATIVE_KEY,
    STAGE_KEY,
    STEP_KEY,
    compass,
    planner,
    ranking,
)

# The `trial_roles()` values.
ROLE_STAGE1 = ranking.ROLE_STAGE1
ROLE_PATH = ranking.ROLE_PATH
ROLE_OFF_PATH = ranking.ROLE_OFF_PATH
ROLE_PENDING = ranking.ROLE_PENDING

__all__ = [
    "BRANCH_KEY",
    "EPOCHS_KEY",
    "SPECULATIVE_KEY",
    "STAGE_KEY",
    "STEP_KEY",
    "TwoStageOracle",
]


class TwoStageOracle(ResilientOracle):
    """Architecture first, then the learning rate, as a Keras Tuner `Oracle`.

    Stage 1 trains every value of the `units_hp` hyperparameter, in order, for
    `stage1_epochs` epochs at `stage1_learning_rate`, and keeps the best.
    Stage 2 trains `stage2_trials` trials of `stage2_epochs` epochs with that
    architecture. The first uses `max_learning_rate`; after a trial that
    improved on the previous scored stage-2 trial (the first scored one counts
    as improved, a failed one as "too high") the learning rate is halved,
    otherwise it moves halfway back toward `max_learning_rate`. The best
    stage-2 trial is the result.

    Every trial's values carry `tuner/stage` and `tuner/epochs`. `TwoStageTuner`
    trains each trial for `tuner/epochs` epochs; with a plain
    `keras_tuner.Tuner`, read it in `HyperModel.fit` (see the README). The
    position in the schedule is recomputed from the recorded trials, so a
    resumed search continues exactly where it stopped. `max_trials` is the
    schedule's length, set as soon as the search space is known.

    With `stage2_parallelism=P > 1` (distributed tuning with several workers),
    stage 2 is speculative: up to P trials that may still be on the sequential
    path run at once (see `kt_twostage.schedule.planner`). The path, its
    learning rates and the result are those of the sequential schedule for the
    same scores; trials that end up off the path are kept (`trial_roles()`
    says which) and never chosen. Stage-2 trials carry their place in the tree
    in `tuner/stage2_branch`, `tuner/stage2_step` and `tuner/speculative`.
    `max_trials` is then an upper bound: the search stops when the path is
    complete.

    Args:
        objective: String, `keras_tuner.Objective` or a list of them (a
            `keras_tuner.MultiObjective`: the signed sum, minimised), the
            metric to optimize. Defaults to `None`: Keras Tuner's rule, the
            single number a `HyperModel.fit` returns, minimised.
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
        stage2_parallelism: Integer, how many stage-2 trials may run at once
            (speculatively). Defaults to `1`: stage 2 is sequential. It does
            not change the result, only how fast stage 2 gets there and how
            many extra trials it trains, so it may differ between resumes.
        stage2_patience: Integer or `None`. With an integer, every stage-2
            trial carries it in `tuner/patience`, and stops after that many
            epochs without improvement of the objective (`TwoStageTuner` and
            `ImdbLstmHyperModel` add Keras' `EarlyStopping`). Defaults to
            `None`: every trial trains all its epochs, as in the reference.
        reinvest_stopped_epochs: Boolean. With `stage2_patience`, the epochs
            early stopping saves go to more stage-2 steps: stage 2 runs trials
            as long as a whole trial still fits in `stage2_trials *
            stage2_epochs` epochs, counting each trial's epochs as trained
            (`tuner/patience` epochs after its best one, from the best epoch
            Keras Tuner reports). `max_trials` is then an upper bound.
            Sequential stage 2 only. Defaults to `False`.
        stage2_rule: String, how stage 2 moves the learning rate.
            `"reference"`: the rule above, from `max_learning_rate`.
            `"compass"`: a line search in log(learning rate) from
            `stage1_learning_rate` (`kt_twostage.schedule.compass`): one step
            (a factor of 2) from the best learning rate so far, the other
            direction after a trial that does not improve, half the step when
            both failed; within the hyperparameter's range. `"scout"`: first
            4 learning rates spread over the hyperparameter's whole range
            (the centres of 4 equal bins of log(learning rate)), then the
            compass search from the best of them
            (`kt_twostage.schedule.scout`). Sequential stage 2 only.
            Defaults to `"reference"`.

        worker_timeout: Float or `None`, for distributed tuning: seconds of
            silence after which a worker loses its trial to the next worker
            that asks (see `ResilientOracle`). Defaults to `None`: 5 minutes,
            or 10 times the longest silence seen if that is longer.

    Example, with a plain `keras_tuner.Tuner`: its hypermodel trains each
    trial for the epochs of the trial's stage, as `ImdbLstmHyperModel` does
    (`TwoStageTuner` needs none of this).

    ```python
    import keras
    import keras_tuner
    import numpy as np
    from kt_twostage import TwoStageOracle

    x_train = np.random.rand(200, 8).astype("float32")
    y_train = (x_train.sum(axis=1) > 4).astype("float32")


    class ScheduledEpochs(keras_tuner.HyperModel):
        def build(self, hp):
            units = hp.Choice("units", [8, 16])
            lr = hp.Float("learning_rate", 1e-4, 0.02, sampling="log", default=1e-3)
            model = keras.Sequential([
                keras.layers.Dense(units, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ])
            model.compile(
                optimizer=keras.optimizers.RMSprop(lr),
                loss="binary_crossentropy",
                metrics=["accuracy"],
            )
            return model

        def fit(self, hp, model, *args, **kwargs):
            kwargs["epochs"] = hp.values["tuner/epochs"]
            return model.fit(*args, **kwargs)


    oracle = TwoStageOracle(
        objective="val_accuracy", stage2_trials=2, stage2_epochs=2
    )
    tuner = keras_tuner.Tuner(
        oracle=oracle, hypermodel=ScheduledEpochs(), directory="runs"
    )
    tuner.search(x_train, y_train, validation_split=0.2, verbose=0)
    ```
    """

    def __init__(
        self,
        objective=None,
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
        stage2_parallelism=1,
        stage2_patience=None,
        reinvest_stopped_epochs=False,
        stage2_rule="reference",
        worker_timeout=None,
    ):
        self.units_hp = check_hyperparameter_name("units_hp", units_hp)
        self.learning_rate_hp = check_hyperparameter_name(
            "learning_rate_hp", learning_rate_hp
        )
        self.stage1_epochs = check_positive_int("stage1_epochs", stage1_epochs)
        self.stage2_epochs = check_positive_int("stage2_epochs", stage2_epochs)
        self.stage2_trials = check_positive_int("stage2_trials", stage2_trials)
        self.stage2_parallelism = check_positive_int(
            "stage2_parallelism", stage2_parallelism
        )
        self.max_learning_rate = check_positive_float(
            "max_learning_rate", max_learning_rate, allow_none=True
        )
        self.stage1_learning_rate = check_positive_float(
            "stage1_learning_rate", stage1_learning_rate, allow_none=True
        )
        check_stage1_not_above_max(self.stage1_learning_rate, self.max_learning_rate)
        self.stage2_patience = check_positive_int(
            "stage2_patience", stage2_patience, allow_none=True
        )
        self.reinvest_stopped_epochs = oracle_checks.check_reinvest(
            reinvest_stopped_epochs, self.stage2_patience, self.stage2_parallelism
        )
        self.stage2_rule = oracle_checks.check_stage2_rule(
            stage2_rule, self.stage2_parallelism
        )
        super().__init__(
            objective=objective,
            max_trials=None,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            worker_timeout=worker_timeout,
        )
        # What the user declared, kept apart from the space a reload restores.
        self.declared_hyperparameters = (
            hyperparameters.copy() if hyperparameters else None
        )
        # Resolved from the search space once it is known (`update_space`).
        self._schedule = None
        self._saved_settings = {}
        # Trial id -> len(end_order) when it (last) started: when to hand out
        # speculative trials (see `planner.next_node`), never the path.
        self._ends_at_start = {}
        self._warned_epochs = False
        self._settings_checked = True  # nothing to compare until a reload
        self._resolve_if_declared()

    # ------------------------------------------------------------------ #
    # The search space -> the schedule.
    # ------------------------------------------------------------------ #
    @property
    def schedule(self) -> schedule.ScheduleConfig:
        """The `ScheduleConfig`, resolved from the search space if needed."""
        if self._schedule is None:
            self._schedule = self.resolve_schedule()
            self._update_max_trials()
        return self._schedule

    @property
    def schedule_resolved(self) -> bool:
        """Whether the schedule is known (the search space has been declared)."""
        return self._schedule is not None

    def update_space(self, hyperparameters):
        super().update_space(hyperparameters)
        self._resolve_if_declared()

    def _resolve_if_declared(self):
        # As Keras Tuner's oracles, know the search's length as soon as the
        # space is declared (by the Tuner, or by `hyperparameters=`); until
        # both hyperparameters exist, wait.
        names = {hp.name for hp in self.hyperparameters.space}
        if self._schedule is None and {self.units_hp, self.learning_rate_hp} <= names:
            _ = self.schedule

    def resolve_schedule(self, space=None) -> schedule.ScheduleConfig:
        """The `ScheduleConfig` of `space` (default: the oracle's space)."""
        space = space or self.hyperparameters
        grid = search_space.units_grid(space, self.units_hp)
        learning_rate = search_space.learning_rate(space, self.learning_rate_hp)
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
            stage2_patience=self.stage2_patience,
            stage2_epoch_budget=(
                self.stage2_trials * self.stage2_epochs
                if self.reinvest_stopped_epochs
                else None
            ),
            stage2_rule=self.stage2_rule,
            # Only the compass and scout rules need it (and projects made before it
            # existed have none to compare on resume).
            min_learning_rate=(
                float(learning_rate.min_value)
                if self.stage2_rule in compass.LINE_SEARCH_RULES
                else None
            ),
        )

    def _update_max_trials(self):
        """`max_trials`: the schedule's length, or a bound with speculation.

        Keras Tuner stops handing out trials once `len(trials) >= max_trials`,
        so it must leave room for every path trial still to come, also after a
        resume with a smaller `stage2_parallelism`.
        """
        config = self._schedule
        if config is None:
            return
        length = config.stage2_length
        budget = planner.stage2_budget(length, self.stage2_parallelism)
        nodes = self._stage2_nodes()
        path = schedule.resolve_path(nodes, length, config.direction)
        needed = length - len(path.branches)
        if path.frontier in {node.branch for node in nodes}:
            needed -= 1
        self.max_trials = len(config.units_grid) + max(budget, len(nodes) + needed)

    # ------------------------------------------------------------------ #
    # The trials -> records.
    # ------------------------------------------------------------------ #
    def _ordered_ids(self) -> list:
        """Every trial id: in start order, then any the oracle did not start."""
        started = set(self.start_order)
        return list(self.start_order) + [t for t in self.trials if t not in started]

    def trial_records(self, trial_ids=None) -> list[schedule.TrialRecord]:
        """The schedule's view of trials (default: all, in start order)."""
        # A trial the oracle did not start (added by hand) has ended when its
        # status says so; the oracle's own trials, once `end_trial` ran.
        started = set(self.start_order)
        ended = set(self.end_order) | {
            trial_id
            for trial_id, trial in self.trials.items()
            if trial_id not in started and trial.status in ENDED_STATUSES
        }
        records = []
        for trial_id in self._ordered_ids() if trial_ids is None else trial_ids:
            trial = self.trials[trial_id]
            values = trial.hyperparameters.values
            completed = trial.status == trial_module.TrialStatus.COMPLETED
            records.append(
                schedule.TrialRecord(
                    stage=values.get(STAGE_KEY),
                    units=values.get(self.units_hp),
                    learning_rate=values.get(self.learning_rate_hp),
                    score=trial.score if completed and trial_id in ended else None,
                    ended=trial_id in ended,
                    branch=values.get(BRANCH_KEY),
                    epochs=(
                        oracle_checks.epochs_trained(trial.best_step, values)
                        if completed
                        else None
                    ),
                )
            )
        return records

    def _stage2_nodes(self) -> list[schedule.NodeRecord]:
        """The `NodeRecord` of every started stage-2 trial, in start order,
        with when it started and ended (for speculation)."""
        records = self.trial_records(self.start_order)
        ids = [
            trial_id
            for trial_id, record in zip(self.start_order, records, strict=True)
            if record.stage == schedule.LEARNING_RATE_STAGE
        ]
        end_rank = {trial_id: rank for rank, trial_id in enumerate(self.end_order)}
        return [
            schedule.NodeRecord(
                node.branch,
                node.score,
                node.ended,
                ends_at_start=self._ends_at_start.get(trial_id),
                end_rank=end_rank.get(trial_id),
            )
            for trial_id, node in zip(
                ids,
                ranking.stage2_nodes(records, self.objective.direction),
                strict=True,
            )
        ]

    def _roles(self, records) -> list[str]:
        # The path's length is the schedule's; before the space is known (only
        # trials added by hand exist), the argument's.
        length = (self._schedule.stage2_length if self._schedule else None) or (
            self.stage2_trials
        )
        return ranking.trial_roles(records, length, self.objective.direction)

    def trial_roles(self) -> dict:
        """`{trial_id: role}` for every trial (`kt_twostage.schedule.ranking`)."""
        roles = self._roles(self.trial_records())
        return dict(zip(self._ordered_ids(), roles, strict=True))

    def stage2_path(self) -> list:
        """Ids of the stage-2 trials on the path that have ended, in step order:
        exactly the trials the sequential schedule runs for the same scores."""
        records = self.trial_records()
        roles = self._roles(records)
        steps = ranking.path_order(records, roles, self.objective.direction)
        ids = self._ordered_ids()
        return [ids[index] for index in sorted(steps, key=steps.get)]

    def describe_progress(self) -> str:
        """Where the search stands, e.g. `12 of 30 trials done, in stage 1`."""
        return ranking.describe_progress(
            self.schedule, self.trial_records(self.start_order)
        )

    # ------------------------------------------------------------------ #
    # The plan -> trial values.
    # ------------------------------------------------------------------ #
    def populate_space(self, trial_id):
        records = self.trial_records(self.start_order)
        try:
            plan = planner.next_trial(
                self.schedule,
                records,
                self._stage2_nodes(),
                parallelism=self.stage2_parallelism,
            )
        except schedule.ScheduleError as error:
            raise schedule.ScheduleError(f"{error}{self._last_failure()}") from None
        if plan in (schedule.IDLE, schedule.STOPPED):
            return {"status": plan}
        values = dict(self.hyperparameters.values)
        values.update(
            {
                self.units_hp: plan.units,
                self.learning_rate_hp: float(plan.learning_rate),
                STAGE_KEY: int(plan.stage),
                EPOCHS_KEY: int(plan.epochs),
            }
        )
        patience = self.schedule.stage2_patience
        if plan.stage == schedule.LEARNING_RATE_STAGE and patience is not None:
            values[PATIENCE_KEY] = int(patience)
        if isinstance(plan, schedule.Stage2Plan):
            values[BRANCH_KEY] = plan.branch
            values[STEP_KEY] = int(plan.step)
            values[SPECULATIVE_KEY] = bool(plan.speculative)
        return {"status": trial_module.TrialStatus.RUNNING, "values": values}

    def _last_failure(self) -> str:
        """The last failed trial's message, as Keras Tuner's failure limit says."""
        for trial_id in reversed(self.end_order):
            trial = self.trials[trial_id]
            if trial.status == trial_module.TrialStatus.FAILED and trial.message:
                return f"\nThe last failed trial ({trial_id}) said:\n{trial.message}"
        return ""

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if not self._settings_checked:
            self.check_resumed_settings()
        # Resolve before the base class pads trial ids to `len(str(max_trials))`.
        _ = self.schedule
        self._update_max_trials()
        trial = super().create_trial(tuner_id)
        if trial.status == trial_module.TrialStatus.RUNNING:
            self._ends_at_start[trial.trial_id] = len(self.end_order)
        return trial

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        if not self._warned_epochs:
            # Once: the Tuner trains every trial for the epochs of `search`.
            scheduled = self.trials[trial_id].hyperparameters.values.get(EPOCHS_KEY)
            message = oracle_checks.epochs_ignored(trial_id, step, scheduled)
            if message:
                self._warned_epochs = True
                warnings.warn(message, stacklevel=2)
        return super().update_trial(trial_id, metrics, step)

    # ------------------------------------------------------------------ #
    # Ranking and failures.
    # ------------------------------------------------------------------ #
    def get_best_trials(self, num_trials=1):
        """Trials, best first (`kt_twostage.schedule.ranking`): the scored
        stage-2 trials on the path (ties: the earlier step), then stage 1, then
        other scored trials; speculative trials off the path are never chosen."""
        records = self.trial_records()
        roles = self._roles(records)
        order = ranking.rank(records, roles, self.objective.direction)
        ids = self._ordered_ids()
        return [self.trials[ids[index]] for index in order[:num_trials]]

    def failure_order(self) -> list:
        """Stage 1 in end order, then the stage-2 path in step order: the trials
        the sequential schedule runs. Speculative trials off the path (or not
        yet on it) do not count, so speculation never stops a search that the
        sequential schedule would finish."""
        roles = self.trial_roles()
        order = [t for t in self.end_order if roles.get(t) == ROLE_STAGE1]
        return order + self.stage2_path()

    def _compute_values_hash(self, values):
        # The bookkeeping keys say how a trial trains, not what it is.
        values = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        return super()._compute_values_hash(values)

    # ------------------------------------------------------------------ #
    # State.
    # ------------------------------------------------------------------ #
    def settings(self) -> dict:
        """What a project remembers besides its schedule: the names of the
        objective and of the two hyperparameters."""
        return {
            "objective_name": self.objective.name,
            "units_hp": self.units_hp,
            "learning_rate_hp": self.learning_rate_hp,
        }

    def get_state(self):
        state = super().get_state()
        state["schedule"] = self._schedule.to_dict() if self._schedule else None
        state.update(self.settings())
        state["ends_at_start"] = dict(self._ends_at_start)
        return state

    def set_state(self, state):
        if "schedule" not in state:
            raise ValueError(
                "this project was not made by TwoStageOracle (its oracle.json "
                "has no two-stage schedule)"
            )
        super().set_state(state)
        self._saved_settings = {k: state.get(k) for k in self.settings()}
        saved = state.get("schedule")
        if saved:
            # Projects made before early stopping was a schedule setting: their
            # tuner enforced its patience (saved in its own state).
            saved = {"stage2_patience": self.stage2_patience, **saved}
        self._schedule = schedule.ScheduleConfig.from_dict(saved) if saved else None
        self._ends_at_start = dict(state.get("ends_at_start", {}))
        self._update_max_trials()

    def after_reload(self):
        # The settings are compared when the search goes on (the first
        # `create_trial`), unless a tuner compares them first, with the space
        # its hypermodel declares now (`TwoStageTuner.reload`).
        self._settings_checked = False
        self._update_max_trials()

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
            self._settings_checked = True
            return
        current = self.resolve_schedule(space)
        differences = oracle_checks.resume_differences(
            saved, current, self._saved_settings, self.settings()
        )
        if differences:
            raise oracle_checks.resume_error(self._project_dir, differences)
        self._settings_checked = True
        if current.stage2_trials > saved.stage2_trials:
            print(
                f"extending stage 2 from {saved.stage2_trials} to "
                f"{current.stage2_trials} trials"
            )
            self._schedule = current
            self._update_max_trials()
            self.save()
