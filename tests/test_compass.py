"""The compass rule (`stage2_rule="compass"`): stage 2 as a line search from
the stage-1 learning rate."""

import math
import random

import pytest
import tiny_model
from oracle_driver import (
    STOPPED,
    describe,
    finish,
    fresh_reload,
    make_oracle,
    run_to_end,
    score_from_values,
)
from schedule_config import make_config

from kt_twostage import TwoStageOracle
from kt_twostage.schedule import (
    BRANCH_KEY,
    IDLE,
    TrialPlan,
    TrialRecord,
    compass,
    planner,
)

LOW, HIGH = 7.8125e-05, 0.02


def rates(scores, start=0.001, direction="max"):
    return [
        round(rate, 7)
        for rate in compass.learning_rates(scores, start, LOW, HIGH, direction)
    ]


# --------------------------------------------------------------------------- #
# The pure rule.
# --------------------------------------------------------------------------- #
def test_starts_at_the_stage1_rate_and_steps_down_first():
    assert rates([]) == [0.001]
    assert rates([0.8]) == [0.001, 0.0005]


def test_goes_on_while_improving_then_turns_then_halves_the_step():
    # 0.0005 improves; 0.00025 does not: the other side of the best is 0.001,
    # already tried (and worse), so the step halves, up first: 0.0005 * 2**0.5;
    # worse, so down: 0.0005 / 2**0.5, which improves. Going on down reaches
    # 0.00025 and up 0.0005, both tried: the step halves again, upward.
    best = 0.0005 / 2**0.5
    assert rates([0.8, 0.85, 0.84, 0.83, 0.86]) == [
        0.001,
        0.0005,
        0.00025,
        round(0.0005 * 2**0.5, 7),
        round(best, 7),
        round(best * 2**0.25, 7),
    ]


def test_searches_upward_when_lower_is_worse():
    assert rates([0.5, 0.4, 0.6, 0.7, 0.8]) == [
        0.001,
        0.0005,
        0.002,
        0.004,
        0.008,
        0.016,
    ]


def test_stays_within_the_range():
    # Always improving downward: it stops at the smallest rate, then turns.
    scores = [0.5 + 0.01 * k for k in range(8)]
    found = compass.learning_rates(scores, 0.001, LOW, HIGH, "max")
    assert all(LOW <= rate <= HIGH for rate in found)
    assert min(found) == pytest.approx(LOW)


def test_failed_trials_before_any_score_go_lower():
    assert rates([None, None, 0.5]) == [0.001, 0.0005, 0.00025, 0.000125]


def test_min_direction():
    assert rates([0.5, 0.4], direction="min") == [0.001, 0.0005, 0.00025]
    assert rates([0.5, 0.6], direction="min") == [0.001, 0.0005, 0.002]


@pytest.mark.parametrize("seed", range(40))
def test_no_learning_rate_repeats(seed):
    rng = random.Random(seed)
    scores = [rng.choice([None, round(rng.random(), 2)]) for _ in range(15)]
    found = compass.learning_rates(scores, 0.001, LOW, HIGH, rng.choice(["max", "min"]))
    logs = [math.log(rate) for rate in found]
    assert all(abs(a - b) > 1e-7 for i, a in enumerate(logs) for b in logs[i + 1 :]), (
        found
    )


def test_bad_start_is_refused():
    with pytest.raises(ValueError, match="Expected 0 < low <= start <= high"):
        compass.learning_rates([], 0.05, LOW, HIGH, "max")


# --------------------------------------------------------------------------- #
# The planner.
# --------------------------------------------------------------------------- #
def config(**overrides):
    settings = dict(
        units_grid=(10, 20),
        max_learning_rate=HIGH,
        stage2_epochs=5,
        stage2_trials=3,
        stage2_rule="compass",
        min_learning_rate=LOW,
    )
    return make_config(**{**settings, **overrides})


STAGE1 = [TrialRecord(1, 10, 0.001, 0.5), TrialRecord(1, 20, 0.001, 0.6)]


def test_planner_follows_the_rule_for_the_stage1_winner():
    plan = planner.next_trial(config(), STAGE1)
    assert isinstance(plan, TrialPlan)
    assert (plan.stage, plan.units, plan.learning_rate, plan.epochs) == (
        2,
        20,
        0.001,
        5,
    )
    done = STAGE1 + [TrialRecord(2, 20, 0.001, 0.7)]
    assert planner.next_trial(config(), done).learning_rate == 0.0005


def test_planner_waits_and_stops():
    running = STAGE1 + [TrialRecord(2, 20, 0.001, None, ended=False)]
    assert planner.next_trial(config(), running) == IDLE
    done = STAGE1 + [TrialRecord(2, 20, r, 0.5) for r in (0.001, 0.0005, 0.002)]
    assert planner.next_trial(config(), done) == STOPPED


def test_planner_with_an_epoch_budget():
    budgeted = config(stage2_patience=1, stage2_epoch_budget=15)
    short = STAGE1 + [TrialRecord(2, 20, 0.001, 0.5, epochs=2) for _ in range(5)]
    # 10 epochs spent, another 5 fit: a sixth stage-2 trial.
    assert planner.next_trial(budgeted, short).stage == 2
    assert planner.next_trial(budgeted, short + short[-1:]) == STOPPED


# --------------------------------------------------------------------------- #
# The oracle.
# --------------------------------------------------------------------------- #
def compass_oracle(directory, **kwargs):
    return make_oracle(directory, stage2_rule="compass", **kwargs)


def test_oracle_runs_the_rule_and_resumes_mid_stage2(tmp_path):
    reference = run_to_end(compass_oracle(tmp_path / "reference"), score_from_values)
    stage2 = [lr for stage, _, lr, _ in reference if stage == 2]
    scores = [
        score_from_values({"units": 10, "learning_rate": lr}) for lr in stage2[:-1]
    ]
    # The space's range (make_space: 1e-6 to 0.02).
    assert stage2 == pytest.approx(
        compass.learning_rates(scores, 0.001, 1e-6, 0.02, "max")
    )
    assert len(stage2) == 4

    oracle = compass_oracle(tmp_path)
    ran = []
    for _ in range(5):
        trial = oracle.create_trial("tuner0")
        ran.append(describe(trial))
        finish(oracle, trial, score_from_values(trial.hyperparameters.values))
    resumed = fresh_reload(tmp_path, stage2_rule="compass")
    assert ran + run_to_end(resumed, score_from_values) == reference
    values = [t.hyperparameters.values for t in resumed.trials.values()]
    assert not any(BRANCH_KEY in v for v in values)


def test_changing_the_rule_on_resume_is_refused(tmp_path):
    oracle = compass_oracle(tmp_path)
    finish(oracle, oracle.create_trial("tuner0"), 0.5)
    oracle.save()
    resumed = fresh_reload(tmp_path)
    with pytest.raises(ValueError, match="stage2_rule: project has 'compass'"):
        resumed.check_resumed_settings()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"stage2_rule": "bisect"},
            "expected one of \\['reference', 'compass', 'scout', "
            "'compass-two-starts'\\]",
        ),
        ({"stage2_rule": "compass", "stage2_parallelism": 3}, "one trial at a time"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TwoStageOracle(objective="val_accuracy", **kwargs)


@pytest.mark.heavy  # a real search
def test_real_search_with_the_variant(tmp_path):
    """The whole variant (compass, early stopping, reinvested epochs) trains."""
    x, y = tiny_model.tiny_data()
    tuner = tiny_model.make_tuner(
        tmp_path,
        stage2_epochs=4,
        stage2_trials=2,
        stage2_rule="compass",
        stage2_patience=1,
        reinvest_stopped_epochs=True,
    )
    tuner.search(x, y, validation_split=0.25, verbose=0)
    oracle = tuner.oracle
    stage2 = [
        t
        for t in oracle.start_order
        if oracle.trials[t].hyperparameters.values["tuner/stage"] == 2
    ]
    assert len(stage2) >= 2
    assert sum(tuner.trained_epochs[t] for t in stage2) <= 2 * 4
    first = oracle.trials[stage2[0]].hyperparameters.values["lr"]
    assert first == pytest.approx(0.01)  # tiny_model's stage-1 learning rate
    assert oracle.get_best_trials(1)[0].hyperparameters.values["tuner/stage"] == 2
