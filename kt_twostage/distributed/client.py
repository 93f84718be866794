"""The worker's side: a client of the chief that a restart, a token, TLS and
a lost lease do not surprise.

`WorkerClient` replaces Keras Tuner's `OracleClient` in a `TwoStageTuner`
worker (`prepare_worker`). It

- sends the worker's id, and the token of `KT_TWOSTAGE_TOKEN` if any, with
  every call, over TLS when `KT_TWOSTAGE_TLS_CA` is set;
- retries a call while the chief is unavailable (for example while it
  restarts), for up to an hour, instead of failing the worker;
- beats while it trains a trial: a heartbeat every few seconds (a quarter of
  the chief's worker timeout, at most 10 s), as long as the thread that
  asked for the trial is alive;
- when the chief answers that the trial was given to another worker (this
  worker was silent for too long), says so in one line and goes on with the
  next trial: the chief discards this run's results.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time

import grpc
import keras
from keras_tuner.src import errors, protos
from keras_tuner.src.distribute import oracle_client
from keras_tuner.src.engine import trial as trial_module

from kt_twostage.distributed import security
from kt_twostage.distributed.addresses import format_address
from kt_twostage.distributed.chief import (
    BEAT_SECONDS_KEY,
    HEARTBEAT_KEY,
    TUNER_ID_KEY,
)
from kt_twostage.distributed.roles import ORACLE_IP_ENV, ORACLE_PORT_ENV


class TokenRefused(errors.FatalError, RuntimeError):
    """The chief refused this worker's token (gRPC `UNAUTHENTICATED`)."""


def _lost_lease(error) -> bool:
    code = error.code() if hasattr(error, "code") else None
    return code == grpc.StatusCode.FAILED_PRECONDITION


class _RetryingStub:
    """Wraps a gRPC stub: calls carry `metadata`, and are retried while the
    chief is unavailable.

    Every oracle call is safe to repeat: `create_trial` hands a tuner the
    trial it already has, `update_trial` records the same value again, and
    `TwoStageOracle.end_trial` ignores a trial that has already ended.
    """

    def __init__(
        self, stub, retry_seconds, first_delay=0.5, max_delay=5.0, metadata=()
    ):
        self._stub = stub
        self._retry_seconds = retry_seconds
        self._delays = (first_delay, max_delay)
        self._metadata = tuple(metadata)

    def __getattr__(self, name):
        method = getattr(self._stub, name)
        if not callable(method):
            return method

        @functools.wraps(method)
        def call(*args, **kwargs):
            if self._metadata:
                kwargs["metadata"] = (*kwargs.get("metadata", ()), *self._metadata)
            deadline = time.monotonic() + self._retry_seconds
            delay = self._delays[0]
            while True:
                try:
                    return method(*args, **kwargs)
                except grpc.RpcError as error:
                    code = error.code() if hasattr(error, "code") else None
                    if code == grpc.StatusCode.UNAUTHENTICATED:
                        raise TokenRefused(
                            "the chief refused this worker: the token does not "
                            f"match the chief's (set {security.TOKEN_ENV} or "
                            "--token-file to the chief's token)"
                        ) from None
                    if (
                        code != grpc.StatusCode.UNAVAILABLE
                        or time.monotonic() + delay > deadline
                    ):
                        raise
                print(
                    f"worker: the chief is unavailable ({name}); retrying in "
                    f"{delay:g} s",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(delay)
                delay = min(delay * 2, self._delays[1])

        return call


def make_client_resilient(client, retry_seconds=3600.0):
    """Make a Keras Tuner `OracleClient` retry calls the chief cannot answer.

    Keras Tuner already waits for a chief that is not up yet; a call in
    flight when the chief dies fails with `UNAVAILABLE` and would end the
    worker. With this, the worker waits (up to `retry_seconds`) for the chief
    to come back, for instance after it was restarted on the same directory.
    """
    if not isinstance(client.stub, _RetryingStub):
        client.stub = _RetryingStub(client.stub, retry_seconds)
    return client


class _Heartbeat:
    """Beats for the trial being trained, from a thread of its own."""

    def __init__(self, stub, metadata, on_lost, seconds=1.0):
        self._stub = stub
        self._metadata = (*metadata, (HEARTBEAT_KEY, "1"))
        self._on_lost = on_lost
        self._seconds = seconds
        self._wake = threading.Condition()
        self._trial_id = None
        self._owner = None
        self._thread = None

    def start(self, trial_id):
        with self._wake:
            self._trial_id = trial_id
            self._owner = threading.current_thread()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="kt-twostage-heartbeat", daemon=True
                )
                self._thread.start()

    def stop(self):
        with self._wake:
            self._trial_id = None

    def _run(self):
        while True:
            with self._wake:
                self._wake.wait(self._seconds)
                trial_id, owner = self._trial_id, self._owner
            # A thread that died outside `run_trial` beats no more: its trial
            # goes to another worker once the chief's timeout has passed.
            if trial_id is not None and owner.is_alive():
                self.beat(trial_id)

    def beat(self, trial_id) -> bool:
        """One heartbeat now; False if the chief gave the trial to another
        worker (True while the chief cannot be reached: it may restart)."""
        request = protos.get_service().GetTrialRequest(trial_id=trial_id)
        try:
            _, call = self._stub.GetTrial.with_call(
                request, metadata=self._metadata, timeout=max(1.0, 2 * self._seconds)
            )
        except grpc.RpcError as error:
            if not _lost_lease(error):
                return True
            with self._wake:
                if self._trial_id == trial_id:
                    self._trial_id = None
            self._on_lost(trial_id, error)
            return False
        for key, value in call.trailing_metadata() or ():
            if key == BEAT_SECONDS_KEY:
                self._seconds = float(value)
        return True


class LeaseLost(Exception):
    """The chief gave this worker's trial to another worker."""


class LeaseGuard(keras.callbacks.Callback):
    """Stops training a trial the chief has given to another worker.

    At each epoch end (before the checkpoint callback, which comes after it),
    a heartbeat; if the trial is no longer this worker's, `LeaseLost` ends
    the trial there, so that no checkpoint of this run overwrites the new
    run's.
    """

    def __init__(self, client, trial_id):
        super().__init__()
        self._client = client
        self._trial_id = trial_id

    def on_epoch_end(self, epoch, logs=None):
        if not self._client.holds(self._trial_id):
            raise LeaseLost(
                f"trial {self._trial_id} was given to another worker; this run "
                "stops here"
            )


class WorkerClient(oracle_client.OracleClient):
    """Keras Tuner's `OracleClient`, with a token, TLS, retries and heartbeats.

    Args:
        client: The `OracleClient` that Keras Tuner made for the tuner.
        retry_seconds: Float, how long a call waits for an unavailable chief.
    """

    def __init__(self, client, retry_seconds=3600.0):
        # Not `super().__init__`: it would open a channel without TLS.
        self._oracle = client._oracle
        self.tuner_id = client.tuner_id
        self.multi_worker = client.multi_worker
        self.should_report = client.should_report
        metadata = [(TUNER_ID_KEY, self.tuner_id)]
        token = security.token_from_environment()
        if token:
            metadata.append((security.TOKEN_KEY, token))
        address = format_address(os.environ[ORACLE_IP_ENV], os.environ[ORACLE_PORT_ENV])
        stub = protos.get_service_grpc().OracleStub(security.open_channel(address))
        self.stub = _RetryingStub(stub, retry_seconds, metadata=metadata)
        self._heartbeat = _Heartbeat(stub, metadata, self._report_lost)
        self._lost = set()

    @property
    def _display(self):
        """This worker's display of its trials: its own oracle's."""
        return self._oracle._display

    def holds(self, trial_id) -> bool:
        """Whether the chief still counts on this worker for `trial_id`."""
        return trial_id not in self._lost and self._heartbeat.beat(trial_id)

    def _report_lost(self, trial_id, error):
        if trial_id in self._lost:
            return
        self._lost.add(trial_id)
        print(
            f"{self.tuner_id}: {error.details()}; the results of this run of "
            f"trial {trial_id} are discarded",
            file=sys.stderr,
            flush=True,
        )

    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == trial_module.TrialStatus.RUNNING:
            self._lost.discard(trial.trial_id)
            self._heartbeat.start(trial.trial_id)
        return trial

    def update_trial(self, trial_id, metrics, step=0):
        try:
            return super().update_trial(trial_id, metrics, step=step)
        except grpc.RpcError as error:
            if not _lost_lease(error):
                raise
            self._report_lost(trial_id, error)
            return trial_module.Trial(
                self._oracle.get_space(), trial_id=trial_id, status="RUNNING"
            )

    def end_trial(self, trial):
        self._heartbeat.stop()
        try:
            super().end_trial(trial)
        except grpc.RpcError as error:
            if not _lost_lease(error):
                raise
            self._report_lost(trial.trial_id, error)
