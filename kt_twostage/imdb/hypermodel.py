"""The reference LSTM sentiment classifier as a Keras Tuner HyperModel."""

import numbers

import keras
import keras_tuner

from kt_twostage._validation import check_positive_float, check_positive_int

# Stage 2 starts at `max_learning_rate` and each next value is either half the
# last one or halfway back up to the maximum, so after k steps the learning
# rate is at least `max_learning_rate / 2**k`: 2**-10 for the reference's 11
# trials. 2**-16 leaves room for a stage 2 of up to 17 trials.
_MIN_LEARNING_RATE_RATIO = 2.0**-16


class ImdbLstmHyperModel(keras_tuner.HyperModel):
    """Embedding, LSTM and sigmoid classifier of the reference notebook.

    `build(hp)` returns `Sequential([Embedding(num_words, units),
    LSTM(units), Dense(1, activation="sigmoid")])` compiled with
    `RMSprop(learning_rate)`, binary cross-entropy and accuracy, where
    `units` is the integer hyperparameter `"units"` (the architecture, tuned
    in stage 1) and `learning_rate` the float hyperparameter
    `"learning_rate"` (log sampling, tuned in stage 2).

    The LSTM keeps its defaults (tanh, sigmoid recurrent activation, no
    recurrent dropout, not unrolled, with bias) and the embedding has no
    mask, so on a GPU Keras runs the fast cuDNN kernel. Without a mask the
    zeros in front of a short review are read as a (learned) padding token,
    as in the reference, which feeds `pad_sequences`-padded reviews to it.

    Args:
        num_words: Integer, the vocabulary size: token ids must be in
            `[0, num_words)`. Use the same value as in `load_imdb`.
            Defaults to `88584`.
        units: Tuple of three positive integers `(min_units, max_units,
            step)`, the values of the `"units"` hyperparameter: the size of
            the embedding and of the LSTM state. The default is the
            reference's `range(10, 200, 10)`. Defaults to `(10, 190, 10)`.
        max_learning_rate: Float, the largest value of `"learning_rate"`:
            stage 2 starts there. Defaults to `0.02`.
        default_learning_rate: Float, the value of `"learning_rate"` when no
            trial sets it (stage 1 of the reference trains with `0.001`).
            Defaults to `0.001`.
        min_learning_rate: Float, the smallest value of `"learning_rate"`.
            Defaults to `None`: `max_learning_rate / 2**16`, below any value
            a stage 2 of up to 17 trials can reach (each stage-2 step at
            most halves the learning rate).
        mixed_precision: Bool. If `True`, the model is built under Keras'
            `"mixed_float16"` dtype policy (float16 computations, float32
            weights, loss scaling), which is faster on GPUs with tensor
            cores. The policy is set for `build` only, because Keras Tuner's
            `clear_session` before every trial resets a global one. The
            output layer always computes in float32, so the sigmoid and the
            loss stay accurate. Defaults to `False`.
        **kwargs: Passed to `keras_tuner.HyperModel` (`name`, `tunable`).

    Example:

    ```python
    import keras_tuner
    from kt_twostage import ImdbLstmHyperModel

    hypermodel = ImdbLstmHyperModel(num_words=10000, units=(16, 64, 16))
    hp = keras_tuner.HyperParameters()
    hp.Fixed("units", 32)
    model = hypermodel.build(hp)  # learning rate 0.001, the default
    ```
    """

    def __init__(
        self,
        num_words=88584,
        units=(10, 190, 10),
        max_learning_rate=0.02,
        default_learning_rate=0.001,
        min_learning_rate=None,
        mixed_precision=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.mixed_precision = bool(mixed_precision)
        self.num_words = check_positive_int("num_words", num_words)
        self.units = _check_units(units)
        self.max_learning_rate = check_positive_float(
            "max_learning_rate", max_learning_rate
        )
        self.default_learning_rate = check_positive_float(
            "default_learning_rate", default_learning_rate
        )
        min_learning_rate = check_positive_float(
            "min_learning_rate", min_learning_rate, allow_none=True
        )
        if min_learning_rate is None:
            min_learning_rate = self.max_learning_rate * _MIN_LEARNING_RATE_RATIO
        self.min_learning_rate = min_learning_rate
        if self.default_learning_rate > self.max_learning_rate:
            raise ValueError(
                "Received an invalid value for argument `default_learning_rate`, "
                f"expected at most `max_learning_rate` ({self.max_learning_rate}), "
                f"got {default_learning_rate}."
            )
        if self.min_learning_rate >= self.max_learning_rate:
            raise ValueError(
                "Received an invalid value for argument `min_learning_rate`, "
                f"expected less than `max_learning_rate` ({self.max_learning_rate}),"
                f" got {min_learning_rate}."
            )
        if self.default_learning_rate < self.min_learning_rate:
            raise ValueError(
                "Received an invalid value for argument `default_learning_rate`, "
                f"expected at least `min_learning_rate` ({self.min_learning_rate}), "
                f"got {default_learning_rate}."
            )

    def build(self, hp):
        if not self.mixed_precision:
            return self._build_model(hp)
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_float16")
        try:
            return self._build_model(hp)
        finally:
            keras.config.set_dtype_policy(previous)

    def fit(self, hp, model, *args, **kwargs):
        """`model.fit`, for the epochs of the trial's stage when the oracle set
        them (`tuner/epochs` in the trial's values).

        `TwoStageTuner` sets them itself; this makes a plain
        `keras_tuner.Tuner(oracle=TwoStageOracle(...))` train each trial as
        long as its stage asks, too, and stop early (on `val_accuracy`, this
        model's objective) when the trial carries `tuner/patience`.
        """
        epochs = hp.values.get("tuner/epochs")
        if epochs is not None:
            kwargs["epochs"] = epochs
        patience = hp.values.get("tuner/patience")
        if patience is not None and not _has_early_stopping(kwargs):
            kwargs["callbacks"] = [
                *(kwargs.get("callbacks") or []),
                keras.callbacks.EarlyStopping(
                    monitor="val_accuracy", mode="max", patience=patience
                ),
            ]
        return model.fit(*args, **kwargs)

    def _build_model(self, hp):
        min_units, max_units, step = self.units
        units = hp.Int("units", min_units, max_units, step=step, default=min_units)
        learning_rate = hp.Float(
            "learning_rate",
            min_value=self.min_learning_rate,
            max_value=self.max_learning_rate,
            sampling="log",
            default=self.default_learning_rate,
        )
        model = keras.Sequential(
            [
                keras.Input(shape=(None,), dtype="int32"),
                keras.layers.Embedding(self.num_words, units),
                keras.layers.LSTM(units),
                # float32 even under mixed precision: see `mixed_precision`.
                keras.layers.Dense(1, activation="sigmoid", dtype="float32"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        return model


def _check_units(units):
    if (
        not isinstance(units, (tuple, list))
        or len(units) != 3
        or any(
            isinstance(value, bool)
            or not isinstance(value, numbers.Integral)
            or value < 1
            for value in units
        )
        or units[0] > units[1]
    ):
        raise ValueError(
            "Received an invalid value for argument `units`, expected a tuple "
            "`(min_units, max_units, step)` of positive integers with "
            f"`min_units <= max_units`, got {units!r}."
        )
    return tuple(int(value) for value in units)


def _has_early_stopping(kwargs) -> bool:
    """Whether `fit`'s callbacks already stop early (TwoStageTuner adds one)."""
    return any(
        isinstance(callback, keras.callbacks.EarlyStopping)
        for callback in kwargs.get("callbacks") or []
    )
