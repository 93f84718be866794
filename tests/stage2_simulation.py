"""Stage 2 in synchronous rounds, simulated: for tests and benchmarks only.

Every trial of a round takes as long, so a round hands out nodes to the
workers until the planner says IDLE, then ends them all. Not part of the
package: it drives the pure planner, no oracle, no Keras.
"""

from __future__ import annotations

import dataclasses

from kt_twostage.schedule import (
    IDLE,
    LEARNING_RATE_STAGE,
    STOPPED,
    NodeRecord,
    TrialRecord,
    planner,
    ranking,
    rule,
)


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
            choice = planner.next_node(
                nodes + started, stage2_trials, direction, parallelism
            )
            if choice in (IDLE, STOPPED):
                break
            started.append(NodeRecord(choice[0], None, ended=False))
        if not started:
            break
        rounds += 1
        nodes += [
            NodeRecord(
                node.branch,
                score_of(rule.branch_learning_rate(node.branch, max_learning_rate)),
            )
            for node in started
        ]
    path = rule.resolve_path(nodes, stage2_trials, direction)
    return Simulation(
        path=path.branches,
        learning_rates=tuple(
            rule.branch_learning_rate(b, max_learning_rate) for b in path.branches
        ),
        rounds=rounds,
        trials=len(nodes),
        chosen=best_path_branch(nodes, stage2_trials, direction),
    )


def best_path_branch(nodes, stage2_trials: int, direction: str):
    """Branch of the node the search chooses (`ranking`), None if none."""
    records = [
        TrialRecord(LEARNING_RATE_STAGE, None, 0.0, n.score, n.ended, n.branch)
        for n in nodes
    ]
    chosen = ranking.chosen_index(records, stage2_trials, direction)
    return None if chosen is None else nodes[chosen].branch
