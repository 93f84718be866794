"""Speculative stage 2: the pure tree, then TwoStageOracle driven by hand."""

import math
import random
import time

import pytest
from oracle_driver import (
    IDLE,
    RUNNING,
    STOPPED,
    describe,
    finish,
    fresh_reload,
    make_oracle,
    make_space,
    run_to_end,
    score_from_values,
)
from stage2_simulation import simulate_rounds

from kt_twostage import schedule
from kt_twostage.oracle import BRANCH_KEY, SPECULATIVE_KEY, STEP_KEY
from kt_twostage.schedule import NodeRecord, ScheduleConfig, TrialRecord, planner, rule
from kt_twostage.schedule import ranking as roles

MAX_LR = 0.02


def sequential(score_of_lr, stage2_trials, direction="max"):
    """Learning rates and chosen position of the sequential rule."""
    scores = []
    for _ in range(stage2_trials):
        rate = schedule.stage2_learning_rates(scores, MAX_LR, direction)[-1]
        scores.append(score_of_lr(rate))
    rates = schedule.stage2_learning_rates(scores, MAX_LR, direction)[:stage2_trials]
    return rates, schedule.best_index(scores, direction)


def random_scores(rng, failures=0.15, ties=0.2):
    table = {}

    def score_of_lr(rate):
        if rate not in table:
            if rng.random() < failures:
                table[rate] = None
            elif rng.random() < ties:
                table[rate] = 0.5
            else:
                table[rate] = rng.random()
        return table[rate]

    return score_of_lr


# --------------------------------------------------------------------------- #
# The pure tree.
# --------------------------------------------------------------------------- #
def test_branch_learning_rates_are_the_sequential_floats():
    scores = [0.8, None, 0.7, 0.9, 0.9, 0.95]
    branches = rule.sequential_branches(scores, "max")
    # 0.8 first: halve; failed: halve; 0.7 < 0.8: back; 0.9 > 0.7: halve; tie.
    assert branches == ["", "H", "HH", "HHB", "HHBH", "HHBHB"]
    rates = schedule.stage2_learning_rates(scores, MAX_LR, "max")[: len(scores)]
    assert [rule.branch_learning_rate(b, MAX_LR) for b in branches] == rates


def test_every_node_has_its_own_learning_rate():
    branches = [""]
    for _ in range(8):
        branches = branches + [b + d for b in branches for d in "HB" if b + d]
    # The root's "back" child would repeat the maximum: it is never visited.
    nodes = [b for b in set(branches) if not b.startswith("B")]
    rates = [rule.branch_learning_rate(b, MAX_LR) for b in nodes]
    assert len(set(rates)) == len(rates)


def test_invalid_branch_is_refused():
    with pytest.raises(ValueError, match="Invalid stage-2 branch"):
        rule.branch_learning_rate("HX", MAX_LR)


@pytest.mark.parametrize("seed", range(300))
def test_path_and_choice_equal_sequential_for_any_scores(seed):
    rng = random.Random(seed)
    stage2_trials = rng.randint(1, 11)
    direction = rng.choice(["max", "min"])
    score_of_lr = random_scores(rng)
    rates, best = sequential(score_of_lr, stage2_trials, direction)
    for parallelism in (1, 2, 3, 5):
        for workers in (parallelism, parallelism + 2):
            run = simulate_rounds(
                score_of_lr, stage2_trials, MAX_LR, direction, parallelism, workers
            )
            assert list(run.learning_rates) == rates
            assert run.chosen == (None if best is None else run.path[best])
            assert run.trials <= planner.stage2_budget(stage2_trials, parallelism)


def test_sequential_takes_one_round_per_trial():
    run = simulate_rounds(lambda lr: -abs(lr - 0.004), 11, MAX_LR)
    assert (run.rounds, run.trials) == (11, 11)


@pytest.mark.parametrize("seed", range(50))
def test_parallelism_3_needs_about_half_the_rounds(seed):
    rng = random.Random(seed)
    run = simulate_rounds(random_scores(rng, 0, 0), 11, MAX_LR, "max", 3)
    # The first round settles 2 or 3 steps, every later one 2.
    assert run.rounds in (5, 6)
    # At most one trial per round is off the path.
    assert run.trials - 11 <= run.rounds


def test_first_round_with_three_workers():
    # The first trial always counts as improved, so its "back" child is never
    # needed: the first round runs steps 1, 2 and the halving branch of 3.
    nodes = []
    for expected in [("", False), ("H", True), ("HH", True)]:
        choice = planner.next_node(nodes, 11, "max", parallelism=3)
        assert choice == expected
        nodes.append(NodeRecord(choice[0], None, ended=False))
    assert planner.next_node(nodes, 11, "max", parallelism=3) == schedule.IDLE


def test_a_round_advances_two_steps_and_discards_the_other_branch():
    # Path so far: "" (0.5), "H" (0.6, improved) -> frontier "HH".
    nodes = [NodeRecord("", 0.5), NodeRecord("H", 0.6)]
    started = []
    for _ in range(3):
        branch, _ = planner.next_node(nodes + started, 11, "max", 3)
        started.append(NodeRecord(branch, None, ended=False))
    assert [n.branch for n in started] == ["HH", "HHH", "HHB"]
    # "HH" got worse than 0.6: go back; "HHB" is then on the path.
    ended = [NodeRecord("HH", 0.55), NodeRecord("HHH", 0.9), NodeRecord("HHB", 0.7)]
    path = rule.resolve_path(nodes + ended, 11, "max")
    assert path.branches == ("", "H", "HH", "HHB")
    assert path.frontier == "HHBH"  # 0.7 > 0.55: improved
    assert roles.node_role("HHH", path) == roles.ROLE_OFF_PATH
    assert roles.node_role("HHBH", path) == roles.ROLE_PATH
    assert roles.node_role("HHBHB", path) == roles.ROLE_PENDING


def test_speculation_waits_for_the_frontier_once_its_round_is_ending():
    # Round: "HH" (frontier), "HHH" and "HHB" started when 5 trials had ended.
    done = [NodeRecord("", 0.5, end_rank=3), NodeRecord("H", 0.6, end_rank=4)]
    running = [NodeRecord(b, None, False, ends_at_start=5) for b in ("HH", "HHB")]
    # "HHH" ended first: the frontier's result is due; with room for a 4th
    # trial, do not guess "HHHH" now.
    early = NodeRecord("HHH", 0.7, ends_at_start=5, end_rank=5)
    nodes = done + running + [early]
    assert planner.next_node(nodes, 11, "max", parallelism=4) == schedule.IDLE
    # Without the start/end ranks (e.g. after a resume) it does not wait.
    plain = [NodeRecord(n.branch, n.score, n.ended) for n in nodes]
    assert planner.next_node(plain, 11, "max", parallelism=4) == ("HHHH", True)
    # Once the frontier has ended, the next round starts: its frontier first.
    ended = [NodeRecord("HH", 0.65, ends_at_start=5, end_rank=6)]
    nodes = done + ended + [running[1], early]
    assert rule.resolve_path(nodes, 11, "max").frontier == "HHHH"
    assert planner.next_node(nodes, 11, "max", parallelism=3) == ("HHHH", False)
    nodes.append(NodeRecord("HHHH", None, False, ends_at_start=7))
    assert planner.next_node(nodes, 11, "max", parallelism=3) == ("HHHHH", True)


def test_speculation_waits_when_the_frontier_of_a_round_ended_first():
    done = [NodeRecord("", 0.5, end_rank=3), NodeRecord("H", 0.6, end_rank=4)]
    # Round "HH", "HHH", "HHB"; "HH" ended first and improved: "HHH" is now
    # the frontier, and "HHHH" or "HHHB" would be a guess for a moment.
    nodes = done + [
        NodeRecord("HH", 0.7, ends_at_start=5, end_rank=5),
        NodeRecord("HHH", None, False, ends_at_start=5),
        NodeRecord("HHB", None, False, ends_at_start=5),
    ]
    assert rule.resolve_path(nodes, 11, "max").frontier == "HHH"
    assert planner.next_node(nodes, 11, "max", parallelism=3) == schedule.IDLE
    plain = [NodeRecord(n.branch, n.score, n.ended) for n in nodes]
    assert planner.next_node(plain, 11, "max", parallelism=3) == ("HHHH", True)


def test_failed_node_halves_and_compares_with_last_scored_ancestor():
    nodes = [
        NodeRecord("", 0.8),
        NodeRecord("H", None),  # failed: "too high", halve
        NodeRecord("HH", 0.7),  # compared with 0.8: worse, go back
        NodeRecord("HHB", 0.9),
    ]
    path = rule.resolve_path(nodes, 5, "max")
    assert path.branches == ("", "H", "HH", "HHB")
    rates = [rule.branch_learning_rate(b, MAX_LR) for b in path.branches]
    assert rates == [0.02, 0.01, 0.005, 0.0125]


def test_path_is_recomputed_from_the_records_in_any_order():
    rng = random.Random(3)
    score_of_lr = random_scores(rng, 0.1, 0.1)
    nodes = []
    for _ in range(6):  # rounds of 3, then shuffle what was recorded
        started = []
        for _ in range(3):
            choice = planner.next_node(nodes + started, 9, "max", 3)
            if choice in (schedule.IDLE, schedule.STOPPED):
                break
            started.append(NodeRecord(choice[0], None, ended=False))
        nodes += [
            NodeRecord(
                n.branch,
                score_of_lr(rule.branch_learning_rate(n.branch, MAX_LR)),
            )
            for n in started
        ]
    shuffled = nodes[:]
    rng.shuffle(shuffled)
    assert rule.resolve_path(shuffled, 9, "max") == rule.resolve_path(nodes, 9, "max")


def test_node_whose_parent_has_not_ended_is_pending():
    nodes = [
        NodeRecord("", 0.5),
        NodeRecord("H", None, ended=False),
        NodeRecord("HH", 0.7),  # ended before its parent
    ]
    path = rule.resolve_path(nodes, 11, "max")
    assert path.frontier == "H"
    assert roles.node_role("HH", path) == roles.ROLE_PENDING
    # Its outcome is settled once "H" ends.
    later = rule.resolve_path([*nodes[:1], NodeRecord("H", 0.6), nodes[2]], 11, "max")
    assert later.branches == ("", "H", "HH")


def test_speculation_never_takes_the_budget_of_path_trials():
    rng = random.Random(0)
    score_of_lr = random_scores(rng, 0, 0)
    nodes = []
    while True:
        started = []
        for _ in range(4):
            choice = planner.next_node(nodes + started, 7, "max", 4, budget=8)
            if choice in (schedule.IDLE, schedule.STOPPED):
                break
            started.append(NodeRecord(choice[0], None, ended=False))
        if not started:
            break
        nodes += [
            NodeRecord(
                n.branch,
                score_of_lr(rule.branch_learning_rate(n.branch, MAX_LR)),
            )
            for n in started
        ]
    assert len(nodes) <= 8
    assert len(rule.resolve_path(nodes, 7, "max").branches) == 7


def test_next_trial_waits_for_stage1_then_plans_stage2():
    config = ScheduleConfig((10, 20), 0.001, MAX_LR, 1, 30, 4, "max")
    running = [TrialRecord(1, 10, 0.001, 0.5), TrialRecord(1, 20, 0.001, None, False)]
    assert planner.next_trial(config, running, [], 3) == schedule.IDLE
    done = [TrialRecord(1, 10, 0.001, 0.5), TrialRecord(1, 20, 0.001, 0.6)]
    plan = planner.next_trial(config, done, [], 3)
    assert (plan.stage, plan.units, plan.learning_rate, plan.epochs) == (
        2,
        20,
        MAX_LR,
        30,
    )
    assert (plan.branch, plan.step, plan.speculative) == ("", 1, False)
    plan = planner.next_trial(config, done, [NodeRecord("", None, False)], 3)
    assert (plan.branch, plan.step, plan.speculative) == ("H", 2, True)
    assert plan.learning_rate == 0.01


def test_stopped_once_the_path_is_complete():
    nodes = [NodeRecord(b, 0.5) for b in ("", "H", "HB")]
    nodes.append(NodeRecord("HH", None, ended=False))  # off the path, running
    assert planner.next_node(nodes, 3, "max", 3) == schedule.STOPPED


# --------------------------------------------------------------------------- #
# TwoStageOracle with several tuners (no training, no processes).
# --------------------------------------------------------------------------- #
def run_rounds(oracle, score_of, tuners, before_round=None):
    """Every tuner asks for a trial; those handed out all end; repeat."""
    rounds = 0
    while True:
        if before_round is not None:
            oracle = before_round(oracle, rounds) or oracle
        running = []
        for tuner_id in tuners:
            trial = oracle.create_trial(tuner_id)
            if trial.status == RUNNING:
                running.append(trial)
        if not running:
            return oracle, rounds
        rounds += 1
        for trial in running:
            finish(oracle, trial, score_of(trial.hyperparameters.values))


def stage2_rounds(oracle, rounds):
    stage1 = math.ceil(len(oracle.schedule.units_grid) / 3)
    return rounds - stage1


def path_of(oracle):
    return [describe(oracle.trials[t]) for t in oracle.stage2_path()]


def test_oracle_speculative_run_equals_sequential(tmp_path):
    oracle = make_oracle(tmp_path, stage2_trials=6, stage2_parallelism=3)
    reference = make_oracle(tmp_path / "seq6", stage2_trials=6)
    expected = run_to_end(reference, score_from_values)
    oracle, rounds = run_rounds(oracle, score_from_values, ["a", "b", "c"])
    assert path_of(oracle) == expected[3:]
    chosen = oracle.get_best_trials(1)[0]
    assert describe(chosen) == describe(reference.get_best_trials(1)[0])
    # 6 path steps in 3 rounds instead of 6.
    assert stage2_rounds(oracle, rounds) == 3
    assert oracle.max_trials == 3 + planner.stage2_budget(6, 3) == 15
    roles = oracle.trial_roles()
    off_path = [t for t, role in roles.items() if role == "off-path"]
    assert off_path and len(roles) == len(oracle.trials)
    assert list(roles.values()).count("path") == 6
    # Off-path trials are never ranked as stage 2.
    ranked = oracle.get_best_trials(len(oracle.trials))
    assert {t.trial_id for t in ranked[:6]} == set(oracle.stage2_path())
    for tuner_id in ("a", "b", "c", "d"):
        assert oracle.create_trial(tuner_id).status == STOPPED
    progress = oracle.describe_progress()
    assert f"(+{len(off_path)} speculative trials off the path)" in progress
    assert oracle.describe_progress().startswith("9 of 9 trials done, finished")


def test_stage2_values_carry_the_tree_position(tmp_path):
    oracle = make_oracle(tmp_path, stage2_parallelism=3)
    for tuner_id in ("a", "b", "c"):
        finish(oracle, oracle.create_trial(tuner_id), 0.5)
    trials = [oracle.create_trial(t) for t in ("a", "b", "c")]
    values = [t.hyperparameters.values for t in trials]
    assert [(v[BRANCH_KEY], v[STEP_KEY], v[SPECULATIVE_KEY]) for v in values] == [
        ("", 1, False),
        ("H", 2, True),
        ("HH", 3, True),
    ]
    assert [v["learning_rate"] for v in values] == [0.02, 0.01, 0.005]
    assert oracle.create_trial("d").status == IDLE
    # Until the path reaches them, speculative trials are pending, not chosen.
    finish(oracle, trials[2], 0.99)
    assert oracle.trial_roles()[trials[2].trial_id] == "pending"
    assert oracle.get_best_trials(1)[0].hyperparameters.values["tuner/stage"] == 1


@pytest.mark.parametrize("seed", range(6))
def test_oracle_path_equals_sequential_with_failures(tmp_path, seed):
    rng = random.Random(seed)
    table = {}

    def score(values):
        key = (values["units"], values["learning_rate"])
        if key not in table:
            table[key] = rng.choice([None, 0.5, rng.random(), rng.random()])
        if values["tuner/stage"] == 1 and values["units"] == 20:
            return 0.9
        return table[key]

    reference = make_oracle(
        tmp_path / "seq", stage2_trials=7, max_consecutive_failed_trials=99
    )
    expected = run_to_end(reference, score)
    oracle = make_oracle(
        tmp_path,
        stage2_trials=7,
        stage2_parallelism=3,
        max_consecutive_failed_trials=99,
    )
    oracle, _ = run_rounds(oracle, score, ["a", "b", "c"])
    assert path_of(oracle) == expected[3:]
    assert describe(oracle.get_best_trials(1)[0]) == describe(
        reference.get_best_trials(1)[0]
    )


def test_failed_trials_off_the_path_do_not_count_as_consecutive_failures(tmp_path):
    import keras_tuner

    oracle = make_oracle(
        tmp_path, stage2_trials=4, stage2_parallelism=3, max_consecutive_failed_trials=2
    )
    for tuner_id in ("a", "b", "c"):
        finish(oracle, oracle.create_trial(tuner_id), 0.5)

    def round_of_three():
        trials = {}
        for tuner_id in ("a", "b", "c"):
            trial = oracle.create_trial(tuner_id)
            trials[trial.hyperparameters.values[BRANCH_KEY]] = trial
        return trials

    first = round_of_three()
    assert sorted(first) == ["", "H", "HH"]
    finish(oracle, first[""], 0.5)
    finish(oracle, first["H"], 0.4)  # worse: the path goes back, to "HB"
    finish(oracle, first["HH"], None)  # off the path, failed
    second = round_of_three()
    assert sorted(second) == ["HB", "HBB", "HBH"]
    finish(oracle, second["HBH"], None)  # off the path, failed: 2 in a row
    with pytest.raises(RuntimeError, match="consecutive failures"):
        keras_tuner.Oracle._check_consecutive_failures(oracle)  # Keras Tuner's
    finish(oracle, second["HB"], 0.3)  # worse again: "HBB" is on the path
    finish(oracle, second["HBB"], 0.45)
    assert [describe(oracle.trials[t])[2] for t in oracle.stage2_path()] == [
        0.02,
        0.01,
        0.015,
        0.0175,
    ]
    assert oracle.create_trial("a").status == STOPPED


def test_ties_go_to_the_earlier_path_step_not_the_earlier_start(tmp_path):
    oracle = make_oracle(tmp_path, stage2_trials=4, stage2_parallelism=3)
    oracle, _ = run_rounds(oracle, lambda v: 0.5, ["a", "b", "c"])
    # All scores tie: the first path trial (lr 0.02) is chosen.
    assert oracle.get_best_trials(1)[0].hyperparameters.values["learning_rate"] == 0.02


@pytest.mark.parametrize("reload_before_round", range(2, 7))
def test_resume_with_speculative_trials_running(tmp_path, reload_before_round):
    reference = make_oracle(tmp_path / "seq", stage2_trials=6)
    expected = run_to_end(reference, score_from_values)
    project = tmp_path / "spec"

    def crash_and_resume(oracle, rounds):
        if rounds != reload_before_round:
            return None
        # Hand out a round, then "crash" with those trials running.
        running = [oracle.create_trial(t) for t in ("a", "b", "c")]
        oracle.save()
        resumed = fresh_reload(project, stage2_trials=6, stage2_parallelism=3)
        # Each tuner gets its own trial back.
        for tuner_id, trial in zip(("a", "b", "c"), running, strict=True):
            if trial.status == RUNNING:
                again = resumed.create_trial(tuner_id)
                assert again.trial_id == trial.trial_id
                finish(resumed, again, score_from_values(again.hyperparameters.values))
        return resumed

    oracle = make_oracle(project, stage2_trials=6, stage2_parallelism=3)
    oracle, _ = run_rounds(oracle, score_from_values, ["a", "b", "c"], crash_and_resume)
    assert path_of(oracle) == expected[3:]
    assert describe(oracle.get_best_trials(1)[0]) == describe(
        reference.get_best_trials(1)[0]
    )


def test_resume_sequentially_after_speculation(tmp_path):
    reference = make_oracle(tmp_path / "seq", stage2_trials=6)
    expected = run_to_end(reference, score_from_values)
    oracle = make_oracle(tmp_path, stage2_trials=6, stage2_parallelism=4)
    for _ in range(3):  # stage 1, then two speculative rounds
        running = [oracle.create_trial(t) for t in ("a", "b", "c", "d")]
        for trial in running:
            if trial.status == RUNNING:
                finish(oracle, trial, score_from_values(trial.hyperparameters.values))
    oracle.save()
    resumed = fresh_reload(tmp_path, stage2_trials=6)  # parallelism 1
    assert resumed.max_trials >= len(resumed.trials) + 1
    run_to_end(resumed, score_from_values, tuner_id="a")
    assert path_of(resumed) == expected[3:]


def test_a_tuner_that_kept_running_through_a_chief_restart_ends_its_trial(tmp_path):
    oracle = make_oracle(tmp_path, stage2_parallelism=1)
    a = oracle.create_trial("worker0")
    b = oracle.create_trial("worker1")
    oracle.save()
    chief = fresh_reload(tmp_path)  # the chief restarted; both workers go on
    # A third worker finds new stage-1 work rather than a trial still running.
    c = chief.create_trial("worker2")
    assert describe(c)[1] == 30
    finish(chief, c, 0.4)
    finish(chief, a, 0.5)  # worker0 reports the trial it kept running
    # worker1's trial is leased to it from the restart: worker2 waits...
    assert chief.create_trial("worker2").status == IDLE
    # ...until worker1 has been silent for the worker timeout.
    chief.leases.timeout = 0.01
    time.sleep(0.05)
    again = chief.create_trial("worker2")
    assert again.trial_id == b.trial_id
    finish(chief, again, 0.6)
    # worker1 reports too, late: the chief's server refuses it (in process,
    # the first result counts), nothing breaks.
    assert "given to another worker" in chief.refuse_report("worker1", b.trial_id)
    finish(chief, b, 0.1)
    assert chief.trials[b.trial_id].score == 0.6
    assert chief.end_order.count(b.trial_id) == 1
    assert not chief.ongoing_trials
    assert describe(chief.create_trial("worker1"))[:2] == (2, 20)


def test_legacy_stage2_trials_without_branch_are_the_path(tmp_path):
    reference = make_oracle(tmp_path / "seq")
    expected = run_to_end(reference, score_from_values)
    oracle = make_oracle(tmp_path)
    for _ in range(5):
        trial = oracle.create_trial("tuner0")
        finish(oracle, trial, score_from_values(trial.hyperparameters.values))
    for trial in oracle.trials.values():
        for key in (BRANCH_KEY, STEP_KEY, SPECULATIVE_KEY):
            trial.hyperparameters.values.pop(key, None)
    oracle.save()
    for trial in oracle.trials.values():
        oracle._save_trial(trial)
    resumed = fresh_reload(tmp_path)
    more = run_to_end(resumed, score_from_values)
    assert expected[5:] == more
    assert path_of(resumed) == expected[3:]


def test_bad_parallelism_is_refused():
    with pytest.raises(ValueError, match="`stage2_parallelism`, expected a positive"):
        make_oracle(".", stage2_parallelism=0)


def test_parallelism_1_keeps_max_trials_the_schedule_length(tmp_path):
    space = make_space(units=(10, 190, 10))
    oracle = make_oracle(tmp_path, hyperparameters=space, stage2_trials=11)
    oracle.create_trial("tuner0")
    assert oracle.max_trials == 30
    fast = make_oracle(
        tmp_path / "p3", hyperparameters=space, stage2_trials=11, stage2_parallelism=3
    )
    fast.create_trial("tuner0")
    assert fast.max_trials == 19 + 11 + 2 * 5
