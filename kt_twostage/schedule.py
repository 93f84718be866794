"""The two-stage schedule as pure functions: no Keras, no files, no clocks.

Stage 1 trains every value of the architecture grid at one learning rate and
keeps the best. Stage 2 adapts the learning rate for that architecture: after an
improvement the learning rate is halved, otherwise it moves halfway back toward
the maximum.

The position in the schedule is always recomputed from the trials recorded so
far (their stage tags, in start order), never kept in counters, so that a
resumed or retried search continues exactly where it stopped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

ARCHITECTURE_STAGE = 1
LEARNING_RATE_STAGE = 2

IDLE = "IDLE"
STOPPED = "STOPPED"


class ScheduleError(RuntimeError):
    """The schedule cannot go on (for example, every stage-1 trial failed)."""


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """The settings that fix every trial of a two-stage search.

    Args:
        units_grid: Tuple of the architecture values tried in stage 1, in order.
        stage1_learning_rate: Float, the learning rate of every stage-1 trial.
        max_learning_rate: Float, the first stage-2 learning rate and the value
            that a non-improving trial moves halfway back toward.
        stage1_epochs: Integer, epochs of each stage-1 trial.
        stage2_epochs: Integer, epochs of each stage-2 trial.
        stage2_trials: Integer, number of stage-2 trials.
        direction: `"max"` or `"min"`, the direction of the objective.
    """

    units_grid: tuple
    stage1_learning_rate: float
    max_learning_rate: float
    stage1_epochs: int
    stage2_epochs: int
    stage2_trials: int
    direction: str

    @property
    def total_trials(self) -> int:
        return len(self.units_grid) + self.stage2_trials

    def to_dict(self) -> dict:
        state = dataclasses.asdict(self)
        state["units_grid"] = list(self.units_grid)
        return state

    @classmethod
    def from_dict(cls, state: dict) -> ScheduleConfig:
        return cls(**{**state, "units_grid": tuple(state["units_grid"])})


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """What the schedule needs to know of one trial.

    `score` is None for a trial that failed or has not ended; `ended` is False
    while the trial is running or waiting to be retried.
    """

    stage: int
    units: object
    learning_rate: float
    score: float | None = None
    ended: bool = True


@dataclasses.dataclass(frozen=True)
class TrialPlan:
    """The values of the next trial to run."""

    stage: int
    units: object
    learning_rate: float
    epochs: int


def is_better(score, reference, direction: str) -> bool:
    """Whether `score` is strictly better than `reference`."""
    return score > reference if direction == "max" else score < reference


def best_index(scores: Sequence, direction: str) -> int | None:
    """Index of the best non-None score, the first one on ties; None if none."""
    best = None
    for index, score in enumerate(scores):
        if score is None:
            continue
        if best is None or is_better(score, scores[best], direction):
            best = index
    return best


def next_learning_rate(
    learning_rate: float, improved: bool, max_learning_rate: float
) -> float:
    """The stage-2 rule: halve after an improvement, else go halfway to max."""
    if improved:
        return learning_rate / 2
    return (max_learning_rate + learning_rate) / 2


def stage2_improved(scores: Sequence, position: int, direction: str) -> bool:
    """Whether stage-2 trial `position` counts as an improvement.

    A trial improves when it beats the most recent earlier trial that has a
    score. The first scored trial counts as improved. A failed trial (score
    None) counts as "learning rate too high", which halves the rate too.
    """
    score = scores[position]
    if score is None:
        return True
    earlier = [s for s in scores[:position] if s is not None]
    if not earlier:
        return True
    return is_better(score, earlier[-1], direction)


def stage2_learning_rates(
    scores: Sequence, max_learning_rate: float, direction: str
) -> list[float]:
    """Learning rates of stage-2 trials 1..len(scores)+1 for the given scores."""
    rates = [max_learning_rate]
    for position in range(len(scores)):
        improved = stage2_improved(scores, position, direction)
        rates.append(next_learning_rate(rates[-1], improved, max_learning_rate))
    return rates


def chosen_units(config: ScheduleConfig, trials: Sequence[TrialRecord]):
    """The stage-1 winner: best score, earliest grid value on ties.

    Raises:
        ScheduleError: if every stage-1 trial ended without a score.
    """
    score_by_units = {
        trial.units: trial.score
        for trial in trials
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


def next_trial(config: ScheduleConfig, trials: Sequence[TrialRecord]):
    """Decide what to run next from the trials recorded so far.

    Args:
        config: The `ScheduleConfig`.
        trials: The `TrialRecord`s of every trial started so far, in start
            order, including those still running.

    Returns:
        A `TrialPlan`, or `IDLE` (wait: earlier trials must end first), or
        `STOPPED` (the schedule is complete).
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

    stage2 = [t for t in trials if t.stage == LEARNING_RATE_STAGE]
    if len(stage2) >= config.stage2_trials:
        return STOPPED
    if not all(t.ended for t in stage2):
        return IDLE
    units = chosen_units(config, stage1)
    scores = [t.score for t in stage2]
    learning_rate = stage2_learning_rates(
        scores, config.max_learning_rate, config.direction
    )[-1]
    return TrialPlan(LEARNING_RATE_STAGE, units, learning_rate, config.stage2_epochs)


def best_stage2_position(trials: Sequence[TrialRecord], direction: str):
    """Position among the stage-2 trials of the chosen one (first on ties)."""
    stage2 = [t for t in trials if t.stage == LEARNING_RATE_STAGE]
    return best_index([t.score for t in stage2], direction)


def describe_progress(config: ScheduleConfig, trials: Sequence[TrialRecord]) -> str:
    """A one-line account of where a search stands, for resume messages."""
    done = sum(1 for t in trials if t.ended)
    stage1_done = sum(1 for t in trials if t.ended and t.stage == ARCHITECTURE_STAGE)
    if stage1_done < len(config.units_grid):
        where = "in stage 1"
    elif done < config.total_trials:
        where = "in stage 2"
    else:
        where = "finished"
    return f"{done} of {config.total_trials} trials done, {where}"
