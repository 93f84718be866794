"""The scout rule: stage 2 as a coarse look over the whole learning-rate
range, then a compass search from the best look.

An alternative to the reference rule (`rule`) and to the compass rule
(`compass`), chosen with `stage2_rule="scout"`. The reference rule starts at
the maximum learning rate and the compass rule at the stage-1 learning rate,
so each does well where the best learning rate lies near its start. The
scout rule starts nowhere in particular:

- the first `SCOUTS` stage-2 trials are the centres of `SCOUTS` equal bins of
  log(learning rate) over the hyperparameter's range, largest first;
- then a compass search (`compass.search_from`) goes on from the best of
  them, with a first step of half a bin (a factor of 2 on the IMDB range
  7.8e-5..0.02), so it refines between the scouts.

The learning rates follow from the recorded scores alone, so a resumed
search continues where it stopped. Pure functions: no Keras, no files, no
clocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kt_twostage.schedule import compass

# Four bins: on a range of 2 to 3 decades, neighbouring scouts are a factor
# of 4 to 6 apart, close enough that a plateau of good learning rates (about
# a decade wide on the recorded tables) holds at least one of them.
SCOUTS = 4


def scout_rates(low: float, high: float, scouts: int = SCOUTS) -> list[float]:
    """The centres of `scouts` equal bins of log(learning rate), largest first."""
    if not 0 < low < high:
        raise ValueError(f"Expected 0 < low < high, got low={low}, high={high}.")
    width = (math.log(high) - math.log(low)) / scouts
    centres = [math.log(low) + width * (index + 0.5) for index in range(scouts)]
    return [float(f"{math.exp(x):.12g}") for x in reversed(centres)]


def learning_rates(
    scores: Sequence, low: float, high: float, direction: str, scouts: int = SCOUTS
) -> list[float]:
    """Learning rates of stage-2 trials 1..len(scores)+1 of the scout rule.

    Args:
        scores: The scores of the stage-2 trials so far, in order (None for a
            failed trial).
        low, high: Floats, the learning-rate hyperparameter's range.
        direction: `"max"` or `"min"`, the direction of the objective.
        scouts: Integer, how many scouts; defaults to `SCOUTS`.
    """
    starts = scout_rates(low, high, scouts)
    half_bin = math.exp((math.log(high) - math.log(low)) / scouts / 2)
    return compass.search_from(scores, starts, low, high, direction, half_bin)
