"""Keras Tuner's distribute tests, on the two-stage schedule.

Mirrors `keras_tuner/distribute/oracle_chief_test.py`, `oracle_client_test.py`,
`utils_test.py` and `engine/base_tuner_test.py::test_chief_should_wait_for_clients`.

Keras Tuner's `test_utils/mock_distribute.py` runs the chief and the workers
as threads of the test process, each with its own `KERASTUNER_*` variables
(a thread-local `os.environ`), on a free port of 127.0.0.1. `run_distributed`
does the same, with a timeout on every thread. The chief/client tests that
need no tuner serve a `TwoStageOracle` with Keras Tuner's servicer
(`serving`) and talk to it with Keras Tuner's `OracleClient`. The project's
own `tests/test_distributed.py` runs real processes.
"""

import collections.abc
import contextlib
import os
import socket
import sys
import threading
import time
import types
from concurrent import futures
from unittest import mock

import grpc
import keras_tuner
import pytest
from conformance_helpers import (
    FIT,
    KINDS,
    SCHEDULE_LENGTH,
    SHORT_SCHEDULE,
    STAGE2_TRIALS,
    TWO_STAGE_TUNER,
    UNITS,
    X_TRAIN,
    X_VAL,
    Y_TRAIN,
    Y_VAL,
    declare_schedule_hps,
    make_tuner,
    schedule_space,
    tuner_base,
)
from keras_tuner.engine import base_tuner
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief, oracle_client
from keras_tuner.src.engine import metrics_tracking

from kt_twostage import TwoStageOracle

kinds = pytest.mark.parametrize("kind", KINDS)

LOOPBACK = "127.0.0.1"
THREAD_TIMEOUT = 180  # seconds, per thread
SCORE = keras_tuner.Objective("score", "max")


# --------------------------------------------------------------------------- #
# A chief and workers as threads, as Keras Tuner's `mock_distribute`.
# --------------------------------------------------------------------------- #
def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class ThreadLocalEnviron(collections.abc.MutableMapping):
    """`os.environ` with a copy per thread, taken from the real one."""

    def __init__(self, initial):
        self._initial = dict(initial)
        self._local = threading.local()

    @property
    def _environ(self):
        if not hasattr(self._local, "environ"):
            self._local.environ = dict(self._initial)
        return self._local.environ

    def __getitem__(self, name):
        return self._environ[name]

    def __setitem__(self, name, value):
        self._environ[name] = value

    def __delitem__(self, name):
        del self._environ[name]

    def __iter__(self):
        return iter(dict(self._environ))

    def __len__(self):
        return len(self._environ)

    def copy(self):
        return dict(self._environ)


class _Thread(threading.Thread):
    """Keeps the exception its target raised."""

    def __init__(self, name, target, environ):
        super().__init__(name=name, daemon=True)
        self._target_function = target
        self._environ = environ
        self.error = None

    def run(self):
        try:
            os.environ.update(self._environ)
            self._target_function()
        except BaseException:  # noqa: BLE001 - re-raised in the test's thread
            self.error = sys.exc_info()


def run_distributed(function, workers, wait_for_chief=True):
    """Runs `function` in a chief thread and `workers` worker threads, each
    with its `KERASTUNER_*` variables, on a free port; re-raises the first
    error. Every thread must end within `THREAD_TIMEOUT` seconds."""
    port = str(free_port())

    def role(tuner_id):
        return {
            "KERASTUNER_ORACLE_IP": LOOPBACK,
            "KERASTUNER_ORACLE_PORT": port,
            "KERASTUNER_TUNER_ID": tuner_id,
        }

    with mock.patch.object(os, "environ", ThreadLocalEnviron(os.environ)):
        chief = _Thread("chief", function, role("chief"))
        chief.start()
        threads = [
            _Thread(f"worker{i}", function, role(f"worker{i}")) for i in range(workers)
        ]
        for thread in threads:
            thread.start()
        if wait_for_chief:
            threads.append(chief)
        deadline = time.monotonic() + THREAD_TIMEOUT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for thread in [chief, *threads]:
            if thread.error is not None:
                raise thread.error[1].with_traceback(thread.error[2])
        stuck = [thread.name for thread in threads if thread.is_alive()]
        if stuck:
            pytest.fail(f"still running after {THREAD_TIMEOUT} s: {stuck}")


def is_chief():
    return "chief" in os.environ.get("KERASTUNER_TUNER_ID", "")


@pytest.fixture
def short_client_timeout(monkeypatch):
    """A worker waits at most 60 s for the chief (Keras Tuner: an hour), and
    Keras Tuner's chief loop checks every 0.2 s whether it may exit (it
    checks every 20 s; what it waits for is unchanged)."""
    monkeypatch.setattr(oracle_client, "TIMEOUT", 60)
    monkeypatch.setattr(
        oracle_chief,
        "time",
        types.SimpleNamespace(sleep=lambda seconds: time.sleep(min(seconds, 0.2))),
    )


@contextlib.contextmanager
def serving(oracle, monkeypatch, tuner_id="worker0"):
    """Serves `oracle` with Keras Tuner's servicer on a free port of
    127.0.0.1 and yields an `OracleClient` (as `tuner_id`) talking to it."""
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    protos.get_service_grpc().add_OracleServicer_to_server(
        oracle_chief.OracleServicer(oracle), server
    )
    server.add_insecure_port(f"{LOOPBACK}:{port}")
    server.start()
    monkeypatch.setattr(oracle_client, "TIMEOUT", 30)
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", LOOPBACK)
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", tuner_id)
    try:
        # The worker's own copy of the oracle, as in Keras Tuner's tests.
        yield oracle_client.OracleClient(score_oracle(hyperparameters=None))
    finally:
        server.stop(grace=None).wait()


def score_oracle(directory=None, **kwargs):
    kwargs.setdefault("hyperparameters", schedule_space())
    oracle = TwoStageOracle(objective=SCORE, **SHORT_SCHEDULE, **kwargs)
    if directory is not None:
        oracle._set_project_dir(str(directory), "untitled")
    return oracle


# --------------------------------------------------------------------------- #
# oracle_chief_test.py: a client against a served TwoStageOracle.
# --------------------------------------------------------------------------- #
def test_get_space(tmp_path, monkeypatch):
    """Mirrors oracle_chief_test.py::test_get_space."""
    with serving(score_oracle(tmp_path), monkeypatch) as client:
        retrieved_hps = client.get_space()
    assert retrieved_hps.values == {"units": UNITS[0], "learning_rate": 0.01}
    assert len(retrieved_hps.space) == 2


def test_update_space(tmp_path, monkeypatch):
    """Mirrors oracle_chief_test.py::test_update_space.

    The chief's oracle starts without a space; a worker declares it, and the
    schedule then hands out its first trial.
    """
    with serving(score_oracle(tmp_path, hyperparameters=None), monkeypatch) as client:
        hps = schedule_space()
        hps.Int("a", 0, 10, default=5)
        client.update_space(hps)
        retrieved_hps = client.get_space()
        trial = client.create_trial("worker0")
    assert len(retrieved_hps.space) == 3
    assert retrieved_hps.values["a"] == 5
    assert retrieved_hps.values["units"] == UNITS[0]
    assert trial.status == "RUNNING"


def test_create_trial(tmp_path, monkeypatch):
    """Mirrors oracle_chief_test.py::test_create_trial."""
    with serving(score_oracle(tmp_path), monkeypatch) as client:
        trial = client.create_trial("worker0")
    assert trial.status == "RUNNING"
    values = trial.hyperparameters.values
    assert values["units"] == UNITS[0]
    assert values["learning_rate"] == 0.01
    # What a worker needs to train the trial travels in its values.
    assert values["tuner/stage"] == 1
    assert values["tuner/epochs"] == 1


def test_update_trial(tmp_path, monkeypatch):
    """Mirrors oracle_chief_test.py::test_update_trial."""
    with serving(score_oracle(tmp_path), monkeypatch) as client:
        trial = client.create_trial("worker0")
        assert "score" not in trial.metrics.metrics
        client.update_trial(trial.trial_id, {"score": 1}, step=2)
        updated_trial = client.get_trial(trial.trial_id)
    assert updated_trial.metrics.get_history("score") == [
        metrics_tracking.MetricObservation([1], step=2)
    ]


def test_end_trial(tmp_path, monkeypatch):
    """Mirrors oracle_chief_test.py::test_end_trial."""
    with serving(score_oracle(tmp_path), monkeypatch) as client:
        trial = client.create_trial("worker0")
        client.update_trial(trial.trial_id, {"score": 1}, step=2)
        trial.status = "FAILED"
        client.end_trial(trial)
        updated_trial = client.get_trial(trial.trial_id)
    assert updated_trial.status == "FAILED"


def test_get_best_trials(tmp_path, monkeypatch):
    """Mirrors oracle_chief_test.py::test_get_best_trials.

    Adapted: the whole schedule runs through the client, each trial scoring
    its rank (0, 1, 2, 3); the best three are the two stage-2 trials, then
    the better stage-1 trial.
    """
    trial_scores = {}
    with serving(score_oracle(tmp_path), monkeypatch) as client:
        for score in range(SCHEDULE_LENGTH):
            trial = client.create_trial("worker0")
            assert trial.status == "RUNNING"
            assert {"units", "learning_rate"} <= set(trial.hyperparameters.values)
            client.update_trial(trial.trial_id, {"score": score})
            trial.status = "COMPLETED"
            client.end_trial(trial)
            trial_scores[trial.trial_id] = score
        assert client.create_trial("worker0").status == "STOPPED"
        best_trials = client.get_best_trials(3)
    assert [t.score for t in best_trials] == [3, 2, 1]
    for trial in best_trials:
        assert trial_scores[trial.trial_id] == trial.score


# --------------------------------------------------------------------------- #
# oracle_client_test.py and utils_test.py.
# --------------------------------------------------------------------------- #
class ScoreTuner(base_tuner.BaseTuner):
    """Keras Tuner's `SimpleTuner`: the "model" is its score, saved to a file."""

    def run_trial(self, trial):
        score = self.hypermodel.build(trial.hyperparameters)
        self.save_model(trial.trial_id, score)
        return {"score": score}

    def save_model(self, trial_id, score, step=0):
        with open(os.path.join(self.project_dir, trial_id), "w") as handle:
            handle.write(str(score))

    def load_model(self, trial):
        with open(os.path.join(self.project_dir, trial.trial_id)) as handle:
            return int(handle.read())


def integer_score(hp):
    """units 2 -> 20, units 4 -> 40; in stage 2 (units 4), lr 0.05 -> 200."""
    units, lr = declare_schedule_hps(hp)
    return int(round(units * lr * 1000))


def test_base_tuner_distribution(tmp_path, short_client_timeout):
    """Mirrors oracle_client_test.py::test_base_tuner_distribution.

    A chief and 3 workers (Keras Tuner's `BaseTuner` and chief loop); on the
    chief, the best models come in the order of the best trials: stage 2
    first, each stage by score.
    """
    results = {}

    def search():
        tuner = ScoreTuner(
            oracle=score_oracle(),
            hypermodel=integer_score,
            directory=str(tmp_path),
        )
        tuner.search()
        if is_chief():
            results["scores"] = tuner.get_best_models(SCHEDULE_LENGTH)
            results["trials"] = tuner.oracle.get_best_trials(SCHEDULE_LENGTH)

    run_distributed(search, workers=3)
    scores = results["scores"]
    assert scores == [trial.score for trial in results["trials"]]
    assert scores == sorted(scores, reverse=True)
    stages = [t.hyperparameters.values["tuner/stage"] for t in results["trials"]]
    assert stages == [2] * STAGE2_TRIALS + [1] * len(UNITS)


def test_two_stage_tuner_distribution(tmp_path, short_client_timeout):
    """Mirrors oracle_client_test.py::test_base_tuner_distribution with
    `TwoStageTuner` (its own chief loop and resilient workers)."""
    results = {}

    class MyTuner(tuner_base(TWO_STAGE_TUNER)):
        def run_trial(self, trial, *args, **kwargs):
            return {"score": integer_score(trial.hyperparameters)}

    def search():
        tuner = make_tuner(
            TWO_STAGE_TUNER,
            tmp_path,
            hypermodel=None,
            tuner_class=MyTuner,
            objective=SCORE,
            hyperparameters=schedule_space(),
        )
        tuner.search(verbose=0)
        if is_chief():
            results["trials"] = tuner.oracle.get_best_trials(SCHEDULE_LENGTH)
            results["statuses"] = {t.status for t in tuner.oracle.trials.values()}

    run_distributed(search, workers=3)
    assert results["statuses"] == {"COMPLETED"}
    scores = [trial.score for trial in results["trials"]]
    assert scores == [200, 100, 40, 20]


@kinds
def test_random_search(kind, tmp_path, short_client_timeout):
    """Mirrors oracle_client_test.py::test_random_search.

    One worker trains real models (TensorFlow is not thread-safe enough for
    more in one process); the chief's best trials and best models come in
    the order of their validation loss.
    """
    results = {}

    def search():
        tuner = make_tuner(kind, tmp_path, objective="val_loss")
        tuner.search(X_TRAIN, Y_TRAIN, **FIT)
        if is_chief():
            trials = tuner.oracle.get_best_trials(2)
            models = tuner.get_best_models(2)
            results["scores"] = [trial.score for trial in trials]
            results["losses"] = [
                model.evaluate(X_VAL, Y_VAL, verbose=0)[0] for model in models
            ]

    run_distributed(search, workers=1)
    assert results["scores"][0] <= results["scores"][1]
    assert results["losses"][0] <= results["losses"][1] + 1e-6
    assert results["losses"] == pytest.approx(results["scores"], rel=1e-4)


def test_client_no_attribute_error(monkeypatch):
    """Mirrors oracle_client_test.py::test_client_no_attribute_error."""
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", LOOPBACK)
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(free_port()))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    client = oracle_client.OracleClient(score_oracle())
    with pytest.raises(AttributeError, match="has no attribute"):
        client.unknown_attribute  # noqa: B018


@kinds
def test_worker_tuner_oracle_no_attribute_error(kind, tmp_path, monkeypatch):
    """Mirrors oracle_client_test.py::test_client_no_attribute_error on a
    worker's tuner: its oracle is a client (no chief needs to run for that),
    which answers only what Keras Tuner's client answers."""
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", LOOPBACK)
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(free_port()))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    tuner = make_tuner(kind, tmp_path)
    assert tuner.oracle.objective.name == "val_accuracy"
    with pytest.raises(AttributeError, match="has no attribute"):
        tuner.oracle.unknown_attribute  # noqa: B018


def test_should_not_report_update_trial_return_running(monkeypatch):
    """Mirrors oracle_client_test.py::
    test_should_not_report_update_trial_return_running."""
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", LOOPBACK)
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(free_port()))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    with mock.patch.object(
        oracle_client.OracleClient,
        "get_space",
        return_value=keras_tuner.HyperParameters(),
    ):
        client = oracle_client.OracleClient(score_oracle())
        client.should_report = False
        assert client.update_trial("a", {"score": 100}).status == "RUNNING"


@kinds
@pytest.mark.parametrize(
    ("variables", "missing"),
    [
        ({"KERASTUNER_TUNER_ID": "worker0"}, "KERASTUNER_ORACLE_PORT"),
        ({"KERASTUNER_ORACLE_PORT": "80"}, "KERASTUNER_TUNER_ID"),
    ],
    ids=["no port", "no id"],
)
def test_missing_variable_error(kind, variables, missing, tmp_path, monkeypatch):
    """Mirrors utils_test.py::test_no_port_error and ::test_no_id_error, at
    the tuner: a tuner given the chief's address but not the rest says which
    variable is missing."""
    for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", LOOPBACK)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=missing):
        make_tuner(kind, tmp_path)


# --------------------------------------------------------------------------- #
# base_tuner_test.py::test_chief_should_wait_for_clients.
# --------------------------------------------------------------------------- #
class SlowEndOracle(TwoStageOracle):
    """Ends trials slowly: the chief must not leave while one is ending."""

    @keras_tuner.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        time.sleep(1)


class RandomScoreTuner(base_tuner.BaseTuner):
    def run_trial(self, trial, *args, **kwargs):
        trial.hyperparameters.Boolean("foo")
        return {"score": float(trial.hyperparameters["units"])}


def test_chief_should_wait_for_clients(tmp_path, short_client_timeout):
    """Mirrors base_tuner_test.py::test_chief_should_wait_for_clients
    (Keras Tuner's `BaseTuner` and chief loop, a `TwoStageOracle` whose
    `end_trial` is slow, 2 workers)."""

    def search():
        oracle = SlowEndOracle(
            objective=SCORE, hyperparameters=schedule_space(), **SHORT_SCHEDULE
        )
        tuner = RandomScoreTuner(oracle=oracle, directory=str(tmp_path))
        tuner.search(verbose=0)

    run_distributed(search, workers=2, wait_for_chief=True)


def test_two_stage_chief_should_wait_for_clients(tmp_path, short_client_timeout):
    """Mirrors base_tuner_test.py::test_chief_should_wait_for_clients with
    `TwoStageTuner` (its own chief loop): every worker's last `end_trial`
    gets its answer, and every trial is recorded as completed."""
    results = {}

    class MyTuner(tuner_base(TWO_STAGE_TUNER)):
        def run_trial(self, trial, *args, **kwargs):
            return {"score": float(trial.hyperparameters["units"])}

    def search():
        tuner = make_tuner(
            TWO_STAGE_TUNER,
            tmp_path,
            hypermodel=None,
            tuner_class=MyTuner,
            objective=SCORE,
            hyperparameters=schedule_space(),
        )
        if is_chief():
            end_trial = tuner.oracle.end_trial

            def slow_end_trial(trial):
                result = end_trial(trial)
                time.sleep(1)
                return result

            tuner.oracle.end_trial = slow_end_trial
        tuner.search(verbose=0)
        if is_chief():
            results["statuses"] = [t.status for t in tuner.oracle.trials.values()]

    run_distributed(search, workers=2, wait_for_chief=True)
    assert results["statuses"] == ["COMPLETED"] * SCHEDULE_LENGTH
