"""`ResilientOracle`: a Keras Tuner `Oracle` whose state survives a kill.

Keras Tuner's `Oracle` writes its files in place, starts fresh without a
word when a file is corrupt, and re-runs a trial whose file says it ended if
the kill came before `oracle.json` was written. This base class keeps the
search algorithm out and the bookkeeping in:

- every file is written atomically (temporary file, then rename);
- a corrupt or truncated file is an error that names it, and nothing changes;
- on reload, a trial whose own file says it ended counts as ended; every
  other trial that had not ended is run again, once, from its first epoch;
- a distributed chief that restarts remembers which tuner ran each trial:
  that tuner gets it back first, and a trial ended twice counts once;
- a lease on every running trial (`kt_twostage.distributed.lease`): a
  trial whose tuner has been silent for longer than `worker_timeout` goes
  back to the schedule, the next tuner that asks gets it, and the late
  tuner's reports about it are refused (`refuse_report`); after a restart,
  each trial that was running is leased from the restart;
- the trial that reaches `max_consecutive_failed_trials` is saved before
  the search stops, so a resume does not run it again;
- the old `end_trial(trial_id, status)` form keeps the trial's values.

Subclasses put their algorithm in `populate_space` as usual and may
override `after_reload()` (called once the state is reconciled) and
`failure_order()` (the trials, in the order consecutive failures count).
"""

from __future__ import annotations

import glob
import os

import keras_tuner
from keras_tuner.engine import trial as trial_module
from keras_tuner.src.engine import metrics_tracking

from kt_twostage import _io
from kt_twostage.distributed import lease

ENDED_STATUSES = (
    trial_module.TrialStatus.COMPLETED,
    trial_module.TrialStatus.FAILED,
)


class ResilientOracle(keras_tuner.Oracle):
    """Keras Tuner's `Oracle` with crash-safe state (see the module docstring).

    Takes the arguments of `keras_tuner.Oracle`, and:

    Args:
        worker_timeout: Float or `None`, seconds of silence after which a
            distributed worker loses its trial to the next worker that asks.
            Defaults to `None`: 5 minutes, or 10 times the longest silence
            seen from a worker that came back in time if that is longer
            (`kt_twostage.distributed.lease`).
    """

    def __init__(self, *args, worker_timeout=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Trials queued for a retry after a chief restart -> the tuner id that
        # was running them: that tuner gets its trial back first.
        self._retry_owners = {}
        self._trial_end_callbacks = []
        self.leases = lease.Leases(worker_timeout)
        # (trial id, tuner id): that tuner lost that trial to its silence.
        self._lost_leases = set()

    # ------------------------------------------------------------------ #
    # Public helpers for tuners and retention.
    # ------------------------------------------------------------------ #
    def unfinished_trial_ids(self) -> set:
        """Ids of the trials that will train again or are training now."""
        running = {trial.trial_id for trial in self.ongoing_trials.values()}
        return running | set(self._retry_queue)

    def add_trial_end_callback(self, callback):
        """Call `callback(trial)` after each `end_trial`, in the oracle's thread.

        For work that must follow every ended trial in the process that holds
        the oracle, such as a distributed chief deleting checkpoints.
        """
        self._trial_end_callbacks.append(callback)

    # ------------------------------------------------------------------ #
    # Leases.
    # ------------------------------------------------------------------ #
    @property
    def worker_timeout(self):
        """The `worker_timeout` given (`None`: the default rule)."""
        return self.leases.timeout

    def worker_timeout_seconds(self) -> float:
        """The worker timeout in force now, in seconds."""
        return self.leases.effective_timeout()

    @keras_tuner.synchronized
    def heard_from(self, tuner_id):
        """A call from `tuner_id` arrived: it is alive (a heartbeat)."""
        self.expire_silent_workers()
        self.leases.heard(tuner_id)

    def holder_of(self, trial_id):
        """The tuner id that runs `trial_id` now (or will get it back after a
        chief restart), or None."""
        for tuner_id, trial in self.ongoing_trials.items():
            if trial.trial_id == trial_id:
                return tuner_id
        if trial_id in self._retry_queue:
            return self._retry_owners.get(trial_id)
        return None

    @keras_tuner.synchronized
    def refuse_report(self, tuner_id, trial_id):
        """Why a report of `tuner_id` about `trial_id` must be ignored, or None.

        Refused: a tuner's reports about a trial it lost to its silence, or
        about a trial another tuner runs. A caller that does not say who it is
        (`tuner_id=None`) is not checked.
        """
        if tuner_id is None:
            return None
        if (trial_id, tuner_id) in self._lost_leases:
            return (
                f"trial {trial_id} was given to another worker: {tuner_id} was "
                "silent for longer than the worker timeout "
                f"({self.worker_timeout_seconds():g} s)"
            )
        holder = self.holder_of(trial_id)
        if holder not in (None, tuner_id):
            return f"trial {trial_id} is run by {holder}, not by {tuner_id}"
        return None

    @keras_tuner.synchronized
    def expire_silent_workers(self):
        """Give the trials of tuners silent for too long back to the schedule.

        The next tuner that asks for a trial gets it (Keras Tuner's retry
        queue, same id and values, trained from its first epoch); the chief
        prints one line per trial. Called by the chief's server loop and
        before each `create_trial`.
        """
        for tuner_id, silence in self.leases.silent():
            self.leases.forget(tuner_id)
            # Else the chief would wait for it to be told STOPPED.
            self.tuner_ids.discard(tuner_id)
            lost = [t for t, owner in self._retry_owners.items() if owner == tuner_id]
            trial = self.ongoing_trials.pop(tuner_id, None)
            lost += [trial.trial_id] if trial is not None else []
            for trial_id in lost:
                self._give_back(trial_id, tuner_id)
                print(
                    f"chief: {tuner_id} was silent for {silence:.1f} s (worker "
                    f"timeout {self.worker_timeout_seconds():g} s): trial "
                    f"{trial_id} goes back to the schedule",
                    flush=True,
                )
            if lost:
                self.save()

    def _give_back(self, trial_id, tuner_id):
        self._retry_owners.pop(trial_id, None)
        self._lost_leases.add((trial_id, tuner_id))
        # The next run starts from scratch: nothing of this one is kept.
        trial = self.trials[trial_id]
        trial.metrics = metrics_tracking.MetricsTracker()
        trial.score = trial.best_step = None
        if trial_id not in self._retry_queue:
            self._retry_queue.append(trial_id)  # handed out next

    # ------------------------------------------------------------------ #
    # Trials.
    # ------------------------------------------------------------------ #
    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        self.expire_silent_workers()
        self.leases.heard(tuner_id)
        if tuner_id in self.ongoing_trials or not self._retry_queue:
            trial = super().create_trial(tuner_id)
        else:
            trial = self._create_trial_with_retries(tuner_id)
        if trial.status == trial_module.TrialStatus.RUNNING:
            self._lost_leases.discard((trial.trial_id, tuner_id))
        return trial

    def _create_trial_with_retries(self, tuner_id):
        # Trials to run again: a tuner gets its own back first (after a chief
        # restart); one that another tuner was running is leased to it until
        # that tuner has been silent for the worker timeout.
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
        if trial.status == trial_module.TrialStatus.RUNNING:
            owners.pop(trial.trial_id, None)
            self.save()
        return trial

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        self._heard_from_holder(trial_id)
        return super().update_trial(trial_id, metrics, step)

    def _heard_from_holder(self, trial_id):
        holder = self.holder_of(trial_id)
        if holder is not None:
            self.leases.heard(holder)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        trial_id = trial.trial_id
        self._heard_from_holder(trial_id)
        if trial_id in self.end_order:
            # It ran twice (given to another tuner after a chief restart while
            # its first tuner went on): the first result counts.
            for tuner_id, ongoing in list(self.ongoing_trials.items()):
                if ongoing.trial_id == trial_id:
                    self.ongoing_trials.pop(tuner_id)
            self.save()
            return
        self._keep_values(trial)
        if trial_id in self._retry_queue:
            # Its tuner kept running it through a chief restart.
            self._retry_queue.remove(trial_id)
        self._retry_owners.pop(trial_id, None)
        super().end_trial(trial)
        for callback in self._trial_end_callbacks:
            callback(self.trials[trial_id])

    def _keep_values(self, trial):
        """Never let an ended trial lose values the oracle gave it.

        Keras Tuner's old form `end_trial(trial_id, status)` arrives as a new
        `Trial` whose values are the space's defaults; the base class would
        copy them over the trial's own.
        """
        stored = self.trials[trial.trial_id].hyperparameters
        if any(name not in trial.hyperparameters.values for name in stored.values):
            trial.hyperparameters = stored

    def failure_order(self) -> list:
        """Trial ids in the order that `max_consecutive_failed_trials` counts.

        Defaults to the order in which trials ended, as Keras Tuner does.
        """
        return list(self.end_order)

    def _check_consecutive_failures(self):
        try:
            consecutive = 0
            for trial_id in self.failure_order():
                trial = self.trials[trial_id]
                failed = trial.status == trial_module.TrialStatus.FAILED
                consecutive = consecutive + 1 if failed else 0
                if consecutive == self.max_consecutive_failed_trials:
                    raise RuntimeError(
                        "Number of consecutive failures exceeded the limit "
                        f"of {self.max_consecutive_failed_trials}.\n"
                        + (trial.message or "")
                    )
        except RuntimeError:
            # The base `end_trial` raises here, before it saves the trial that
            # hit the limit: save it, or a resume would run it again.
            self._save_trial(self.trials[self.end_order[-1]])
            self.save()
            raise

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
        state["retry_owners"] = dict(self._retry_owners)
        state["lost_leases"] = sorted(self._lost_leases)
        return state

    def set_state(self, state):
        super().set_state(state)
        self._retry_owners = dict(state.get("retry_owners", {}))
        self._lost_leases = {tuple(pair) for pair in state.get("lost_leases", [])}

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
        self.after_reload()

    def after_reload(self):
        """Called at the end of `reload()`, once the state is reconciled."""

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
            if trial.status in ENDED_STATUSES:
                self.end_order.append(trial_id)
                ended.add(trial_id)
                continue
            if trial_id not in queued:
                queued.append(trial_id)
        # `create_trial` pops from the end: keep the earliest trial last.
        self._retry_queue = sorted(queued, reverse=True)
        self._retry_owners = {t: owners[t] for t in queued if t in owners}
        self.ongoing_trials = {}
        # Every tuner that was running a trial, or waiting for one, is leased
        # from now: its trial goes to another only after its silence.
        for tuner_id in set(self._retry_owners.values()) | set(self.tuner_ids):
            self.leases.heard(tuner_id)
