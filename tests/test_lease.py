"""The lease on running trials, in process: a fake clock, no gRPC, no training."""

import pytest
from oracle_driver import (
    RUNNING,
    describe,
    finish,
    fresh_reload,
    make_oracle,
    make_space,
    run_to_end,
    score_from_values,
)

from kt_twostage.distributed import lease


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def leased_oracle(directory, clock, timeout=30, **kwargs):
    oracle = make_oracle(directory, worker_timeout=timeout, **kwargs)
    oracle.leases = lease.Leases(timeout, clock=clock)
    return oracle


def score(trial):
    return score_from_values(trial.hyperparameters.values)


def test_a_silent_workers_trial_goes_to_the_next_that_asks(tmp_path, capsys):
    clock = FakeClock()
    oracle = leased_oracle(tmp_path, clock)
    lost = oracle.create_trial("worker1")
    kept = oracle.create_trial("worker0")
    clock.now += 20
    finish(oracle, kept, score(kept))  # worker0 reports: heard
    clock.now += 15  # worker1 silent for 35 s > 30 s, worker0 for 15 s
    oracle.expire_silent_workers()
    line = capsys.readouterr().out
    assert "worker1 was silent for 35.0 s (worker timeout 30 s): trial " in line
    assert f"trial {lost.trial_id} goes back to the schedule" in line
    assert "worker0" not in line
    again = oracle.create_trial("worker0")
    assert again.trial_id == lost.trial_id and again.status == RUNNING
    assert oracle.holder_of(lost.trial_id) == "worker0"
    assert "worker1" not in oracle.tuner_ids  # the chief does not wait for it
    # The late worker's reports are refused; the new holder's are not.
    assert "was given to another worker: worker1" in oracle.refuse_report(
        "worker1", lost.trial_id
    )
    assert oracle.refuse_report("worker0", lost.trial_id) is None
    assert oracle.refuse_report(None, lost.trial_id) is None


def test_a_slow_worker_that_reports_in_time_keeps_its_trial(tmp_path):
    clock = FakeClock()
    oracle = leased_oracle(tmp_path, clock)
    trial = oracle.create_trial("worker1")
    for _ in range(5):  # 100 s in all, a beat every 20 s
        clock.now += 20
        oracle.heard_from("worker1")
    assert oracle.holder_of(trial.trial_id) == "worker1"
    assert oracle.refuse_report("worker1", trial.trial_id) is None


def test_leases_give_the_sequential_result_with_a_lost_worker(tmp_path):
    clock = FakeClock()
    oracle = leased_oracle(tmp_path / "leased", clock, stage2_trials=3)
    oracle.create_trial("worker1")  # never reported
    clock.now += 31
    ran = run_to_end(oracle, score_from_values, tuner_id="worker0")
    reference = run_to_end(
        make_oracle(tmp_path / "reference", stage2_trials=3), score_from_values
    )
    assert sorted(ran) == sorted(reference)
    assert len(oracle.end_order) == len(set(oracle.end_order)) == len(oracle.trials)
    path = [describe(oracle.trials[t]) for t in oracle.stage2_path()]
    assert path == reference[3:]


def test_the_given_away_trial_starts_from_scratch(tmp_path):
    clock = FakeClock()
    oracle = leased_oracle(tmp_path, clock)
    trial = oracle.create_trial("worker1")
    oracle.update_trial(trial.trial_id, {"score": 5.0})  # a partial report
    clock.now += 31
    again = oracle.create_trial("worker0")
    assert again.trial_id == trial.trial_id
    assert not oracle.trials[trial.trial_id].metrics.exists("score")
    finish(oracle, again, 0.5)
    assert oracle.trials[trial.trial_id].score == 0.5


def test_after_a_chief_restart_each_running_trial_is_leased_from_the_restart(
    tmp_path, capsys
):
    clock = FakeClock()
    oracle = leased_oracle(tmp_path, clock)
    first = oracle.create_trial("worker1")
    second = oracle.create_trial("worker0")
    clock.now += 100  # the chief is down for longer than the timeout
    restarted = fresh_reload(tmp_path, worker_timeout=30)
    restarted.leases = lease.Leases(30, clock=clock)
    restarted._recover_interrupted_trials()
    # worker0 comes back in time; its trial stays its own.
    clock.now += 20
    restarted.heard_from("worker0")
    other = restarted.create_trial("worker2")
    assert other.trial_id not in (first.trial_id, second.trial_id)
    assert restarted.holder_of(first.trial_id) == "worker1"
    clock.now += 15  # worker1 silent for 35 s since the restart
    restarted.expire_silent_workers()
    assert f"trial {first.trial_id} goes back" in capsys.readouterr().out
    assert restarted.holder_of(second.trial_id) == "worker0"
    assert restarted.create_trial("worker3").trial_id == first.trial_id


def test_the_lost_lease_survives_a_chief_restart(tmp_path):
    clock = FakeClock()
    oracle = leased_oracle(tmp_path, clock)
    trial = oracle.create_trial("worker1")
    clock.now += 31
    oracle.expire_silent_workers()
    restarted = fresh_reload(tmp_path, worker_timeout=30)
    assert restarted.refuse_report("worker1", trial.trial_id)


def test_default_timeout_grows_with_the_longest_silence():
    clock = FakeClock()
    leases = lease.Leases(clock=clock)
    assert leases.effective_timeout() == lease.DEFAULT_FLOOR_SECONDS
    leases.heard("worker0")
    clock.now += 60
    leases.heard("worker0")
    assert leases.effective_timeout() == 600
    assert lease.beat_seconds(600) == lease.LONGEST_BEAT_SECONDS
    assert lease.beat_seconds(2) == 0.5


@pytest.mark.parametrize("bad", [0, -1, "30", True])
def test_bad_worker_timeout(tmp_path, bad):
    with pytest.raises(ValueError, match="argument `worker_timeout`"):
        make_oracle(tmp_path, worker_timeout=bad, hyperparameters=make_space())


def test_a_worker_that_vanishes_between_trials_does_not_keep_the_chief_waiting(
    tmp_path,
):
    clock = FakeClock()
    oracle = leased_oracle(tmp_path, clock)
    trial = oracle.create_trial("worker1")
    finish(oracle, trial, score(trial))
    assert "worker1" in oracle.tuner_ids  # it has not been told STOPPED
    clock.now += 31
    oracle.expire_silent_workers()
    assert "worker1" not in oracle.tuner_ids and not oracle.ongoing_trials
