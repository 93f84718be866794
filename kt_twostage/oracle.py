"""`TwoStageOracle`: the two-stage schedule as a Keras Tuner `Oracle`."""

from __future__ import annotations

import glob
import os

import keras_tuner
from keras_tuner.engine import hyperparameters as hp_module
from keras_tuner.engine import trial as trial_module

from kt_twostage import _io, schedule, speculative
from kt_twostage._validation import (
    check_positive_float,
    check_positive_int,
    check_stage1_not_above_max,
)

STAGE_KEY = "tuner/stage"
EPOCHS_KEY = "tuner/epochs"
# Stage-2 trials only: where the trial sits in the tree of learning rates
# (see `kt_twostage.speculative`), and whether it was started before its
# parent's outcome was known.
BRANCH_KEY = "tuner/stage2_branch"
STEP_KEY = "tuner/stage2_step"
SPECULATIVE_KEY = "tuner/speculative"

# `trial_roles()` values.
ROLE_STAGE1 = "stage 1"
ROLE_PATH = speculative.ON_PATH
ROLE_OFF_PATH = speculative.OFF_PATH
ROLE_PENDING = speculative.PENDING

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

    With `stage2_parallelism=P > 1` (distributed tuning with several workers),
    stage 2 is speculative: up to P trials that may still be on the sequential
    path run at once, the current one and the candidates for the next steps
    (see `kt_twostage.speculative`). The path, its learning rates and the
    result are exactly those of the sequential schedule for the same scores;
    the trials that end up off the path are kept (`trial_roles()` says which)
    and never chosen. Stage-2 trials carry their place in the tree in
    `tuner/stage2_branch` and `tuner/stage2_step`, and `tuner/speculative`.
    `max_trials` is then an upper bound: the search stops when the path is
    complete.

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
        stage2_parallelism: Integer, how many stage-2 trials may run at once
            (speculatively). Defaults to `1`: stage 2 is sequential. It does
            not change the result, only how fast stage 2 gets there and how
            many extra trials it trains, so it may differ between resumes.

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
        stage2_parallelism=1,
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
        # Trials queued for a retry after a chief restart -> the tuner id that
        # was running them: that tuner gets its trial back first.
        self._retry_owners = {}
        # Trial id -> len(end_order) when it (last) started: when to hand out
        # speculative trials (see `speculative.NodeRecord`), never the path.
        self._ends_at_start = {}

    # ------------------------------------------------------------------ #
    # The schedule.
    # ------------------------------------------------------------------ #
    @property
    def schedule(self) -> schedule.ScheduleConfig:
        """The resolved `ScheduleConfig` (resolving it from the space if needed)."""
        if self._schedule is None:
            self._schedule = self._resolve_schedule()
            self._update_max_trials()
        return self._schedule

    def _update_max_trials(self):
        """`max_trials`: the schedule's length, or a bound with speculation.

        Keras Tuner stops handing out trials once `len(trials) >= max_trials`,
        so it must leave room for every path trial still to come, also after a
        resume with a smaller `stage2_parallelism`.
        """
        config = self._schedule
        if config is None:
            return
        budget = speculative.stage2_budget(
            config.stage2_trials, self.stage2_parallelism
        )
        nodes = [node for _, node in self._stage2_nodes()]
        path = speculative.resolve_path(nodes, config.stage2_trials, config.direction)
        started = {node.branch for node in nodes}
        needed = config.stage2_trials - len(path.branches)
        if path.frontier in started:
            needed -= 1
        self.max_trials = len(config.units_grid) + max(budget, len(nodes) + needed)

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

    def _stage2_nodes(self) -> list:
        """`(trial_id, NodeRecord)` of every started stage-2 trial, in start order.

        Stage-2 trials recorded without a branch (a sequential project made
        before branches were recorded) are the path's first nodes, in order.
        """
        ended = set(self.end_order)
        items = []
        for trial_id in self.start_order:
            trial = self.trials[trial_id]
            values = trial.hyperparameters.values
            if values.get(STAGE_KEY) != schedule.LEARNING_RATE_STAGE:
                continue
            completed = trial.status == trial_module.TrialStatus.COMPLETED
            items.append(
                (
                    trial_id,
                    values.get(BRANCH_KEY),
                    trial.score if completed and trial_id in ended else None,
                    trial_id in ended,
                )
            )
        untagged = [item for item in items if item[1] is None]
        inferred = iter(
            speculative.sequential_branches(
                [item[2] for item in untagged], self.objective.direction
            )
        )
        end_rank = {trial_id: rank for rank, trial_id in enumerate(self.end_order)}
        return [
            (
                trial_id,
                speculative.NodeRecord(
                    next(inferred) if branch is None else branch,
                    score,
                    ended,
                    ends_at_start=self._ends_at_start.get(trial_id),
                    end_rank=end_rank.get(trial_id),
                ),
            )
            for trial_id, branch, score, ended in items
        ]

    def _path(self):
        """The `speculative.Path` and `{branch: trial_id}` of the ended nodes."""
        items = self._stage2_nodes()
        ids = {}
        for trial_id, node in items:
            if node.ended:
                ids.setdefault(node.branch, trial_id)
        config = self.schedule
        path = speculative.resolve_path(
            [node for _, node in items], config.stage2_trials, config.direction
        )
        return path, ids, items

    def stage2_path(self) -> list:
        """Trial ids of the stage-2 trials on the path that have ended, in order.

        These are exactly the trials that the sequential schedule runs for the
        same scores; the result is the best of them.
        """
        path, ids, _ = self._path()
        return [ids[branch] for branch in path.branches]

    def trial_roles(self) -> dict:
        """`{trial_id: role}` for every started trial.

        Roles: `"stage 1"`; `"path"` (a stage-2 trial on the path, ended or
        the one running now); `"off-path"` (a speculative trial that the
        scores did not select: kept, never chosen); `"pending"` (speculative,
        started before the outcome of the trials above it is known).
        """
        roles = {}
        if self._schedule is None and not self.trials:
            return roles
        path, _, items = self._path()
        for trial_id, node in items:
            roles[trial_id] = speculative.node_status(node.branch, path)
        for trial_id in self.start_order:
            roles.setdefault(trial_id, ROLE_STAGE1)
        return roles

    def describe_progress(self) -> str:
        """`schedule.describe_progress`, counting path trials only in stage 2."""
        roles = self.trial_roles()
        records = [
            record
            for trial_id, record in zip(
                self.start_order, self.trial_records(), strict=True
            )
            if roles.get(trial_id) in (ROLE_STAGE1, ROLE_PATH)
        ]
        text = schedule.describe_progress(self.schedule, records)
        extra = sum(1 for role in roles.values() if role == ROLE_OFF_PATH)
        if extra:
            text += f" (+{extra} speculative trials off the path)"
        return text

    def populate_space(self, trial_id):
        records = self.trial_records()
        plan = speculative.next_trial(
            self.schedule,
            [r for r in records if r.stage == schedule.ARCHITECTURE_STAGE],
            [node for _, node in self._stage2_nodes()],
            parallelism=self.stage2_parallelism,
        )
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
        if isinstance(plan, speculative.Stage2Plan):
            values.update(
                {
                    BRANCH_KEY: plan.branch,
                    STEP_KEY: int(plan.step),
                    SPECULATIVE_KEY: bool(plan.speculative),
                }
            )
        return {"status": trial_module.TrialStatus.RUNNING, "values": values}

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        # Resolve before the base class pads trial ids to `len(str(max_trials))`.
        _ = self.schedule
        self._update_max_trials()
        if tuner_id in self.ongoing_trials:
            return super().create_trial(tuner_id)
        if self._retry_queue:
            trial = self._create_trial_with_retries(tuner_id)
        else:
            trial = super().create_trial(tuner_id)
        if trial.status == trial_module.TrialStatus.RUNNING:
            self._ends_at_start[trial.trial_id] = len(self.end_order)
        return trial

    def _create_trial_with_retries(self, tuner_id):
        # Trials to run again after a restart: a tuner gets its own back first;
        # one that another tuner was running is only taken when there is
        # nothing else to do (that tuner may still be running it, or may come
        # back for it).
        queue = list(self._retry_queue)
        owners = self._retry_owners
        own = [t for t in queue if owners.get(t) == tuner_id]
        held = [t for t in queue if owners.get(t) not in (None, tuner_id)]
        if own:
            # The base class pops from the end.
            self._retry_queue = [t for t in queue if t != own[-1]] + own[-1:]
        else:
            self._retry_queue = [t for t in queue if t not in held]
        try:
            trial = super().create_trial(tuner_id)
        finally:
            left = set(self._retry_queue) | (set(held) if not own else set())
            self._retry_queue = [t for t in queue if t in left]
        if trial.status == trial_module.TrialStatus.IDLE and held and not own:
            self._retry_queue = [t for t in queue if t != held[-1]] + held[-1:]
            trial = super().create_trial(tuner_id)
        if trial.status == trial_module.TrialStatus.RUNNING:
            owners.pop(trial.trial_id, None)
            self.save()
        return trial

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        return super().update_trial(trial_id, metrics, step)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        trial_id = trial.trial_id
        if trial_id in self.end_order:
            # It ran twice (given to another tuner after a chief restart while
            # its first tuner went on): the first result counts.
            for tuner_id, ongoing in list(self.ongoing_trials.items()):
                if ongoing.trial_id == trial_id:
                    self.ongoing_trials.pop(tuner_id)
            self.save()
            return
        if trial_id in self._retry_queue:
            # Its tuner kept running it through a chief restart.
            self._retry_queue.remove(trial_id)
        self._retry_owners.pop(trial_id, None)
        super().end_trial(trial)

    def get_best_trials(self, num_trials=1):
        """Best stage-2 trials first (first on ties), then stage 1, then the rest.

        Only the stage-2 trials on the path are ranked as stage 2, in step
        order, so that ties go to the earlier step as in the sequential
        schedule; speculative trials off the path come last and are never
        chosen.
        """

        def completed(trial_ids):
            return [
                self.trials[trial_id]
                for trial_id in trial_ids
                if self.trials[trial_id].status == trial_module.TrialStatus.COMPLETED
            ]

        stage1 = [
            trial_id
            for trial_id in self.start_order
            if self.trials[trial_id].hyperparameters.values.get(STAGE_KEY)
            == schedule.ARCHITECTURE_STAGE
        ]
        stage2 = self.stage2_path() if self.trials else []
        ranked = []
        for trial_ids in (stage2, stage1):
            # `sorted` is stable, so ties keep step / start order: the first
            # one wins.
            ranked += sorted(
                completed(trial_ids),
                key=lambda trial: trial.score,
                reverse=self.objective.direction == "max",
            )
        ranked += [t for t in self.trials.values() if t not in ranked]
        return ranked[:num_trials]

    def _check_consecutive_failures(self):
        try:
            self._check_failures_in_schedule_order()
        except RuntimeError:
            # The base `end_trial` raises here, before it saves the trial that
            # hit the limit: save it, or a resume would run it again.
            self._save_trial(self.trials[self.end_order[-1]])
            self.save()
            raise

    def _check_failures_in_schedule_order(self):
        """Keras Tuner's limit on consecutive failed trials, over the trials
        the sequential schedule runs: stage 1 in end order, then the stage-2
        path in step order. Speculative trials off the path (or not yet on
        it) do not count, so that speculation never stops a search that the
        sequential schedule would finish.
        """
        roles = self.trial_roles()
        order = [t for t in self.end_order if roles.get(t) == ROLE_STAGE1]
        order += self.stage2_path()
        consecutive = 0
        for trial_id in order:
            trial = self.trials[trial_id]
            if trial.status == trial_module.TrialStatus.FAILED:
                consecutive += 1
            else:
                consecutive = 0
            if consecutive == self.max_consecutive_failed_trials:
                raise RuntimeError(
                    "Number of consecutive failures exceeded the limit "
                    f"of {self.max_consecutive_failed_trials}.\n"
                    + (trial.message or "")
                )

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
        state["retry_owners"] = dict(self._retry_owners)
        state["ends_at_start"] = dict(self._ends_at_start)
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
        self._retry_owners = dict(state.get("retry_owners", {}))
        self._ends_at_start = dict(state.get("ends_at_start", {}))
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
            self._update_max_trials()
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
        had not ended is run again, once. A distributed chief that restarts
        remembers which tuner was running each: that tuner gets it back first
        (or ends it, if it kept running it while the chief was away).
        """
        owners = dict(self._retry_owners)
        for tuner_id, trial in self.ongoing_trials.items():
            owners[trial.trial_id] = tuner_id
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
        self._retry_owners = {t: owners[t] for t in queued if t in owners}
        self.ongoing_trials = {}
        self._update_max_trials()


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
