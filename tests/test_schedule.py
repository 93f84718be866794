"""The pure schedule: no Keras, no oracle."""

import random

import pytest
from schedule_config import make_config

from kt_twostage import schedule
from kt_twostage.schedule import (
    IDLE,
    STOPPED,
    ScheduleConfig,
    ScheduleError,
    TrialPlan,
    TrialRecord,
)


def run_schedule(config, score_of):
    """Drive `next_trial` sequentially; `score_of(plan)` gives each score."""
    trials = []
    while True:
        plan = schedule.next_trial(config, trials)
        if plan == STOPPED:
            return trials
        assert isinstance(plan, TrialPlan), plan
        trials.append(
            TrialRecord(plan.stage, plan.units, plan.learning_rate, score_of(plan))
        )


def test_reference_defaults_have_30_trials():
    config = make_config(units_grid=tuple(range(10, 200, 10)), stage2_trials=11)
    assert len(config.units_grid) == 19
    assert config.total_trials == 30


def test_exact_sequence_for_given_scores():
    stage1_scores = {10: 0.70, 20: 0.80, 30: 0.75}
    stage2_scores = iter([0.80, 0.85, 0.84, 0.86])
    trials = run_schedule(
        make_config(),
        lambda p: stage1_scores[p.units] if p.stage == 1 else next(stage2_scores),
    )
    assert [(t.stage, t.units, t.learning_rate) for t in trials] == [
        (1, 10, 0.001),
        (1, 20, 0.001),
        (1, 30, 0.001),
        (2, 20, 0.02),  # starts at the maximum
        (2, 20, 0.01),  # first trial counts as improved: halve
        (2, 20, 0.005),  # 0.85 > 0.80: halve
        (2, 20, 0.0125),  # 0.84 < 0.85: halfway back to 0.02
    ]


def test_epochs_per_stage():
    config = make_config(stage1_epochs=2, stage2_epochs=7)
    epochs = []
    run_schedule(config, lambda p: epochs.append((p.stage, p.epochs)) or 0.5)
    assert epochs == [(1, 2)] * 3 + [(2, 7)] * 4


def test_min_direction_picks_lowest_and_halves_on_decrease():
    stage1_scores = {10: 0.3, 20: 0.2, 30: 0.4}
    stage2_scores = iter([0.5, 0.6, 0.4, 0.45])
    trials = run_schedule(
        make_config(direction="min"),
        lambda p: stage1_scores[p.units] if p.stage == 1 else next(stage2_scores),
    )
    stage2 = [t for t in trials if t.stage == 2]
    assert {t.units for t in stage2} == {20}
    # 0.5 first (improved) -> 0.01; 0.6 worse -> 0.015; 0.4 better -> 0.0075
    assert [t.learning_rate for t in stage2] == [0.02, 0.01, 0.015, 0.0075]


def test_stage1_tie_goes_to_earlier_grid_value():
    trials = run_schedule(make_config(), lambda p: 0.5)
    assert trials[3].units == 10


def test_stage2_tie_is_not_an_improvement():
    rates = schedule.stage2_learning_rates([0.5, 0.5], 0.02, "max")
    assert rates == [0.02, 0.01, 0.015]


def test_failed_stage1_trials_are_skipped():
    stage1_scores = {10: None, 20: 0.6, 30: None}
    trials = run_schedule(
        make_config(), lambda p: stage1_scores[p.units] if p.stage == 1 else 0.5
    )
    assert trials[3].units == 20


def test_every_stage1_trial_failed_is_an_error():
    trials = [TrialRecord(1, u, 0.001, None) for u in (10, 20, 30)]
    with pytest.raises(ScheduleError, match="Every stage-1 trial failed"):
        schedule.next_trial(make_config(), trials)


def test_failed_stage2_trial_halves_and_compares_with_last_scored():
    # None = failed: halve. The next scored trial is compared with 0.8, the
    # most recent earlier trial that has a score.
    rates = schedule.stage2_learning_rates([0.8, None, 0.7, 0.9], 0.02, "max")
    assert rates == [0.02, 0.01, 0.005, 0.0125, 0.00625]


def test_first_stage2_trial_failed_then_first_scored_counts_as_improved():
    rates = schedule.stage2_learning_rates([None, 0.3], 0.02, "max")
    assert rates == [0.02, 0.01, 0.005]


@pytest.mark.parametrize("seed", range(50))
def test_no_learning_rate_repeats(seed):
    rng = random.Random(seed)
    scores = [rng.choice([None, rng.random()]) for _ in range(11)]
    rates = schedule.stage2_learning_rates(scores, 0.02, rng.choice(["max", "min"]))
    assert len(set(rates)) == len(rates)
    assert all(0 < rate <= 0.02 for rate in rates)


def test_idle_while_stage1_trials_are_running():
    config = make_config()
    trials = [
        TrialRecord(1, 10, 0.001, 0.5),
        TrialRecord(1, 20, 0.001, None, ended=False),
        TrialRecord(1, 30, 0.001, 0.6),
    ]
    assert schedule.next_trial(config, trials) == IDLE


def test_stage1_handed_out_while_others_run():
    trials = [TrialRecord(1, 10, 0.001, None, ended=False)]
    plan = schedule.next_trial(make_config(), trials)
    assert (plan.stage, plan.units) == (1, 20)


def test_stage2_is_sequential():
    trials = [TrialRecord(1, u, 0.001, 0.5) for u in (10, 20, 30)]
    trials.append(TrialRecord(2, 10, 0.02, None, ended=False))
    assert schedule.next_trial(make_config(), trials) == IDLE


def test_stopped_after_the_last_trial_even_if_running():
    trials = [TrialRecord(1, u, 0.001, 0.5) for u in (10, 20, 30)]
    trials += [TrialRecord(2, 10, lr, 0.5) for lr in (0.02, 0.015, 0.0175)]
    trials.append(TrialRecord(2, 10, 0.01875, None, ended=False))
    assert schedule.next_trial(make_config(), trials) == STOPPED


def test_best_stage2_position_first_on_ties():
    trials = [TrialRecord(1, 10, 0.001, 0.99)]
    trials += [TrialRecord(2, 10, lr, s) for lr, s in [(0.02, 0.7), (0.01, 0.8)]]
    trials += [TrialRecord(2, 10, 0.005, 0.8), TrialRecord(2, 10, 0.0025, None)]
    assert schedule.best_stage2_position(trials, "max") == 1
    assert schedule.best_stage2_position(trials, "min") == 0


def test_config_round_trips_through_dict():
    config = make_config()
    assert ScheduleConfig.from_dict(config.to_dict()) == config


def test_describe_progress():
    config = make_config()
    trials = [TrialRecord(1, 10, 0.001, 0.5), TrialRecord(1, 20, 0.001, None, False)]
    assert schedule.describe_progress(config, trials) == (
        "1 of 7 trials done, in stage 1"
    )
