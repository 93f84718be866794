"""Which role a process plays, and what `TwoStageTuner` does in each."""

from __future__ import annotations

import os
import time

TUNER_ID_ENV = "KERASTUNER_TUNER_ID"
ORACLE_IP_ENV = "KERASTUNER_ORACLE_IP"
ORACLE_PORT_ENV = "KERASTUNER_ORACLE_PORT"
CHIEF_ID = "chief"


def is_chief() -> bool:
    """Whether this process is the chief of a distributed search (Keras
    Tuner's rule: the oracle's address is set and the id contains `chief`)."""
    from keras_tuner.src.distribute import utils

    return utils.is_chief_oracle()


def is_worker() -> bool:
    """Whether this process is a worker of a distributed search."""
    from keras_tuner.src.distribute import utils

    return utils.has_chief_oracle() and not utils.is_chief_oracle()


def run_chief(tuner, verbose=None):
    """The chief's `search`: serve the oracle until every worker is told to stop.

    As Keras Tuner's chief, but it exits as soon as the search is over (Keras
    Tuner's checks every 20 seconds), and saves the tuner first, so that the
    project can be resumed the same way with workers or without.
    """
    from kt_twostage import distributed

    if verbose is not None:
        tuner.oracle.verbose = verbose
    tuner.save()
    distributed.serve_oracle(tuner.oracle)


def tuner_file(tuner, default):
    """The tuner's state file: the chief keeps the standalone tuner's.

    Keras Tuner reloads a project only if `tuner0.json` exists, so a project
    is then resumed the same way with workers or without.
    """
    if is_chief():
        return os.path.join(str(tuner.project_dir), "tuner0.json")
    return default


def prepare_worker(tuner):
    """A worker's client: token, TLS, heartbeats, and patience with a chief
    that restarts (`kt_twostage.distributed.client.WorkerClient`)."""
    if is_worker():
        from kt_twostage.distributed.client import WorkerClient

        tuner.oracle = WorkerClient(tuner.oracle)


def lease_callbacks(tuner, trial):
    """On a worker, `[LeaseGuard]`: training stops at the end of an epoch once
    the chief has given the trial to another worker (`client.LeaseGuard`)."""
    if not is_worker():
        return []
    from kt_twostage.distributed.client import LeaseGuard, WorkerClient

    if isinstance(tuner.oracle, WorkerClient):
        return [LeaseGuard(tuner.oracle, trial.trial_id)]
    return []


class IdleBackoff:
    """Pauses between requests for a trial while the oracle answers IDLE.

    Keras Tuner asks again at once after IDLE: a worker waiting for the end
    of stage 1 would busy-spin. Each wait doubles, from `first` to `longest`
    seconds; `reset()` when a trial starts.
    """

    def __init__(self, first=0.05, longest=2.0):
        self.first = first
        self.longest = longest
        self._next = None

    def wait(self):
        """Sleep before asking again (not before the first request)."""
        if self._next is None:
            self._next = self.first
            return
        time.sleep(self._next)
        self._next = min(self._next * 2, self.longest)

    def reset(self):
        self._next = None


def role_environment(tuner_id, host, port):
    """The environment variables that give a process its role."""
    return {
        TUNER_ID_ENV: str(tuner_id),
        ORACLE_IP_ENV: str(host),
        ORACLE_PORT_ENV: str(port),
    }


def check_worker_id(tuner_id):
    """Refuse ids that Keras Tuner would take for the chief's, or the tuner's."""
    if not tuner_id or "chief" in tuner_id or tuner_id == "tuner0":
        raise ValueError(
            f"Invalid worker id {tuner_id!r}: expected a non-empty id that does "
            "not contain 'chief' (Keras Tuner takes any such id for the chief) "
            "and is not 'tuner0' (the file of the standalone tuner), for "
            "example 'worker0'."
        )
    return tuner_id
