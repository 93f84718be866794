"""Curve lookup: recorded curves exactly, log-linear interpolation between."""

import math

import numpy as np
import pytest
from replay_tables import BEST_RATE, BEST_UNITS, EPOCHS, TEST_OFFSET, write_table

from kt_twostage.replay.lookup import CurveLookup, table_optimum
from kt_twostage.tabular.table import LearningCurves, read_table


@pytest.fixture
def curves(tmp_path):
    return read_table(write_table(tmp_path / "table.csv"))


def test_recorded_points_are_returned_exactly(curves):
    lookup = CurveLookup(curves)
    for i, units in enumerate(curves.units):
        for j, rate in enumerate(curves.learning_rates):
            for k in range(len(curves.seeds)):
                for metric, array in curves.metrics.items():
                    got = lookup.curve(metric, units, rate, k)
                    np.testing.assert_array_equal(got, array[i, j, k])


def test_a_computed_rate_matches_its_recorded_neighbour(curves):
    lookup = CurveLookup(curves)
    computed = 0.02
    for _ in range(3):
        computed /= 2
    assert lookup.rate_neighbours(computed)[2] == 0.0
    # A rate a hair above the largest (log sampling's rounding) is the largest.
    largest = len(curves.learning_rates) - 1
    assert lookup.rate_neighbours(0.02 * (1 + 1e-12))[:2] == (largest, largest)


def test_between_recorded_rates_every_metric_is_linear_in_log_rate(curves):
    lookup = CurveLookup(curves)
    low, high = 0.005, 0.01
    for fraction in (0.25, 0.5, 0.9):
        rate = math.exp(math.log(low) + fraction * (math.log(high) - math.log(low)))
        for metric in ("val_accuracy", "val_loss", "test_accuracy", "seconds"):
            expected = (1 - fraction) * lookup.curve(
                metric, 32, low, 1
            ) + fraction * lookup.curve(metric, 32, high, 1)
            np.testing.assert_allclose(lookup.curve(metric, 32, rate, 1), expected)


def test_interpolation_uses_the_same_seed(curves):
    lookup = CurveLookup(curves)
    rate = math.sqrt(0.005 * 0.01)
    seed0 = lookup.curve("val_accuracy", 16, rate, 0)
    seed1 = lookup.curve("val_accuracy", 16, rate, 1)
    np.testing.assert_allclose(seed1 - seed0, 0.004)


def test_a_nan_loss_at_a_neighbour_does_not_touch_recorded_points():
    shape = (1, 2, 1, 2)
    metrics = {
        name: np.full(shape, 0.5)
        for name in ("val_accuracy", "val_loss", "test_accuracy", "test_loss")
    }
    metrics["seconds"] = np.ones(shape)
    metrics["val_loss"][0, 1] = np.nan
    curves = LearningCurves((16,), (0.001, 0.01), (0,), 2, metrics)
    lookup = CurveLookup(curves)
    np.testing.assert_array_equal(lookup.curve("val_loss", 16, 0.001, 0), [0.5, 0.5])
    assert np.isnan(lookup.curve("val_loss", 16, 0.003, 0)).all()


@pytest.mark.parametrize(
    "units, rate, message",
    [
        (16, 0.05, "outside the table's range"),
        (16, 1e-6, "outside the table's range"),
        (16, 0.0, "positive learning rate"),
        (20, 0.001, r"no runs with units=20; it records units \[8, 16, 32\]"),
    ],
)
def test_values_the_table_cannot_answer_are_errors(curves, units, rate, message):
    with pytest.raises(ValueError, match=message):
        CurveLookup(curves).curve("val_accuracy", units, rate, 0)


def test_training_scores_the_best_of_the_epochs_trained(curves):
    lookup = CurveLookup(curves)
    full = lookup.train(16, 0.001, 0, 1, EPOCHS)
    assert (full.first_epoch, full.last_epoch, full.best_epoch) == (1, EPOCHS, EPOCHS)
    val = lookup.curve("val_accuracy", 16, 0.001, 0)
    assert full.val_accuracy == val[-1]
    assert full.test_accuracy == pytest.approx(val[-1] + TEST_OFFSET)
    # A continued trial scores only its own epochs.
    continued = lookup.train(16, 0.001, 0, 3, 3)
    assert (continued.best_epoch, continued.val_accuracy) == (3, val[2])


def test_ties_go_to_the_first_best_epoch():
    shape = (1, 2, 1, 4)
    metrics = {name: np.zeros(shape) for name in ("val_loss", "test_loss", "seconds")}
    metrics["val_accuracy"] = np.tile([0.5, 0.7, 0.7, 0.6], (1, 2, 1, 1))
    metrics["test_accuracy"] = np.tile([0.1, 0.2, 0.3, 0.4], (1, 2, 1, 1))
    curves = LearningCurves((16,), (0.001, 0.01), (0,), 4, metrics)
    trained = CurveLookup(curves).train(16, 0.001, 0, 1, 4)
    assert (trained.best_epoch, trained.test_accuracy) == (2, 0.2)


def test_the_optimum_is_the_best_mean_test_at_the_best_validation_epoch(curves):
    optimum = table_optimum(curves)
    assert (optimum.units, optimum.learning_rate) == (BEST_UNITS, BEST_RATE)
    best = curves.metrics["test_accuracy"][1, curves.learning_rates.index(BEST_RATE)]
    assert optimum.test_accuracy == pytest.approx(best[:, -1].mean())
    assert table_optimum(curves, epochs=2).test_accuracy < optimum.test_accuracy
    with pytest.raises(ValueError, match=f"within 1..{EPOCHS}"):
        table_optimum(curves, epochs=EPOCHS + 1)


def test_one_learning_rate_is_not_enough(tmp_path):
    path = write_table(tmp_path / "one.csv", rates=(0.001,))
    with pytest.raises(ValueError, match="at least two"):
        CurveLookup(read_table(path))
