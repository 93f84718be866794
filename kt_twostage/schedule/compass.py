"""The compass rule: stage 2 as a line search from the stage-1 learning rate.

An alternative to the reference rule (`rule`), chosen with
`stage2_rule="compass"`. Stage 2 starts at the learning rate stage 1 trained
every architecture with (known to train them) instead of at the maximum, and
searches log(learning rate) around the best trial so far:

- the next trial is one step from the best learning rate so far, in the
  current direction (down first, as the reference rule halves);
- after an improvement the search goes on from there, same direction and
  step;
- after a trial that does not improve (or fails), the search tries the other
  direction from the best one; when both directions have failed at this step,
  the step is halved.

The step starts at a factor of 2 (the reference rule's halving), and learning
rates stay within the hyperparameter's range. Like the reference rule, the
learning rates are recomputed from the recorded scores alone, so a resumed
search continues where it stopped. A compass search is a classic derivative-
free line search (also called pattern or coordinate search).

Pure functions: no Keras, no files, no clocks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from kt_twostage.schedule import rule

COMPASS = "compass"
REFERENCE = "reference"
SCOUT = "scout"
TWO_STARTS = "compass-two-starts"
STAGE2_RULES = (REFERENCE, COMPASS, SCOUT, TWO_STARTS)
# The rules that search from the scores one trial at a time (sequential).
LINE_SEARCH_RULES = (COMPASS, SCOUT, TWO_STARTS)
# The variant the comparisons run (`compare`'s `twostage-compass`, `replay`'s
# `two-stage-compass`), as `TwoStageOracle`/`TwoStageTuner` options: this rule,
# stage-2 trials stopped after 2 epochs without improvement, and the saved
# epochs reinvested in more stage-2 trials.
VARIANT_PATIENCE = 2
VARIANT_OPTIONS = {
    "stage2_rule": COMPASS,
    "stage2_patience": VARIANT_PATIENCE,
    "reinvest_stopped_epochs": True,
}
# The variant the replay suite recommends (`two-stage-scout-s1e2`; see the
# README's "Does it pay?"): `TwoStageOracle(**RECOMMENDED_VARIANT)` /
# `kt-twostage search --recommended-variant`. Stage 1 trains every width 2
# epochs (one epoch ranks widths by how fast they start), stage 2 is the
# scout rule with early stopping and reinvested epochs.
RECOMMENDED_VARIANT = {
    "stage1_epochs": 2,
    "stage2_rule": SCOUT,
    "stage2_patience": VARIANT_PATIENCE,
    "reinvest_stopped_epochs": True,
}
# Steps below this (in log learning rate) would repeat a learning rate.
_SMALLEST_STEP = 1e-6


@dataclasses.dataclass(frozen=True)
class _Search:
    best_x: float
    best_score: object
    step: float
    direction: int
    tried_other: bool
    tried: tuple = ()


def learning_rates(
    scores: Sequence,
    start: float,
    low: float,
    high: float,
    direction: str,
    factor: float = 2.0,
) -> list[float]:
    """Learning rates of stage-2 trials 1..len(scores)+1 of the compass rule.

    Args:
        scores: The scores of the stage-2 trials so far, in order (None for a
            failed trial).
        start: Float, the first learning rate (the stage-1 learning rate).
        low, high: Floats, the learning-rate hyperparameter's range.
        direction: `"max"` or `"min"`, the direction of the objective.
        factor: Float, the first step, as a factor on the learning rate.
    """
    if not 0 < low <= start <= high:
        raise ValueError(
            f"Expected 0 < low <= start <= high, got low={low}, start={start}, "
            f"high={high}."
        )
    return search_from(scores, (start,), low, high, direction, factor)


def search_from(
    scores: Sequence,
    starts: Sequence[float],
    low: float,
    high: float,
    direction: str,
    factor: float = 2.0,
) -> list[float]:
    """Learning rates of a compass search that first tries every start.

    Trials 1..len(starts) are `starts`, in order; then the search goes on
    from the best of them (down first, a step of `factor`), as
    `learning_rates` does from its one start. Used by the scout rule
    (`schedule.scout`).

    Args:
        scores: The scores of the trials so far, in order (None: failed).
        starts: Floats within `[low, high]`, tried first.
        low, high, direction, factor: as in `learning_rates`.
    """
    bounds = (math.log(low), math.log(high))
    points = [math.log(start) for start in starts]
    search = _Search(points[0], None, math.log(factor), -1, False)
    x = points[0]
    rates = [_rate(x) if len(points) > 1 else starts[0]]
    for index, score in enumerate(scores):
        # While trying the starts: keep the best, turn nowhere.
        trying_starts = len(points) > 1 and index < len(points)
        if not trying_starts:
            search = _after(search, x, score, direction)
        elif _improves(search, score, direction):
            search = dataclasses.replace(search, best_x=x, best_score=score)
        search = dataclasses.replace(search, tried=(*search.tried, x))
        if trying_starts and index + 1 < len(points):
            x = points[index + 1]
        else:
            search, x = _next_point(search, bounds)
        rates.append(_rate(x))
    return rates


def _rate(x) -> float:
    # 12 significant digits: exp(log(0.001) - log(2)) is 0.0005000000000000001.
    return float(f"{math.exp(x):.12g}")


def _improves(search: _Search, score, direction) -> bool:
    """Whether `score` is the best so far (None, a failed trial, never is)."""
    return score is not None and (
        search.best_score is None or rule.is_better(score, search.best_score, direction)
    )


def _after(search: _Search, x, score, direction) -> _Search:
    """The search after the trial at `x` scored `score`."""
    if _improves(search, score, direction):
        return dataclasses.replace(
            search, best_x=x, best_score=score, tried_other=False
        )
    if search.best_score is None:
        # Nothing has a score yet (the first trials failed): a smaller
        # learning rate is the likelier fix, as in the reference rule.
        return dataclasses.replace(search, best_x=x)
    return _turn(search)


def _turn(search: _Search) -> _Search:
    """After a failed direction: the other one, else a step half as long."""
    if not search.tried_other:
        return dataclasses.replace(
            search, direction=-search.direction, tried_other=True
        )
    return dataclasses.replace(search, step=search.step / 2, tried_other=False)


def _next_point(search: _Search, bounds) -> tuple:
    """The next learning rate's log: one step from the best, within `bounds`.

    A step that the range clips back onto the best point, or onto a learning
    rate already tried (all of them scored no better than the best), is no
    new trial: it counts as a failed direction.
    """
    low, high = bounds
    while search.step > _SMALLEST_STEP:
        x = min(max(search.best_x + search.direction * search.step, low), high)
        if all(
            abs(x - seen) > _SMALLEST_STEP for seen in (search.best_x, *search.tried)
        ):
            return search, x
        search = _turn(search)
    return search, search.best_x
