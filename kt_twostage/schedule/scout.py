"""The scout rule: stage 2 as a coarse look over the whole learning-rate
range, then a compass search from the best look.

An alternative to the reference rule (`rule`) and to the compass rule
(`compass`), chosen with `stage2_rule="scout"`. The reference rule starts at
the maximum learning rate and the compass rule at the stage-1 learning rate,
so each does well where the best learning rate lies near its start. The
scout rule starts nowhere in particular:

- the first `SCOUTS` (5) stage-2 trials are learning rates evenly spaced in
  log(learning rate) over the hyperparameter's whole range, both ends
  included, largest first (on the IMDB tables' range 7.8e-5..0.02: 0.02,
  0.005, 0.00125, 0.0003125, 7.8e-5, a factor of 4 apart), so the maximum,
  where the reference rule starts, is always tried;
- then a compass search (`compass.search_from`) goes on from the best of
  them, with a first step of half the spacing (a factor of 2 there), so it
  refines between the scouts.

The learning rates follow from the recorded scores alone, so a resumed
search continues where it stopped. Pure functions: no Keras, no files, no
clocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kt_twostage.schedule import compass

# Five: on a range of 2 to 3 decades, neighbouring scouts are a factor of 4
# to 6 apart, close enough that a plateau of good learning rates (about a
# decade wide on the recorded tables) holds at least one of them. Chosen on
# the design tables (imdb-cpu, imdb-short) over 4 bin centres without the
# ends; see docs/BENCHMARKS.md.
SCOUTS = 5


def scout_rates(low: float, high: float, scouts: int = SCOUTS) -> list[float]:
    """`scouts` learning rates evenly spaced in log from `high` down to `low`."""
    if not 0 < low < high:
        raise ValueError(f"Expected 0 < low < high, got low={low}, high={high}.")
    if scouts < 2:
        raise ValueError(f"Expected at least 2 scouts, got {scouts}.")
    return [float(f"{math.exp(x):.12g}") for x in _log_grid(low, high, scouts)]


def _log_grid(low, high, scouts):
    width = (math.log(high) - math.log(low)) / (scouts - 1)
    return [math.log(high) - width * index for index in range(scouts)]


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
    half_spacing = math.exp((math.log(high) - math.log(low)) / (scouts - 1) / 2)
    return compass.search_from(scores, starts, low, high, direction, half_spacing)
