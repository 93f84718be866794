"""Learning curves of any (units, learning rate) in a table's range.

A table records a grid of learning rates; the tuners ask for any learning rate
between its smallest and largest. `CurveLookup` answers with the recorded
curve at a recorded learning rate, and in between with every metric's curve
interpolated linearly in log(learning rate) between the two recorded
neighbours, from the same seed. Pure numpy: no Keras.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from kt_twostage.tabular.table import LearningCurves

# Learning rates whose logs differ by less than this are the same recorded
# rate: a value a tuner computes (0.02 / 2**k, a log-sampled bound) may differ
# from the recorded one in its last bits.
_LOG_RATE_TOLERANCE = 1e-9


@dataclasses.dataclass(frozen=True)
class Trained:
    """What one trial trained, looked up in a table.

    Attributes:
        first_epoch: Integer, the first epoch trained (1 for a fresh trial,
            `initial_epoch + 1` for a continued one).
        last_epoch: Integer, the last epoch trained.
        best_epoch: Integer, the epoch with the best `val_accuracy` among
            those trained (the first one on ties, as Keras Tuner picks it).
        val_accuracy: Float, `val_accuracy` at `best_epoch`: the trial's score.
        test_accuracy: Float, `test_accuracy` at `best_epoch`: the outcome if
            the trial is the one chosen.
    """

    first_epoch: int
    last_epoch: int
    best_epoch: int
    val_accuracy: float
    test_accuracy: float


class CurveLookup:
    """Learning curves of a table at any learning rate in its range.

    Args:
        curves: A `LearningCurves` (see `read_table`).

    Example:

    ```python
    lookup = CurveLookup(read_table("imdb-cpu.csv"))
    lookup.curve("val_accuracy", units=32, learning_rate=0.015, seed_index=0)
    lookup.train(32, 0.015, seed_index=0, first_epoch=1, last_epoch=10)
    ```
    """

    def __init__(self, curves: LearningCurves):
        if len(curves.learning_rates) < 2:
            raise ValueError(
                f"The table {curves.path or ''} records one learning rate "
                f"({curves.learning_rates[0]:g}); a replay needs at least two, "
                "to search between them. Record more learning rates."
            )
        self.curves = curves
        self._log_rates = np.log(np.asarray(curves.learning_rates, dtype=float))

    @property
    def num_seeds(self) -> int:
        return len(self.curves.seeds)

    @property
    def epochs(self) -> int:
        return self.curves.epochs

    def rate_neighbours(self, learning_rate) -> tuple[int, int, float]:
        """`(low, high, weight)`: indices of the recorded learning rates around
        `learning_rate` and the weight of `high` in log space.

        A recorded learning rate gives `(i, i, 0.0)`.

        Raises:
            ValueError: `learning_rate` is outside the table's range.
        """
        rates = self.curves.learning_rates
        if not learning_rate > 0 or math.isinf(learning_rate):
            raise ValueError(
                f"Expected a positive learning rate, got {learning_rate!r}."
            )
        log_rate = math.log(learning_rate)
        nearest = int(np.argmin(np.abs(self._log_rates - log_rate)))
        if abs(self._log_rates[nearest] - log_rate) < _LOG_RATE_TOLERANCE:
            return nearest, nearest, 0.0
        if not rates[0] < learning_rate < rates[-1]:
            raise ValueError(
                f"The learning rate {learning_rate:g} is outside the table's "
                f"range [{rates[0]:g}, {rates[-1]:g}]; the table has no curve "
                "for it. Search within the recorded range."
            )
        high = int(np.searchsorted(self._log_rates, log_rate))
        low = high - 1
        weight = (log_rate - self._log_rates[low]) / (
            self._log_rates[high] - self._log_rates[low]
        )
        return low, high, float(weight)

    def curve(self, metric, units, learning_rate, seed_index) -> np.ndarray:
        """The curve of `metric` (epoch 1 first) for one (units, learning
        rate) and the table's `seed_index`-th seed.

        Raises:
            ValueError: `units` is not a recorded value, or `learning_rate`
                is outside the table's range.
        """
        curves = self.curves
        if units not in curves.units:
            raise ValueError(
                f"The table has no runs with units={units!r}; it records units "
                f"{list(curves.units)}."
            )
        if not 0 <= seed_index < self.num_seeds:
            raise ValueError(
                f"Expected a seed index in [0, {self.num_seeds}), got {seed_index}."
            )
        low, high, weight = self.rate_neighbours(learning_rate)
        recorded = curves.metrics[metric][curves.units.index(units), :, seed_index]
        if low == high:
            # Exactly the recorded curve (also where a loss is NaN).
            return recorded[low].copy()
        return (1.0 - weight) * recorded[low] + weight * recorded[high]

    def train(
        self, units, learning_rate, seed_index, first_epoch, last_epoch, patience=None
    ):
        """A `Trained` for the epochs `first_epoch..last_epoch` of one curve.

        With `patience`, training stops as Keras' `EarlyStopping(patience)`
        stops it: `patience` epochs after the best one, if no epoch since has
        been strictly better; `last_epoch` of the result is where it stopped.

        Raises:
            ValueError: the epochs are not within `1..self.epochs`, or the
                curve does not exist (see `curve`).
        """
        if not 1 <= first_epoch <= last_epoch <= self.epochs:
            raise ValueError(
                f"Expected epochs within 1..{self.epochs} (the table's), got "
                f"{first_epoch}..{last_epoch}."
            )
        val = self.curve("val_accuracy", units, learning_rate, seed_index)
        test = self.curve("test_accuracy", units, learning_rate, seed_index)
        if patience is not None:
            last_epoch = early_stop_epoch(val, first_epoch, last_epoch, patience)
        trained = val[first_epoch - 1 : last_epoch]
        # np.argmax returns the first maximum: Keras Tuner keeps the first
        # epoch that is strictly better than all before it.
        best_epoch = first_epoch + int(np.argmax(trained))
        return Trained(
            first_epoch=first_epoch,
            last_epoch=last_epoch,
            best_epoch=best_epoch,
            val_accuracy=float(val[best_epoch - 1]),
            test_accuracy=float(test[best_epoch - 1]),
        )


def early_stop_epoch(val, first_epoch, last_epoch, patience) -> int:
    """The epoch after which `EarlyStopping(patience)` on `val` (maximised)
    stops a fit of epochs `first_epoch..last_epoch` (`last_epoch` if never)."""
    best = first_epoch
    for epoch in range(first_epoch + 1, last_epoch + 1):
        if val[epoch - 1] > val[best - 1]:
            best = epoch
        elif epoch - best >= patience:
            return epoch
    return last_epoch


@dataclasses.dataclass(frozen=True)
class Optimum:
    """The table's best configuration, the reference of regret.

    Attributes:
        units, learning_rate: The recorded grid point.
        test_accuracy: Float, its mean over the table's seeds of
            `test_accuracy` at the best-`val_accuracy` epoch (of epochs
            `1..epochs`).
        epochs: Integer, the epochs it was chosen over.
    """

    units: object
    learning_rate: float
    test_accuracy: float
    epochs: int


def table_optimum(curves: LearningCurves, epochs=None) -> Optimum:
    """The recorded (units, learning rate) with the best expected outcome.

    Each grid point's outcome is what a tuner gets when it trains that point
    for `epochs` epochs and keeps its best-validation epoch: the
    `test_accuracy` at the first epoch with the best `val_accuracy`. The
    optimum has the highest mean of that outcome over the table's seeds (the
    first grid point on ties).

    Args:
        curves: A `LearningCurves`.
        epochs: Integer, how many epochs a trial may train at most. Defaults
            to `None`: the table's epochs.
    """
    epochs = curves.epochs if epochs is None else int(epochs)
    if not 1 <= epochs <= curves.epochs:
        raise ValueError(
            f"Expected epochs within 1..{curves.epochs} (the table's), got {epochs}."
        )
    val = curves.metrics["val_accuracy"][..., :epochs]
    test = curves.metrics["test_accuracy"][..., :epochs]
    best = np.argmax(val, axis=-1)[..., np.newaxis]
    outcome = np.take_along_axis(test, best, axis=-1)[..., 0].mean(axis=-1)
    unit_index, rate_index = np.unravel_index(int(np.argmax(outcome)), outcome.shape)
    return Optimum(
        units=curves.units[unit_index],
        learning_rate=float(curves.learning_rates[rate_index]),
        test_accuracy=float(outcome[unit_index, rate_index]),
        epochs=epochs,
    )
