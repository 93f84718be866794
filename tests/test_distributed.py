"""Distributed tuning with real processes on 127.0.0.1 and a fake trainer.

Run as a script, this file is one process of a distributed search (its role
comes from the KERASTUNER_* environment variables)::

    python tests/test_distributed.py DIR [--sleep 0.5] [--stage2-trials 3]
        [--parallelism 1] [--workers 2] [--wait-for FILE]
        [--worker-timeout SECONDS] [--poison-first TUNER_ID]

`FakeTuner.run_trial` trains nothing: it sleeps, then returns a score that
depends only on (units, learning rate) (`score_from_values` of
tests/oracle_driver.py). A stage-1 trial first waits until `--workers`
workers have started (each process imports TensorFlow, which takes seconds on
a busy machine), so that every worker gets stage-1 trials. Every process
appends JSON lines to DIR/events.log (with `--wait-for`, a process imports
TensorFlow, then waits for FILE to exist: a stand-by that replaces a killed
process at once): ``ready`` when its tuner exists,
``start`` / ``done`` for each trial it runs, and on the chief ``create`` for
each answer to a worker's request. The chief writes DIR/final.json at the end.
With `--poison-first TUNER_ID`, the first trial that tuner runs scores 99: a
result that must never count (the tuner is stalled until it lost the trial).
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import re
import signal
import subprocess
import sys
import time

import keras_tuner as kt
import pytest
from oracle_driver import (
    describe,
    make_oracle,
    make_space,
    run_to_end,
    score_from_values,
)

from kt_twostage import TwoStageTuner, distributed
from kt_twostage.cli import main as cli_main

# Chiefs and workers as real processes; `make test-all` only.
pytestmark = pytest.mark.heavy

UNITS = (10, 40, 10)
POISON = 99.0


def log_event(directory, event, **fields):
    line = json.dumps(
        {"event": event, "time": time.time(), "pid": os.getpid(), **fields}
    )
    fd = os.open(
        os.path.join(directory, "events.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT
    )
    try:
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def read_events(directory):
    path = os.path.join(directory, "events.log")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def script_main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--sleep", type=float, default=0.5)
    parser.add_argument("--stage2-trials", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--wait-for")
    parser.add_argument("--worker-timeout", type=float)
    parser.add_argument("--poison-first")
    args = parser.parse_args(argv)

    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    deadline = time.monotonic() + 120
    while args.wait_for and not os.path.exists(args.wait_for):
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.02)

    def build(hp):
        hp.Int("units", *UNITS[:2], step=UNITS[2])
        hp.Float("learning_rate", 1e-6, 0.02, sampling="log", default=0.001)

    poisoned = []

    class FakeTuner(TwoStageTuner):
        def run_trial(self, trial, *fit_args, **fit_kwargs):
            values = trial.hyperparameters.values
            log_event(args.directory, "start", tuner=tuner_id, trial=trial.trial_id)
            deadline = time.monotonic() + 120
            while values["tuner/stage"] == 1 and time.monotonic() < deadline:
                ready = {
                    e["tuner"]
                    for e in read_events(args.directory)
                    if e["event"] == "ready" and e["tuner"] != "chief"
                }
                if len(ready) >= args.workers:
                    break
                time.sleep(0.05)
            time.sleep(args.sleep)
            score = score_from_values(values)
            if tuner_id == args.poison_first and not poisoned:
                poisoned.append(trial.trial_id)
                score = POISON
            log_event(args.directory, "done", tuner=tuner_id, trial=trial.trial_id)
            return {"score": score}

    tuner = FakeTuner(
        build,
        objective=kt.Objective("score", "max"),
        stage2_trials=args.stage2_trials,
        stage2_parallelism=args.parallelism,
        worker_timeout=args.worker_timeout,
        directory=args.directory,
        project_name="project",
    )
    if tuner_id == "chief":
        create_trial = tuner.oracle.create_trial

        def logged_create_trial(asking):
            trial = create_trial(asking)
            log_event(
                args.directory,
                "create",
                tuner=asking,
                trial=trial.trial_id,
                status=trial.status,
            )
            return trial

        tuner.oracle.create_trial = logged_create_trial
    log_event(args.directory, "ready", tuner=tuner_id)
    tuner.search(verbose=0)
    log_event(args.directory, "search_returned", tuner=tuner_id)
    if tuner_id != "chief":
        return 0
    oracle = tuner.oracle
    final = {
        "path": [describe(oracle.trials[t]) for t in oracle.stage2_path()],
        "best": describe(oracle.get_best_trials(1)[0]),
        "roles": oracle.trial_roles(),
        "trials": {
            trial_id: {
                "values": trial.hyperparameters.values,
                "status": trial.status,
                "score": trial.score,
            }
            for trial_id, trial in oracle.trials.items()
        },
        "max_trials": oracle.max_trials,
    }
    with open(os.path.join(args.directory, "final.json"), "w") as handle:
        json.dump(final, handle)
    return 0


# --------------------------------------------------------------------------- #
# The tests.
# --------------------------------------------------------------------------- #
SCRIPT = os.path.abspath(__file__)


def reference(tmp_path, stage2_trials):
    """(path trials, chosen trial) of the sequential schedule, in process."""
    oracle = make_oracle(
        tmp_path / "reference",
        hyperparameters=make_space(units=UNITS),
        stage2_trials=stage2_trials,
    )
    ran = run_to_end(oracle, score_from_values)
    best = oracle.get_best_trials(1)[0].hyperparameters.values
    chosen = (best["tuner/stage"], best["units"], best["learning_rate"], 30)
    return [list(r) for r in ran[4:]], list(chosen)


def command(directory, *extra):
    return [sys.executable, SCRIPT, str(directory), *map(str, extra)]


def launch(directory, workers, *extra):
    output = io.StringIO()
    started = time.monotonic()
    status = distributed.launch_local(
        command(directory, *extra), workers, output=output, grace_seconds=20
    )
    return status, output.getvalue(), time.monotonic() - started


def final(directory):
    with open(os.path.join(directory, "final.json")) as handle:
        return json.load(handle)


def test_chief_and_two_workers_run_the_whole_schedule(tmp_path):
    status, output, _ = launch(
        tmp_path, 2, "--sleep", 0.5, "--stage2-trials", 3, "--workers", 2
    )
    assert status == 0, output
    events = read_events(tmp_path)
    result = final(tmp_path)
    path, chosen = reference(tmp_path, 3)
    assert result["path"] == path
    assert result["best"] == chosen
    # Every trial ran exactly once, on a worker.
    starts = collections.Counter(e["trial"] for e in events if e["event"] == "start")
    dones = collections.Counter(e["trial"] for e in events if e["event"] == "done")
    assert set(starts) == set(result["trials"]) and len(starts) == 7
    assert set(starts.values()) == {1} and set(dones.values()) == {1}
    stage1 = {
        t
        for t, trial in result["trials"].items()
        if trial["values"]["tuner/stage"] == 1
    }
    stage1_tuners = {
        e["tuner"] for e in events if e["event"] == "start" and e["trial"] in stage1
    }
    assert stage1_tuners == {"worker0", "worker1"}
    # A worker told IDLE backs off (Keras Tuner would ask again at once).
    answers = [e for e in events if e["event"] == "create"]
    idle = collections.Counter(e["tuner"] for e in answers if e["status"] == "IDLE")
    assert max(idle.values(), default=0) < 15, idle
    stopped = {e["tuner"] for e in answers if e["status"] == "STOPPED"}
    assert stopped == {"worker0", "worker1"}
    # The chief exits promptly once both workers were told to stop.
    last_done = max(e["time"] for e in events if e["event"] == "done")
    returned = [e for e in events if e["event"] == "search_returned"]
    chief_end = next(e["time"] for e in returned if e["tuner"] == "chief")
    assert chief_end - last_done < 5
    assert "[worker0] " in output
    assert "[chief] chief: serving the oracle on 127.0.0.1:" in output


def test_speculative_stage2_gives_the_sequential_result(tmp_path):
    extra = ("--sleep", 0.5, "--stage2-trials", 5, "--parallelism", 2, "--workers", 2)
    status, output, _ = launch(tmp_path, 2, *extra)
    assert status == 0, output
    result = final(tmp_path)
    path, chosen = reference(tmp_path, 5)
    assert result["path"] == path
    assert result["best"] == chosen
    roles = result["roles"]
    assert list(roles.values()).count("path") == 5
    assert set(roles.values()) <= {"stage 1", "path", "off-path"}
    speculative = {
        trial_id
        for trial_id, trial in result["trials"].items()
        if trial["values"].get("tuner/speculative")
    }
    assert speculative  # stage-2 trials did run before their parent ended
    # Trials off the path (kept, never chosen) are speculative ones.
    assert {t for t, role in roles.items() if role == "off-path"} <= speculative
    assert result["max_trials"] == 4 + 5 + 1 * 2
    events = read_events(tmp_path)
    dones = collections.Counter(e["trial"] for e in events if e["event"] == "done")
    assert set(dones.values()) == {1} and len(dones) == len(result["trials"])


def start(directory, tuner_id, port, *extra):
    env = {
        **os.environ,
        **distributed.role_environment(tuner_id, "127.0.0.1", port),
        "PYTHONUNBUFFERED": "1",
    }
    log = open(os.path.join(directory, f"{tuner_id}.out"), "ab")  # noqa: SIM115
    process = subprocess.Popen(
        command(directory, *extra), env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    return process


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def finish_all(processes, timeout=90):
    try:
        for process in processes:
            assert process.wait(timeout) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def outputs(directory):
    return "\n".join(
        f"--- {name}\n" + open(os.path.join(directory, name), errors="replace").read()
        for name in sorted(os.listdir(directory))
        if name.endswith(".out")
    )


def test_killed_worker_gets_its_trial_back_when_restarted(tmp_path):
    port = distributed.free_port()
    extra = ("--sleep", 1.0, "--stage2-trials", 2, "--workers", 2)
    processes = [start(tmp_path, name, port, *extra) for name in ("chief", "worker0")]
    victim = start(tmp_path, "worker1", port, *extra)
    # The new worker1 imports TensorFlow meanwhile, and starts when told.
    go = tmp_path / "go"
    processes.append(start(tmp_path, "worker1", port, *extra, "--wait-for", go))
    try:
        started = wait_for(
            lambda: [
                e
                for e in read_events(tmp_path)
                if e["event"] == "start" and e["tuner"] == "worker1"
            ],
            120,
            "worker1 to start a trial",
        )[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        go.touch()
        finish_all(processes)
    except BaseException:
        print(outputs(tmp_path))
        raise
    finally:
        for process in (victim, *processes):
            if process.poll() is None:
                process.kill()
    events = read_events(tmp_path)
    again = [
        e
        for e in events
        if e["event"] == "start" and e["tuner"] == "worker1" and e["pid"] != victim.pid
    ]
    # The first trial the new worker1 runs is the one the old one was running.
    assert again and again[0]["trial"] == started["trial"]
    dones = collections.Counter(e["trial"] for e in events if e["event"] == "done")
    result = final(tmp_path)
    assert set(dones.values()) == {1} and len(dones) == len(result["trials"]) == 6
    path, chosen = reference(tmp_path, 2)
    assert (result["path"], result["best"]) == (path, chosen)


def test_restarted_chief_resumes_with_the_running_workers(tmp_path):
    port = distributed.free_port()
    extra = ("--sleep", 1.5, "--stage2-trials", 2, "--workers", 2)
    victim = start(tmp_path, "chief", port, *extra)
    workers = [start(tmp_path, name, port, *extra) for name in ("worker0", "worker1")]
    # The new chief imports TensorFlow meanwhile, and starts when told.
    go = tmp_path / "go"
    chief = start(tmp_path, "chief", port, *extra, "--wait-for", go)

    def running():
        events = read_events(tmp_path)
        started = {e["tuner"]: e["trial"] for e in events if e["event"] == "start"}
        done = {e["trial"] for e in events if e["event"] == "done"}
        return len(started) == 2 and not done & set(started.values()) and started

    try:
        running_trials = wait_for(running, 120, "both workers to run a trial")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        go.touch()
        finish_all([chief, *workers])
    except BaseException:
        print(outputs(tmp_path))
        raise
    finally:
        for process in (victim, chief, *workers):
            if process.poll() is None:
                process.kill()
    assert re.search(r"resuming: \d of 6 trials done, in stage 1", outputs(tmp_path))
    events = read_events(tmp_path)
    result = final(tmp_path)
    dones = collections.Counter(e["trial"] for e in events if e["event"] == "done")
    # The trials the workers kept running through the restart count once.
    assert set(dones.values()) == {1} and len(dones) == len(result["trials"]) == 6
    starts = collections.Counter(e["trial"] for e in events if e["event"] == "start")
    assert all(starts[trial] == 1 for trial in running_trials.values())
    assert all(t["status"] == "COMPLETED" for t in result["trials"].values())
    path, chosen = reference(tmp_path, 2)
    assert (result["path"], result["best"]) == (path, chosen)


# --------------------------------------------------------------------------- #
# The launcher and the command line, without TensorFlow in the children.
# --------------------------------------------------------------------------- #
ROLE_SCRIPT = (
    "import os, sys, time\n"
    "role = os.environ['KERASTUNER_TUNER_ID']\n"
    "print('hello from', role, os.environ['KERASTUNER_ORACLE_IP'], flush=True)\n"
    "if role.startswith({fail!r}): sys.exit(3)\n"
    "time.sleep(4 if role == 'chief' else 60)\n"
)


def run_launcher(failing, **kwargs):
    output = io.StringIO()
    started = time.monotonic()
    status = distributed.launch_local(
        [sys.executable, "-c", ROLE_SCRIPT.format(fail=failing)],
        2,
        output=output,
        grace_seconds=0.5,
        **kwargs,
    )
    assert time.monotonic() - started < 30
    return status, output.getvalue()


def test_launcher_stops_the_workers_when_the_chief_fails():
    status, text = run_launcher("chief")
    assert status == 3
    assert "[chief] hello from chief 127.0.0.1" in text
    assert "chief failed (exit status 3): stopping the workers" in text


def test_launcher_restarts_a_failed_worker_and_goes_on_without_it():
    status, text = run_launcher("worker1", worker_restarts=2)
    assert status == 0  # the chief finished: the search is complete
    assert text.count("[worker1] hello from worker1 127.0.0.1") == 3
    assert "worker1 failed (exit status 3): starting it again (1 of 2)" in text
    assert "worker1 failed (exit status 3): starting it again (2 of 2)" in text
    assert "worker1 failed (exit status 3) for good" in text
    assert text.count("[worker0] hello from worker0") == 1
    assert "chief finished" in text


def test_launcher_stops_the_chief_when_every_worker_failed_for_good():
    status, text = run_launcher("worker", worker_restarts=1)
    assert status == 1
    assert "every worker failed: stopping the chief" in text


def test_launcher_succeeds_and_stops_idle_workers():
    script = (
        "import os, time\n"
        "if os.environ['KERASTUNER_TUNER_ID'] != 'chief': time.sleep(60)\n"
    )
    output = io.StringIO()
    status = distributed.launch_local(
        [sys.executable, "-c", script], 1, output=output, grace_seconds=0.5
    )
    assert status == 0
    assert "stopping worker0: the search is over" in output.getvalue()


def test_addresses():
    assert distributed.parse_address("8000") == ("127.0.0.1", 8000)
    assert distributed.parse_address("10.0.0.5:8000") == ("10.0.0.5", 8000)
    assert distributed.parse_address("[::1]:8000") == ("::1", 8000)
    for bad in ("host:0", "host:x", "70000", ":"):
        with pytest.raises(ValueError, match="Invalid address"):
            distributed.parse_address(bad)
    assert distributed.connect_host("0.0.0.0") == "127.0.0.1"
    for bad in ("chief", "my-chief-1", "tuner0", ""):
        with pytest.raises(ValueError, match="Invalid worker id"):
            distributed.check_worker_id(bad)


def test_search_workers_builds_the_chief_and_worker_commands():
    from kt_twostage.cli import build_parser
    from kt_twostage.cli.search import distributed_commands

    args = build_parser().parse_args(
        [
            "search",
            "--workers",
            "2",
            "--stage2-trials",
            "5",
            "--directory",
            "runs",
            "--overwrite",
            "--stage2-parallelism",
            "3",
        ]
    )
    chief, worker = distributed_commands(args)
    assert chief[1:4] == ["-m", "kt_twostage", "search"]
    assert worker[1:4] == ["-m", "kt_twostage", "worker"]
    for line in (chief, worker):
        assert "--workers" not in line
        assert line[line.index("--stage2-trials") + 1] == "5"
        assert line[line.index("--directory") + 1] == "runs"
    # Only the chief may delete the project, and only it uses the parallelism.
    assert "--overwrite" in chief and "--overwrite" not in worker
    assert "--stage2-parallelism" in chief


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--workers", "0"], "--workers must be a positive integer"),
        (["--stage2-parallelism", "0"], "--stage2-parallelism must be a positive"),
        (["--serve", "host:99999"], "--serve: Invalid address"),
    ],
)
def test_bad_distributed_flags_are_usage_errors(flags, message, capsys):
    assert cli_main(["search", *flags]) == 2
    assert message in capsys.readouterr().err


def test_worker_without_a_chief_is_a_usage_error(monkeypatch, capsys):
    for name in (
        "KERASTUNER_TUNER_ID",
        "KERASTUNER_ORACLE_IP",
        "KERASTUNER_ORACLE_PORT",
    ):
        monkeypatch.delenv(name, raising=False)
    assert cli_main(["worker", "--tuner-id", "worker0"]) == 2
    assert "--chief" in capsys.readouterr().err
    assert cli_main(["worker", "--chief", "127.0.0.1:1", "--tuner-id", "chief"]) == 2
    assert "Invalid worker id" in capsys.readouterr().err


def test_worker_calls_are_retried_while_the_chief_is_unavailable(capsys):
    import grpc

    class Failure(grpc.RpcError):
        def __init__(self, code):
            self._code = code

        def code(self):
            return self._code

    calls = []

    class Stub:
        def CreateTrial(self, request, **kwargs):
            calls.append(request)
            if len(calls) < 3:
                raise Failure(grpc.StatusCode.UNAVAILABLE)
            return f"trial for {request}"

        def EndTrial(self, request, **kwargs):
            raise Failure(grpc.StatusCode.INVALID_ARGUMENT)

    stub = distributed._RetryingStub(Stub(), retry_seconds=10, first_delay=0.01)
    assert stub.CreateTrial("worker0", timeout=5) == "trial for worker0"
    assert len(calls) == 3
    assert "the chief is unavailable (CreateTrial); retrying" in capsys.readouterr().err
    with pytest.raises(grpc.RpcError):
        stub.EndTrial("trial")  # other errors are not retried


if __name__ == "__main__":
    sys.exit(script_main())
