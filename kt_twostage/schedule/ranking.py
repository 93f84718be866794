"""Roles of trials and their ranking: which trial a search chooses.

One definition, used by the oracle (`get_best_trials`), the report of a
project read from its files, checkpoint retention and the comparison
harness:

- *roles*: `"stage 1"`; `"path"` (a stage-2 trial on the path of the rule,
  ended or the one running now); `"off-path"` (a speculative stage-2 trial
  the scores did not select: kept, never chosen); `"pending"` (speculative,
  started before the outcome of the trials above it is known); `"other"` (a
  trial the schedule did not create).
- *ranking*, best first: the scored stage-2 trials on the path (ties: the
  earlier step), then the scored stage-1 trials (ties: the earlier start),
  then other scored trials (ties: the earlier start), then every other trial
  in start order. The chosen trial is the first, if it has a score.

Pure functions: no Keras, no files, no clocks.
"""

from __future__ import annotations

from collections.abc import Sequence

from kt_twostage.schedule import rule
from kt_twostage.schedule.config import (
    ARCHITECTURE_STAGE,
    LEARNING_RATE_STAGE,
    NodeRecord,
    ScheduleConfig,
    ScheduleError,
    TrialRecord,
)

ROLE_STAGE1 = "stage 1"
ROLE_PATH = "path"
ROLE_OFF_PATH = "off-path"
ROLE_PENDING = "pending"
ROLE_OTHER = "other"


def best_index(scores: Sequence, direction: str) -> int | None:
    """Index of the best non-None score, the first one on ties; None if none."""
    best = None
    for index, score in enumerate(scores):
        if score is None:
            continue
        if best is None or rule.is_better(score, scores[best], direction):
            best = index
    return best


def chosen_units(config: ScheduleConfig, stage1: Sequence[TrialRecord]):
    """The stage-1 winner: best score, earliest grid value on ties.

    Raises:
        ScheduleError: if every stage-1 trial ended without a score.
    """
    score_by_units = {
        trial.units: trial.score
        for trial in stage1
        if trial.stage == ARCHITECTURE_STAGE and trial.ended
    }
    scores = [score_by_units.get(units) for units in config.units_grid]
    best = best_index(scores, config.direction)
    if best is None:
        raise ScheduleError(
            f"Every stage-1 trial failed (units {list(config.units_grid)}), so "
            "there is no architecture to tune the learning rate for. Check the "
            "trials' error messages, fix the cause and start over with "
            "`overwrite=True`."
        )
    return config.units_grid[best]


def stage2_nodes(records: Sequence[TrialRecord], direction: str) -> list[NodeRecord]:
    """The `NodeRecord` of every stage-2 record, in the records' order.

    Records without a branch come from a sequential stage 2 (made before
    branches were recorded): in start order, they are the path's nodes.
    """
    stage2 = [r for r in records if r.stage == LEARNING_RATE_STAGE]
    untagged = [r.score for r in stage2 if r.branch is None]
    inferred = iter(rule.sequential_branches(untagged, direction))
    return [
        NodeRecord(next(inferred) if r.branch is None else r.branch, r.score, r.ended)
        for r in stage2
    ]


def node_role(branch: str, path: rule.Path) -> str:
    """`ROLE_PATH`, `ROLE_PENDING` (may still join the path) or `ROLE_OFF_PATH`."""
    if branch in path.branches or branch == path.frontier:
        return ROLE_PATH
    if rule.may_join_path(branch, path):
        return ROLE_PENDING
    return ROLE_OFF_PATH


def trial_roles(
    records: Sequence[TrialRecord],
    stage2_trials: int,
    direction: str,
    nodes: Sequence[NodeRecord] | None = None,
) -> list[str]:
    """The role of each record, in the records' order.

    Args:
        records: `TrialRecord`s of every trial, in start order.
        stage2_trials: Integer, the length of the path.
        direction: `"max"` or `"min"`.
        nodes: The stage-2 records' `NodeRecord`s, if already made
            (default: `stage2_nodes(records, direction)`).
    """
    if nodes is None:
        nodes = stage2_nodes(records, direction)
    path = rule.resolve_path(nodes, stage2_trials, direction)
    node_roles = iter(node_role(node.branch, path) for node in nodes)
    roles = []
    for record in records:
        if record.stage == LEARNING_RATE_STAGE:
            roles.append(next(node_roles))
        elif record.stage == ARCHITECTURE_STAGE:
            roles.append(ROLE_STAGE1)
        else:
            roles.append(ROLE_OTHER)
    return roles


def path_order(records: Sequence[TrialRecord], roles, direction) -> dict:
    """`{record index: step}` of the stage-2 records on the path that ended."""
    nodes = stage2_nodes(records, direction)
    indices = [i for i, r in enumerate(records) if r.stage == LEARNING_RATE_STAGE]
    steps = {}
    for index, node in zip(indices, nodes, strict=True):
        if roles[index] == ROLE_PATH and node.ended:
            steps.setdefault(node.branch, index)
    return {index: len(branch) for branch, index in steps.items()}


def rank(
    records: Sequence[TrialRecord], roles: Sequence[str], direction: str
) -> list[int]:
    """Indices of `records` (in start order), best first (module docstring)."""
    steps = path_order(records, roles, direction)
    sign = -1 if direction == "max" else 1

    def scored(indices, tie_break):
        chosen = [i for i in indices if records[i].score is not None]
        return sorted(chosen, key=lambda i: (sign * records[i].score, tie_break(i)))

    everything = range(len(records))
    ranked = scored(steps, steps.get)
    ranked += scored([i for i in everything if roles[i] == ROLE_STAGE1], int)
    ranked += scored([i for i in everything if roles[i] == ROLE_OTHER], int)
    taken = set(ranked)
    return ranked + [i for i in everything if i not in taken]


def chosen_index(
    records: Sequence[TrialRecord], stage2_trials: int, direction: str
) -> int | None:
    """Index of the trial the search chooses: the first ranked, if scored."""
    roles = trial_roles(records, stage2_trials, direction)
    order = rank(records, roles, direction)
    if order and records[order[0]].score is not None:
        return order[0]
    return None


def best_stage2_position(records: Sequence[TrialRecord], direction: str):
    """Position among the stage-2 records of the chosen one (first on ties),
    None if no stage-2 trial has a score yet. Records of a sequential search."""
    stage2 = [r for r in records if r.stage == LEARNING_RATE_STAGE]
    return chosen_index(stage2, len(stage2), direction)


def describe_progress(
    config: ScheduleConfig, records: Sequence[TrialRecord], roles=None
) -> str:
    """A one-line account of where a search stands, for resume messages.

    Only the trials the sequential schedule runs are counted (stage 1 and
    the path); speculative trials off the path are mentioned apart.
    """
    if roles is None:
        roles = trial_roles(records, config.stage2_length, config.direction)
    counted = [
        r
        for r, role in zip(records, roles, strict=True)
        if role in (ROLE_STAGE1, ROLE_PATH)
    ]
    done = sum(1 for r in counted if r.ended)
    stage1_done = sum(1 for r in counted if r.ended and r.stage == ARCHITECTURE_STAGE)
    if stage1_done < len(config.units_grid):
        where = "in stage 1"
    elif done < config.total_trials:
        where = "in stage 2"
    else:
        where = "finished"
    text = f"{done} of {config.total_trials} trials done, {where}"
    extra = sum(1 for role in roles if role == ROLE_OFF_PATH)
    if extra:
        text += f" (+{extra} speculative trials off the path)"
    return text
