"""The stage-2 rule, written once: halve after an improvement, else go
halfway back to the maximum.

Stage 2's next learning rate depends only on whether the current trial
improved on the previous one, so the trials that may follow form a binary
tree. Each node is named by its *branch*: the decisions on the way from the
first stage-2 trial to it, `"H"` ("improved: halve") and `"B"` ("did not
improve: go halfway back"). The first stage-2 trial is the branch `""`, the
second always `"H"` (the first trial counts as improved), the third `"HH"` or
`"HB"`, and so on. A branch fixes its node's learning rate and its step
(`len(branch) + 1`).

The *path* is the sequence of nodes the rule visits for the scores the nodes
on it got. A sequential stage 2 is the path itself (the tree explored with
parallelism 1); a speculative stage 2 runs some nodes off it too. Either way
the path is recomputed by `follow` from recorded scores only, never from
counters or start order, so a resumed search finds the same path.

Pure functions: no Keras, no files, no clocks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

HALVE = "H"
BACK = "B"


def is_better(score, reference, direction: str) -> bool:
    """Whether `score` is strictly better than `reference`."""
    return score > reference if direction == "max" else score < reference


def improves(score, reference, direction: str) -> bool:
    """The decision of the rule: does a trial count as an improvement?

    It does when it beats `reference`, the most recent earlier scored trial
    on the path. The first scored trial (no reference) counts as improved, a
    tie does not, and a failed trial (score None) counts as "learning rate
    too high", which halves it too.
    """
    return score is None or reference is None or is_better(score, reference, direction)


def next_learning_rate(
    learning_rate: float, improved: bool, max_learning_rate: float
) -> float:
    """The learning rate after a trial: halved, or halfway back to the max."""
    if improved:
        return learning_rate / 2
    return (max_learning_rate + learning_rate) / 2


def check_branch(branch) -> str:
    """Return `branch` if it names a node, else raise ValueError."""
    if not isinstance(branch, str) or set(branch) - {HALVE, BACK}:
        raise ValueError(
            f"Invalid stage-2 branch {branch!r}: expected a string of "
            f"{HALVE!r} and {BACK!r}."
        )
    return branch


def step_of(branch: str) -> int:
    """The stage-2 step (1-based) of the node at `branch`."""
    return len(branch) + 1


def branch_learning_rate(branch: str, max_learning_rate: float) -> float:
    """The learning rate of the node at `branch` (the same floats whichever
    way the node was reached)."""
    learning_rate = max_learning_rate
    for decision in check_branch(branch):
        learning_rate = next_learning_rate(
            learning_rate, decision == HALVE, max_learning_rate
        )
    return learning_rate


@dataclasses.dataclass(frozen=True)
class Path:
    """Where stage 2 stands.

    Attributes:
        branches: Tuple of the branches of the path nodes whose outcome is
            known, in step order.
        frontier: The branch of the next path node (started or not), or None
            when the path has all its nodes.
        reference: The score the frontier's score will be compared with (the
            most recent scored path node), None if there is none.
    """

    branches: tuple
    frontier: str | None
    reference: float | None


def follow(outcome: Callable[[str], tuple], length: int, direction: str) -> Path:
    """Walk the rule from the first node while outcomes are known.

    Args:
        outcome: Function of a branch returning `(known, score)`: whether the
            node's outcome is known, and its score (None: failed).
        length: Integer, the most nodes the path can have (`stage2_trials`).
        direction: `"max"` or `"min"`.
    """
    branches = []
    reference = None
    branch = ""
    while len(branches) < length:
        known, score = outcome(branch)
        if not known:
            break
        branches.append(branch)
        improved = improves(score, reference, direction)
        if score is not None:
            reference = score
        branch += HALVE if improved else BACK
    frontier = branch if len(branches) < length else None
    return Path(tuple(branches), frontier, reference)


def scores_by_branch(nodes) -> dict:
    """`{branch: score}` of the nodes that ended (the first one per branch)."""
    scores = {}
    for node in nodes:
        if node.ended and node.branch not in scores:
            scores[node.branch] = node.score
    return scores


def resolve_path(nodes, stage2_trials: int, direction: str) -> Path:
    """The path through the ended nodes (`NodeRecord`s, in any order)."""
    scores = scores_by_branch(nodes)
    return follow(
        lambda branch: (branch in scores, scores.get(branch)),
        stage2_trials,
        direction,
    )


def sequential_path(scores: Sequence, direction: str) -> Path:
    """The path of trials run one after the other, `scores` in order.

    With `len(scores)` outcomes known, the frontier is the branch of the
    trial that comes next.
    """
    return follow(
        lambda branch: (
            step_of(branch) <= len(scores),
            scores[len(branch)] if step_of(branch) <= len(scores) else None,
        ),
        len(scores) + 1,
        direction,
    )


def sequential_branches(scores: Sequence, direction: str) -> list[str]:
    """Branches of stage-2 trials that ran one after the other.

    For projects whose stage-2 trials carry no branch (made before branches
    were recorded): trial i is the i-th path node. `scores` are the trials'
    scores in start order (None for failed or running).
    """
    return list(sequential_path(scores, direction).branches)


def stage2_learning_rates(
    scores: Sequence, max_learning_rate: float, direction: str
) -> list[float]:
    """Learning rates of stage-2 trials 1..len(scores)+1 run one after the
    other, for the scores of the first len(scores)."""
    path = sequential_path(scores, direction)
    return [
        branch_learning_rate(branch, max_learning_rate)
        for branch in (*path.branches, path.frontier)
    ]


def may_join_path(branch: str, path: Path) -> bool:
    """Whether a node in the frontier's subtree can still be on the path."""
    if path.frontier is None or not branch.startswith(path.frontier):
        return False
    # With no scored node before it, the frontier counts as improved whatever
    # its score: its "back" child can never be on the path.
    if path.reference is None and branch.startswith(path.frontier + BACK):
        return False
    return True
