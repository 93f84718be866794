"""The next trial: the stage-1 grid, then the stage-2 step (or window).

Stage 1 hands out every units value of the grid in order. Stage 2 starts
when every stage-1 trial has ended; it trains the stage-1 winner at the
learning rates of the path (see `rule`).

With `parallelism` P > 1 (distributed workers), the P nodes nearest the
first path node that has not ended (the *frontier*), in breadth-first order,
may run at once: with P = 3, the frontier and its two children, so that a
round of three equally long trials advances the path two steps. As the
frontier moves, so does this window; nodes that end up off the path are kept
but never chosen. When a trial of the frontier's round ends before the
frontier, speculation waits for the frontier (its result is due), so that
the next round starts together rather than on a guess. With P = 1 this is
exactly the sequential schedule.

The position in the schedule is always recomputed from the records of the
trials started so far, never kept in counters, so a resumed or retried search
continues exactly where it stopped. Pure functions: no Keras, no files, no
clocks.
"""

from __future__ import annotations

from collections.abc import Sequence

from kt_twostage.schedule import compass, ranking, rule, scout
from kt_twostage.schedule.config import (
    ARCHITECTURE_STAGE,
    IDLE,
    LEARNING_RATE_STAGE,
    STOPPED,
    NodeRecord,
    ScheduleConfig,
    Stage2Plan,
    TrialPlan,
    TrialRecord,
)


def stage2_budget(stage2_trials: int, parallelism: int) -> int:
    """How many stage-2 trials (path and speculative) may be started at most.

    `stage2_trials` for sequential. Each speculative trial is granted from
    this budget, never at the cost of a path trial; `parallelism - 1` extra
    trials per two steps is more than rounds of equally long trials use.
    """
    return stage2_trials + (parallelism - 1) * (stage2_trials // 2)


def window(path: rule.Path, stage2_trials: int, parallelism: int) -> list[str]:
    """The `parallelism` nodes nearest the frontier, the frontier first.

    Breadth-first from the frontier, the "halve" child before the "back" one,
    leaving out nodes past the last step and nodes that can no longer be on
    the path: the nodes most likely to be needed next.
    """
    if path.frontier is None:
        return []
    nodes = []
    queue = [path.frontier]
    while queue and len(nodes) < parallelism:
        branch = queue.pop(0)
        nodes.append(branch)
        if rule.step_of(branch) < stage2_trials:
            queue += [
                child
                for child in (branch + rule.HALVE, branch + rule.BACK)
                if rule.may_join_path(child, path)
            ]
    return nodes


def next_node(
    nodes: Sequence[NodeRecord],
    stage2_trials: int,
    direction: str,
    parallelism: int = 1,
    budget: int | None = None,
):
    """The branch of the next stage-2 node to start.

    Args:
        nodes: `NodeRecord`s of every stage-2 trial started so far.
        stage2_trials: Integer, the length of the path.
        direction: `"max"` or `"min"`.
        parallelism: Integer, how many nodes that may still end up on the
            path may run at once (1: sequential).
        budget: Integer, the most stage-2 trials to start in all; defaults to
            `stage2_budget(stage2_trials, parallelism)`. A speculative node is
            only started if enough of the budget is left for every path node
            still to come.

    Returns:
        `(branch, speculative)`, or `IDLE` (wait for a node to end), or
        `STOPPED` (the path is complete).
    """
    if budget is None:
        budget = stage2_budget(stage2_trials, parallelism)
    path = rule.resolve_path(nodes, stage2_trials, direction)
    if path.frontier is None:
        return STOPPED
    started = {node.branch for node in nodes}
    if path.frontier not in started:
        # Never held back: it is certain to be needed.
        return path.frontier, False
    if rule.step_of(path.frontier) == stage2_trials:
        # The last step runs: no other node can still join the path.
        return STOPPED
    ended = rule.scores_by_branch(nodes)
    running = {node.branch for node in nodes if node.branch not in ended}
    live = [branch for branch in running if rule.may_join_path(branch, path)]
    if len(live) >= parallelism or _round_is_ending(nodes, path):
        return IDLE
    # Path nodes after the frontier that may still have to be started.
    still_needed = stage2_trials - len(path.branches) - 1
    if len(started) + 1 + still_needed > budget:
        return IDLE
    for branch in window(path, stage2_trials, parallelism):
        if branch not in started:
            return branch, True
    return IDLE


def _round_is_ending(nodes: Sequence[NodeRecord], path: rule.Path) -> bool:
    """Whether a trial that ran beside the frontier has ended before it.

    Trials started together end at about the same time. When one of them
    (on the path, or still possibly on it) has ended since the frontier
    started, the frontier's own result is due soon: choosing the next
    speculative trial now would be a guess that a short wait makes informed.
    So speculation waits for the frontier, and the trials of the next round
    start together again.
    """
    frontier = [n for n in nodes if n.branch == path.frontier and not n.ended]
    if not frontier or frontier[0].ends_at_start is None:
        return False
    since = frontier[0].ends_at_start
    return any(
        node.ended
        and node.end_rank is not None
        and node.end_rank >= since
        and (node.branch in path.branches or rule.may_join_path(node.branch, path))
        for node in nodes
    )


def next_trial(
    config: ScheduleConfig,
    trials: Sequence[TrialRecord],
    nodes: Sequence[NodeRecord] | None = None,
    parallelism: int = 1,
    budget: int | None = None,
):
    """Decide what to run next from the trials started so far.

    Args:
        config: The `ScheduleConfig`.
        trials: The `TrialRecord`s of every trial started so far, in start
            order, including those still running.
        nodes: The `NodeRecord`s of the stage-2 trials, when the caller
            knows more of them than `trials` says (when each started, for
            speculation). Defaults to `None`: made from the stage-2 records.
        parallelism, budget: as in `next_node`.

    Returns:
        A `TrialPlan` (stage 1), a `Stage2Plan`, or `IDLE` (wait: earlier
        trials must end first), or `STOPPED` (the schedule is complete).

    Raises:
        ScheduleError: if every stage-1 trial failed.
    """
    stage1 = [t for t in trials if t.stage == ARCHITECTURE_STAGE]
    started_units = {t.units for t in stage1}
    for units in config.units_grid:
        if units not in started_units:
            return TrialPlan(
                ARCHITECTURE_STAGE,
                units,
                config.stage1_learning_rate,
                config.stage1_epochs,
            )
    if not all(t.ended for t in stage1):
        return IDLE
    if _epoch_budget_spent(config, trials):
        return _when_spent(trials)
    units = ranking.chosen_units(config, stage1)
    if config.stage2_rule in compass.LINE_SEARCH_RULES:
        return _next_compass_trial(config, trials, units)
    if nodes is None:
        nodes = ranking.stage2_nodes(trials, config.direction)
    choice = next_node(
        nodes, config.stage2_length, config.direction, parallelism, budget
    )
    if choice in (IDLE, STOPPED):
        return choice
    branch, speculative = choice
    return Stage2Plan(
        stage=LEARNING_RATE_STAGE,
        units=units,
        learning_rate=rule.branch_learning_rate(branch, config.max_learning_rate),
        epochs=config.stage2_epochs,
        branch=branch,
        speculative=speculative,
    )


def stage2_epochs_spent(config: ScheduleConfig, trials: Sequence[TrialRecord]) -> int:
    """Epochs the stage-2 trials trained (a trial not known: all its epochs)."""
    return sum(
        config.stage2_epochs if t.epochs is None else t.epochs
        for t in trials
        if t.stage == LEARNING_RATE_STAGE
    )


def _epoch_budget_spent(config: ScheduleConfig, trials) -> bool:
    """With an epoch budget: whether another whole stage-2 trial cannot fit."""
    if config.stage2_epoch_budget is None:
        return False
    spent = stage2_epochs_spent(config, trials)
    return spent + config.stage2_epochs > config.stage2_epoch_budget


def _when_spent(trials):
    # Until every stage-2 trial has ended, its epochs are counted in full:
    # one that stops early may leave room for another.
    stage2 = [t for t in trials if t.stage == LEARNING_RATE_STAGE]
    return STOPPED if all(t.ended for t in stage2) else IDLE


def _next_compass_trial(config: ScheduleConfig, trials, units):
    """The compass or scout rule's next stage-2 trial (one at a time)."""
    stage2 = [t for t in trials if t.stage == LEARNING_RATE_STAGE]
    if not all(t.ended for t in stage2):
        return IDLE
    if config.stage2_epoch_budget is None and len(stage2) >= config.stage2_trials:
        return STOPPED
    scores = [t.score for t in stage2]
    low = config.min_learning_rate or config.stage1_learning_rate
    if config.stage2_rule == compass.SCOUT:
        rates = scout.learning_rates(
            scores, low, config.max_learning_rate, config.direction
        )
    elif config.stage2_rule == compass.TWO_STARTS:
        # The stage-1 learning rate and the maximum (where the reference
        # rule starts), then the compass search from the better.
        starts = (config.stage1_learning_rate, config.max_learning_rate)
        rates = compass.search_from(
            scores, starts, low, config.max_learning_rate, config.direction
        )
    else:
        rates = compass.learning_rates(
            scores,
            start=config.stage1_learning_rate,
            low=low,
            high=config.max_learning_rate,
            direction=config.direction,
        )
    return TrialPlan(LEARNING_RATE_STAGE, units, rates[-1], config.stage2_epochs)
