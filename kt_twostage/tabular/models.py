"""The models a learning-curve table can record, by name.

`lstm-rmsprop` is the reference model (`ImdbLstmHyperModel`). The others
are there so that the benchmark suite holds problems that differ in model
and optimizer from the reference:

- `gru-adam`: `Embedding(num_words, units) -> GRU(units) -> Dense(1,
  sigmoid)`, Adam;
- `conv1d-adam`: `Embedding(num_words, 32) -> Conv1D(units, 5, relu) ->
  GlobalMaxPooling1D -> Dense(1, sigmoid)`, Adam (units are the filters).

All use binary cross-entropy and accuracy.
"""

from __future__ import annotations

MODELS = ("lstm-rmsprop", "gru-adam", "conv1d-adam")
# The Conv1D model's embedding width (its units are the filters).
CONV1D_EMBEDDING = 32
CONV1D_KERNEL = 5


def check_model(name):
    if name not in MODELS:
        raise ValueError(
            f"Received an invalid value for argument `model`, expected one of "
            f"{', '.join(MODELS)}, got {name!r}."
        )


def build_model(name, *, num_words, units, learning_rate, learning_rates):
    """The compiled Keras model `name` with `units` at `learning_rate`.

    Args:
        name: One of `MODELS`.
        num_words: Vocabulary size of the embedding.
        units: The width: LSTM/GRU units, or Conv1D filters.
        learning_rate: The optimizer's learning rate.
        learning_rates: Every learning rate of the table (the reference
            hypermodel's range is taken from it).
    """
    import keras

    check_model(name)
    if name == "lstm-rmsprop":
        import keras_tuner

        from kt_twostage.imdb.hypermodel import ImdbLstmHyperModel

        hp = keras_tuner.HyperParameters()
        hp.Fixed("units", units)
        hp.Fixed("learning_rate", learning_rate)
        return ImdbLstmHyperModel(
            num_words=num_words,
            units=(units, units, 1),
            max_learning_rate=max(learning_rates),
            default_learning_rate=min(learning_rates),
            min_learning_rate=min(learning_rates) / 2,
        ).build(hp)
    if name == "gru-adam":
        layers = [
            keras.layers.Embedding(num_words, units),
            keras.layers.GRU(units),
        ]
    else:
        layers = [
            keras.layers.Embedding(num_words, CONV1D_EMBEDDING),
            keras.layers.Conv1D(units, CONV1D_KERNEL, activation="relu"),
            keras.layers.GlobalMaxPooling1D(),
        ]
    model = keras.Sequential(layers + [keras.layers.Dense(1, activation="sigmoid")])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model
