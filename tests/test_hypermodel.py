import keras
import keras_tuner
import numpy as np
import pytest

from kt_twostage.imdb.data import load_imdb, sample_path
from kt_twostage.imdb.hypermodel import ImdbLstmHyperModel


def build(hypermodel, **values):
    hp = keras_tuner.HyperParameters()
    hp.values.update(values)
    return hypermodel.build(hp), hp


def stage2_learning_rates(max_learning_rate, trials):
    """Every learning rate the stage-2 rule can reach in `trials` trials."""
    reachable = {max_learning_rate}
    frontier = {max_learning_rate}
    for _ in range(trials - 1):
        frontier = {
            value for lr in frontier for value in (lr / 2, (max_learning_rate + lr) / 2)
        }
        reachable |= frontier
    return reachable


@pytest.mark.parametrize("units", [10, 40])
def test_model_size_follows_units(units):
    num_words = 100
    model, _ = build(ImdbLstmHyperModel(num_words=num_words), units=units)
    embedding, lstm, dense = model.layers
    assert embedding.count_params() == num_words * units
    # Four gates, each with input and recurrent kernels and a bias.
    assert lstm.count_params() == 4 * (units * units + units * units + units)
    assert dense.count_params() == units + 1
    assert model.output_shape == (None, 1)


def test_hyperparameters_and_defaults():
    model, hp = build(ImdbLstmHyperModel(num_words=50, units=(16, 64, 16)))
    units, learning_rate = hp.space
    assert (units.name, units.min_value, units.max_value, units.step) == (
        "units",
        16,
        64,
        16,
    )
    assert hp.values == {"units": 16, "learning_rate": 0.001}
    assert learning_rate.sampling == "log"
    assert (learning_rate.min_value, learning_rate.max_value) == (0.02 / 2**16, 0.02)
    assert model.layers[1].units == 16


def test_learning_rate_is_read_from_hp():
    model, _ = build(ImdbLstmHyperModel(num_words=50), units=20, learning_rate=0.005)
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.005)
    assert model.loss == "binary_crossentropy"


def test_lstm_keeps_the_cudnn_defaults():
    model, _ = build(ImdbLstmHyperModel(num_words=50))
    embedding, lstm, dense = model.layers
    assert not embedding.mask_zero
    assert lstm.activation is keras.activations.tanh
    assert lstm.recurrent_activation is keras.activations.sigmoid
    assert lstm.recurrent_dropout == 0 and not lstm.unroll and lstm.use_bias
    assert dense.activation is keras.activations.sigmoid


def test_range_holds_every_stage2_learning_rate():
    hypermodel = ImdbLstmHyperModel(num_words=50, max_learning_rate=0.02)
    _, hp = build(hypermodel)
    (learning_rate,) = [p for p in hp.space if p.name == "learning_rate"]
    rates = stage2_learning_rates(0.02, trials=11)
    assert min(rates) == pytest.approx(0.02 / 2**10)
    assert all(learning_rate.min_value <= lr <= learning_rate.max_value for lr in rates)


def test_min_learning_rate_can_be_set():
    hypermodel = ImdbLstmHyperModel(num_words=50, min_learning_rate=1e-5)
    _, hp = build(hypermodel)
    assert hp.space[1].min_value == 1e-5


def test_trains_on_the_builtin_sample(tmp_path):
    imdb = load_imdb(sample_path(), num_words=500, max_length=32, cache_dir=tmp_path)
    model, _ = build(ImdbLstmHyperModel(num_words=500), units=8)
    # The loader's arrays are read-only; Keras must train on them as they are.
    history = model.fit(
        imdb.x_train[:256], imdb.y_train[:256], epochs=1, batch_size=64, verbose=0
    )
    assert np.isfinite(history.history["loss"][0])


BAD_ARGUMENTS = [
    ({"num_words": 0}, "`num_words`, expected a positive integer, got 0"),
    ({"num_words": 2.5}, "`num_words`.*got 2.5"),
    ({"units": (10, 190)}, r"`units`, expected a tuple .*got \(10, 190\)"),
    ({"units": (0, 10, 5)}, r"`units`.*positive integers.*got \(0, 10, 5\)"),
    ({"units": (20, 10, 5)}, r"`units`.*min_units <= max_units.*got \(20, 10, 5\)"),
    ({"units": (10, 190, 0)}, r"`units`.*got \(10, 190, 0\)"),
    ({"units": (10, 190.0, 10)}, r"`units`.*got \(10, 190.0, 10\)"),
    ({"units": "10"}, "`units`.*got '10'"),
    ({"max_learning_rate": 0}, "`max_learning_rate`, expected a positive number"),
    ({"default_learning_rate": -1}, "`default_learning_rate`.*got -1"),
    ({"default_learning_rate": 0.05}, r"`default_learning_rate`.*at most.*0\.02"),
    ({"min_learning_rate": 0}, "`min_learning_rate`.*positive number or None"),
    ({"min_learning_rate": 0.02}, r"`min_learning_rate`.*less than.*0\.02"),
    ({"min_learning_rate": 0.01}, r"`default_learning_rate`.*at least.*0\.01"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_ARGUMENTS)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImdbLstmHyperModel(**kwargs)


def test_stage2_helper_matches_the_rule():
    # The helper above, on a case small enough to work out by hand: from the
    # maximum, "halfway back up" gives the maximum again.
    assert stage2_learning_rates(1.0, trials=3) == {1.0, 0.5, 0.75, 0.25}
