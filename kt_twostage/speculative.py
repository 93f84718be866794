"""Speculative stage 2 as pure functions: no Keras, no files, no clocks.

Stage 2's next learning rate depends only on whether the current trial
improved on the previous one, so the trials that may follow form a binary
tree. Each node of the tree is named by its *branch*: the decisions taken on
the way from the first stage-2 trial to it, `"H"` for "improved: halve the
learning rate" and `"B"` for "did not improve: go halfway back to the
maximum". The first stage-2 trial is the branch `""`, the second always
`"H"` (the first trial counts as improved), the third `"HH"` or `"HB"`, and so
on. A branch fixes the node's learning rate and its step (`len(branch) + 1`).

The *path* is the sequence of nodes that the sequential rule visits for the
scores that the nodes on it actually got. It is recomputed from the recorded
nodes (branch, score, ended) only, never from counters or from the order in
which trials started, so that a resumed search finds the same path, and a
speculative trial whose parent has not ended yet is still placed exactly.

With `parallelism` P > 1, the P nodes nearest the first path node that has
not ended (the *frontier*), in breadth-first order, may run at once: with
P = 3, the frontier and its two children, so that a round of three equally
long trials advances the path two steps. As the frontier moves, so does this
window; nodes that end up off the path are kept but never chosen. When a trial
of the frontier's round ends before the frontier, speculation waits for the
frontier (its result is due), so that the next round starts together rather
than on a guess. With P = 1 this is exactly the sequential schedule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from kt_twostage import schedule

HALVE = "H"
BACK = "B"

ON_PATH = "path"
OFF_PATH = "off-path"
PENDING = "pending"


@dataclasses.dataclass(frozen=True)
class NodeRecord:
    """What the speculative schedule needs to know of one stage-2 trial.

    `score` is None for a trial that failed or has not ended; `ended` is False
    while it runs or waits to be retried. The two optional fields only tune
    when speculative trials are handed out, never the path: `ends_at_start`
    is how many trials had ended when this one (last) started, `end_rank` its
    position among the ended trials.
    """

    branch: str
    score: float | None = None
    ended: bool = True
    ends_at_start: int | None = None
    end_rank: int | None = None


@dataclasses.dataclass(frozen=True)
class Stage2Plan(schedule.TrialPlan):
    """A stage-2 `TrialPlan` with its place in the tree.

    `speculative` is True when the node was handed out before the outcome of
    its parent was known (it is not the frontier).
    """

    branch: str = ""
    speculative: bool = False

    @property
    def step(self) -> int:
        return step_of(self.branch)


@dataclasses.dataclass(frozen=True)
class Path:
    """Where stage 2 stands.

    Attributes:
        branches: Tuple of the branches of the path nodes that have ended, in
            step order.
        frontier: The branch of the next path node (started or not), or None
            when the path has `stage2_trials` nodes.
        reference: The score the frontier's score will be compared with (the
            most recent scored path node), None if there is none.
    """

    branches: tuple
    frontier: str | None
    reference: float | None


def step_of(branch: str) -> int:
    """The stage-2 step (1-based) of the node at `branch`."""
    return len(branch) + 1


def check_branch(branch) -> str:
    """Return `branch` if it names a node, else raise ValueError."""
    if not isinstance(branch, str) or set(branch) - {HALVE, BACK}:
        raise ValueError(
            f"Invalid stage-2 branch {branch!r}: expected a string of "
            f"{HALVE!r} and {BACK!r}."
        )
    return branch


def branch_learning_rate(branch: str, max_learning_rate: float) -> float:
    """The learning rate of the node at `branch` (same floats as sequential)."""
    learning_rate = max_learning_rate
    for decision in check_branch(branch):
        learning_rate = schedule.next_learning_rate(
            learning_rate, decision == HALVE, max_learning_rate
        )
    return learning_rate


def stage2_budget(stage2_trials: int, parallelism: int) -> int:
    """How many stage-2 trials (path and speculative) may be started at most.

    `stage2_trials` for sequential. Each speculative trial is granted from
    this budget, never at the cost of a path trial; `parallelism - 1` extra
    trials per two steps is more than rounds of equally long trials use.
    """
    return stage2_trials + (parallelism - 1) * (stage2_trials // 2)


def _ended_by_branch(nodes: Sequence[NodeRecord]) -> dict:
    ended = {}
    for node in nodes:
        if node.ended and node.branch not in ended:
            ended[node.branch] = node
    return ended


def resolve_path(
    nodes: Sequence[NodeRecord], stage2_trials: int, direction: str
) -> Path:
    """Follow the sequential rule through the nodes that have ended.

    A node improves when it beats the most recent earlier scored node on the
    path (`schedule.stage2_improved`): the first scored node counts as
    improved, a tie does not, and a failed node (score None) counts as "too
    high", which halves.
    """
    ended = _ended_by_branch(nodes)
    branches = []
    reference = None
    branch = ""
    while len(branches) < stage2_trials and branch in ended:
        score = ended[branch].score
        improved = (
            score is None
            or reference is None
            or schedule.is_better(score, reference, direction)
        )
        branches.append(branch)
        if score is not None:
            reference = score
        branch += HALVE if improved else BACK
    frontier = branch if len(branches) < stage2_trials else None
    return Path(tuple(branches), frontier, reference)


def _possible(branch: str, path: Path) -> bool:
    """Whether a node in the frontier's subtree can still be on the path."""
    if path.frontier is None or not branch.startswith(path.frontier):
        return False
    # With no scored node before it, the frontier counts as improved whatever
    # its score: its "back" child can never be on the path.
    if path.reference is None and branch.startswith(path.frontier + BACK):
        return False
    return True


def node_status(branch: str, path: Path) -> str:
    """`ON_PATH`, `OFF_PATH` or `PENDING` (may still join the path)."""
    if branch in path.branches or branch == path.frontier:
        return ON_PATH
    if _possible(branch, path):
        return PENDING
    return OFF_PATH


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
        `(branch, speculative)`, or `schedule.IDLE` (wait for a node to end),
        or `schedule.STOPPED` (the path is complete).
    """
    if budget is None:
        budget = stage2_budget(stage2_trials, parallelism)
    path = resolve_path(nodes, stage2_trials, direction)
    if path.frontier is None:
        return schedule.STOPPED
    started = {node.branch for node in nodes}
    ended = _ended_by_branch(nodes)
    running = {node.branch for node in nodes if node.branch not in ended}
    if path.frontier not in started:
        # Never held back: it is certain to be needed.
        return path.frontier, False
    live = [branch for branch in running if _possible(branch, path)]
    if len(live) >= parallelism:
        return schedule.IDLE
    if _round_is_ending(nodes, path):
        return schedule.IDLE
    # Path nodes after the frontier that may still have to be started.
    still_needed = stage2_trials - len(path.branches) - 1
    if len(started) + 1 + still_needed > budget:
        return schedule.IDLE
    for branch in window(path, stage2_trials, parallelism):
        if branch not in started:
            return branch, True
    return schedule.IDLE


def _round_is_ending(nodes: Sequence[NodeRecord], path: Path) -> bool:
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
        and (node.branch in path.branches or _possible(node.branch, path))
        for node in nodes
    )


def window(path: Path, stage2_trials: int, parallelism: int) -> list[str]:
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
        if step_of(branch) < stage2_trials:
            queue += [
                child
                for child in (branch + HALVE, branch + BACK)
                if _possible(child, path)
            ]
    return nodes


def next_trial(
    config: schedule.ScheduleConfig,
    stage1_trials: Sequence[schedule.TrialRecord],
    nodes: Sequence[NodeRecord],
    parallelism: int = 1,
    budget: int | None = None,
):
    """`schedule.next_trial` with a speculative stage 2.

    Args:
        config: The `ScheduleConfig`.
        stage1_trials: `TrialRecord`s of the stage-1 trials started so far.
        nodes: `NodeRecord`s of the stage-2 trials started so far.
        parallelism, budget: as in `next_node`.

    Returns:
        A `TrialPlan` (stage 1), a `Stage2Plan`, `IDLE` or `STOPPED`.
    """
    stage1 = [t for t in stage1_trials if t.stage == schedule.ARCHITECTURE_STAGE]
    plan = schedule.next_trial(config, stage1)
    if not isinstance(plan, schedule.TrialPlan):
        return plan
    if plan.stage == schedule.ARCHITECTURE_STAGE:
        return plan
    choice = next_node(
        nodes, config.stage2_trials, config.direction, parallelism, budget
    )
    if choice in (schedule.IDLE, schedule.STOPPED):
        return choice
    branch, speculative = choice
    return Stage2Plan(
        stage=schedule.LEARNING_RATE_STAGE,
        units=plan.units,
        learning_rate=branch_learning_rate(branch, config.max_learning_rate),
        epochs=config.stage2_epochs,
        branch=branch,
        speculative=speculative,
    )


def sequential_branches(scores: Sequence, direction: str) -> list[str]:
    """Branches of stage-2 trials that ran one after the other.

    For projects whose stage-2 trials carry no branch (sequential runs made
    before branches were recorded): trial i is the i-th path node. `scores`
    are the trials' scores in start order (None for failed or running).
    """
    branches = []
    branch = ""
    for position in range(len(scores)):
        branches.append(branch)
        improved = schedule.stage2_improved(scores, position, direction)
        branch += HALVE if improved else BACK
    return branches


def best_path_branch(nodes: Sequence[NodeRecord], stage2_trials: int, direction: str):
    """Branch of the chosen node: the best scored path node, first on ties."""
    path = resolve_path(nodes, stage2_trials, direction)
    ended = _ended_by_branch(nodes)
    best = schedule.best_index([ended[b].score for b in path.branches], direction)
    return None if best is None else path.branches[best]


@dataclasses.dataclass(frozen=True)
class Simulation:
    """What `simulate_rounds` observed."""

    path: tuple  # branches of the path, in step order
    learning_rates: tuple  # of the path nodes
    rounds: int  # rounds of trials run at the same time
    trials: int  # stage-2 trials run, path and off-path
    chosen: str | None  # branch of the chosen node


def simulate_rounds(
    score_of,
    stage2_trials: int,
    max_learning_rate: float,
    direction: str = "max",
    parallelism: int = 1,
    workers: int | None = None,
) -> Simulation:
    """Run stage 2 in synchronous rounds: every trial of a round takes as long.

    Each round hands out nodes to up to `workers` (default `parallelism`)
    workers until the schedule says IDLE, then ends them all. `score_of` maps a
    learning rate to a score (None: the trial failed).
    """
    workers = workers or parallelism
    nodes = []
    rounds = 0
    while True:
        started = []
        for _ in range(workers):
            choice = next_node(nodes + started, stage2_trials, direction, parallelism)
            if choice in (schedule.IDLE, schedule.STOPPED):
                break
            started.append(NodeRecord(choice[0], None, ended=False))
        if not started:
            break
        rounds += 1
        nodes += [
            NodeRecord(
                node.branch,
                score_of(branch_learning_rate(node.branch, max_learning_rate)),
            )
            for node in started
        ]
    path = resolve_path(nodes, stage2_trials, direction)
    return Simulation(
        path=path.branches,
        learning_rates=tuple(
            branch_learning_rate(b, max_learning_rate) for b in path.branches
        ),
        rounds=rounds,
        trials=len(nodes),
        chosen=best_path_branch(nodes, stage2_trials, direction),
    )
