"""The scout rule (`stage2_rule="scout"`): four learning rates spread over
the range, then a compass search from the best of them."""

import math
import random

import pytest
from oracle_driver import finish, fresh_reload, make_oracle, run_to_end
from oracle_driver import score_from_values as peak_near_0_001
from schedule_config import make_config

from kt_twostage.schedule import TrialRecord, compass, planner, scout

LOW, HIGH = 7.8125e-05, 0.02  # 2**-8 of the maximum: 8 halvings


def rates(scores, direction="max"):
    return [round(r, 9) for r in scout.learning_rates(scores, LOW, HIGH, direction)]


def test_scouts_span_the_range_largest_first():
    # 5 scouts, 2 halvings apart, both ends included.
    assert rates([]) == [0.02]
    assert rates([0.5] * 4) == [0.02, 0.005, 0.00125, 0.0003125, 0.000078125]
    assert scout.scout_rates(1e-4, 1e-1, 4) == pytest.approx([1e-1, 1e-2, 1e-3, 1e-4])


def test_after_the_scouts_a_compass_search_from_the_best_one():
    # The second scout (0.005) is best: the search steps down by half the
    # spacing (a factor of 2) first, then up when down is worse.
    scores = [0.6, 0.8, 0.7, 0.5, 0.4]
    assert rates(scores)[5] == 0.0025
    assert rates([*scores, 0.75])[6] == 0.01
    # Up is worse too: half the step (a factor of sqrt(2)), in the last
    # direction, as the compass rule does.
    assert rates([*scores, 0.75, 0.7])[7] == pytest.approx(0.005 * math.sqrt(2))


def test_the_start_does_not_depend_on_the_stage1_learning_rate():
    scores = [0.6, 0.8, 0.7, 0.5, 0.4, 0.75]
    for start in (0.001, 0.005):
        config = make_config(
            units_grid=(10, 20),
            stage2_trials=11,
            stage2_rule="scout",
            stage1_learning_rate=start,
            min_learning_rate=LOW,
        )
        trials = [TrialRecord(1, 10, start, 0.5), TrialRecord(1, 20, start, 0.6)]
        trials += [
            TrialRecord(2, 20, rate, score)
            for rate, score in zip(rates(scores), scores, strict=False)
        ]
        plan = planner.next_trial(config, trials)
        assert (plan.units, plan.learning_rate) == (20, 0.01)


def test_failed_scouts_are_skipped():
    # Only the third scout has a score: the search goes on from it.
    assert rates([None, None, 0.7, None, None])[5] == 0.000625


def test_min_direction():
    assert rates([0.3, 0.1, 0.2, 0.4, 0.5], direction="min")[5] == 0.0025


@pytest.mark.parametrize("seed", range(20))
def test_no_learning_rate_repeats_and_all_stay_in_range(seed):
    generator = random.Random(seed)
    scores = [generator.random() for _ in range(15)]
    found = scout.learning_rates(scores, LOW, HIGH, "max")
    assert len(found) == len(set(found)) == 16
    assert all(LOW <= rate <= HIGH for rate in found)


def test_a_bad_range_is_refused():
    with pytest.raises(ValueError, match="0 < low < high"):
        scout.scout_rates(0.01, 0.001)
    with pytest.raises(ValueError, match="at least 2 scouts"):
        scout.scout_rates(0.001, 0.01, 1)


def test_two_starts_tries_the_stage1_rate_and_the_maximum_first():
    starts = (0.001, HIGH)
    found = compass.search_from([0.7, 0.8], starts, LOW, HIGH, "max")
    # The maximum is better: the compass search goes down from it.
    assert found == pytest.approx([0.001, 0.02, 0.01])


def test_oracle_runs_the_rule_and_resumes_mid_stage2(tmp_path):
    reference = run_to_end(
        make_oracle(tmp_path / "reference", stage2_rule="scout"), peak_near_0_001
    )
    stage2 = [lr for stage, _, lr, _ in reference if stage == 2]
    # The space's range (make_space: 1e-6 to 0.02).
    # The oracle's 4 stage-2 trials are the first 4 scouts.
    assert stage2 == pytest.approx(scout.scout_rates(1e-6, 0.02)[:4])
    assert compass.SCOUT in compass.LINE_SEARCH_RULES

    oracle = make_oracle(tmp_path, stage2_rule="scout")
    ran = []
    for _ in range(4):
        trial = oracle.create_trial("tuner0")
        values = trial.hyperparameters.values
        ran.append(
            (values["tuner/stage"], values["units"], values["learning_rate"], None)
        )
        finish(oracle, trial, peak_near_0_001(values))
    resumed = fresh_reload(tmp_path, stage2_rule="scout")
    rest = run_to_end(resumed, peak_near_0_001)
    assert [r[:3] for r in ran + rest] == [r[:3] for r in reference]


def test_the_rule_is_sequential():
    with pytest.raises(ValueError, match="one trial at a time"):
        make_oracle("unused", stage2_rule="scout", stage2_parallelism=2)
