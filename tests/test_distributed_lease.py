"""Lost and stalled workers, with real processes (the script of
tests/test_distributed.py): a silent worker's trial goes to another worker,
the search ends with the sequential result, and no trial counts twice."""

import collections
import os
import re
import signal

import pytest
from test_distributed import (
    POISON,
    final,
    finish_all,
    outputs,
    read_events,
    reference,
    start,
    wait_for,
)

from kt_twostage import distributed

pytestmark = pytest.mark.heavy

WORKER_TIMEOUT = 4  # seconds; heartbeats every second


def first_start(directory, tuner_id):
    events = read_events(directory)
    return next(
        (e for e in events if e["event"] == "start" and e["tuner"] == tuner_id), None
    )


def run_with_a_lost_worker(tmp_path, stage2_trials, parallelism, lose):
    """Chief, worker0 and worker1; `lose(worker1)` once worker1 has started a
    trial. Returns (that trial's id, the chief's output)."""
    port = distributed.free_port()
    extra = (
        *("--sleep", 1.0, "--stage2-trials", stage2_trials, "--workers", 2),
        *("--parallelism", parallelism, "--worker-timeout", WORKER_TIMEOUT),
        *("--poison-first", "worker1"),
    )
    processes = [start(tmp_path, name, port, *extra) for name in ("chief", "worker0")]
    victim = start(tmp_path, "worker1", port, *extra)
    try:
        lost = wait_for(
            lambda: first_start(tmp_path, "worker1"), 120, "worker1 to start a trial"
        )
        lose(victim, lost["trial"])
        finish_all([*processes, victim] if victim.poll() is None else processes, 180)
    except BaseException:
        print(outputs(tmp_path))
        raise
    finally:
        for process in (victim, *processes):
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
    with open(os.path.join(tmp_path, "chief.out"), errors="replace") as handle:
        return lost["trial"], handle.read()


def check_result(tmp_path, stage2_trials, lost_trial, chief_output):
    result = final(tmp_path)
    path, chosen = reference(tmp_path, stage2_trials)
    assert (result["path"], result["best"]) == (path, chosen)
    assert all(t["status"] == "COMPLETED" for t in result["trials"].values())
    assert POISON not in [t["score"] for t in result["trials"].values()]
    assert re.search(
        rf"worker1 was silent for [\d.]+ s \(worker timeout {WORKER_TIMEOUT} s\): "
        rf"trial {lost_trial} goes back to the schedule",
        chief_output,
    ), chief_output
    # The lost trial ran again, on worker0, and counted once.
    events = read_events(tmp_path)
    again = [e for e in events if e["event"] == "start" and e["trial"] == lost_trial]
    assert [e["tuner"] for e in again] == ["worker1", "worker0"]
    return result, events


@pytest.mark.parametrize("parallelism, stage2_trials", [(1, 3), (2, 5)])
def test_a_worker_killed_for_good_loses_its_trial_to_another(
    tmp_path, parallelism, stage2_trials
):
    def kill(victim, trial_id):
        victim.send_signal(signal.SIGKILL)
        victim.wait()

    lost, chief_output = run_with_a_lost_worker(
        tmp_path, stage2_trials, parallelism, kill
    )
    result, events = check_result(tmp_path, stage2_trials, lost, chief_output)
    dones = collections.Counter(e["trial"] for e in events if e["event"] == "done")
    assert set(dones.values()) == {1} and set(dones) == set(result["trials"])


@pytest.mark.parametrize("parallelism, stage2_trials", [(1, 3), (2, 5)])
def test_a_stalled_worker_that_reports_late_is_ignored(
    tmp_path, parallelism, stage2_trials
):
    def stall(victim, trial_id):
        victim.send_signal(signal.SIGSTOP)
        wait_for(
            lambda: [
                e
                for e in read_events(tmp_path)
                if e["event"] == "start"
                and e["trial"] == trial_id
                and e["tuner"] == "worker0"
            ],
            120,
            "worker0 to get the stalled worker's trial",
        )
        victim.send_signal(signal.SIGCONT)

    lost, chief_output = run_with_a_lost_worker(
        tmp_path, stage2_trials, parallelism, stall
    )
    result, events = check_result(tmp_path, stage2_trials, lost, chief_output)
    # worker1 finished its stalled run (scored POISON), was refused, went on.
    dones = collections.Counter(e["trial"] for e in events if e["event"] == "done")
    assert dones[lost] == 2
    assert {t for t, n in dones.items() if n != 1} == {lost}
    with open(os.path.join(tmp_path, "worker1.out"), errors="replace") as handle:
        worker_output = handle.read()
    assert (
        f"worker1: trial {lost} was given to another worker: worker1 was silent "
        f"for longer than the worker timeout ({WORKER_TIMEOUT} s); the results "
        f"of this run of trial {lost} are discarded"
    ) in worker_output
