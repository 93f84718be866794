"""A tiny real Keras model, tiny data and a tuner for it: end-to-end tests."""

import keras
import numpy as np

from kt_twostage import TwoStageTuner


def build_model(
    hp,
    widths=(2, 4),
    optimizer=keras.optimizers.RMSprop,
    learning_rate=(1e-4, 0.05, 0.01),
    units_hp="width",
    learning_rate_hp="lr",
):
    """One hidden `Dense` layer on 3 features; `learning_rate` is the log-sampled
    `Float`'s `(min, max, default)`."""
    low, high, default = learning_rate
    model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(hp.Choice(units_hp, list(widths)), activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=optimizer(
            hp.Float(learning_rate_hp, low, high, sampling="log", default=default)
        ),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def tiny_data(samples=64, label_features=2):
    """`samples` rows of 3 normal features (seed 0); the label is 1 where the
    first `label_features` features sum above 0."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 3)).astype("float32")
    y = (x[:, :label_features].sum(axis=1) > 0).astype("float32")
    return x, y


def make_tuner(directory, hypermodel=build_model, tuner_class=TwoStageTuner, **kwargs):
    """A short schedule (2 + 3 trials of 1 and 2 epochs) in `directory/tiny`;
    `kwargs` add or override the tuner's arguments."""
    arguments = {
        "units_hp": "width",
        "learning_rate_hp": "lr",
        "stage1_epochs": 1,
        "stage2_epochs": 2,
        "stage2_trials": 3,
        "seed": 1,
        "project_name": "tiny",
        **kwargs,
    }
    return tuner_class(hypermodel, directory=str(directory), **arguments)


class EpochLog(keras.callbacks.Callback):
    """Appends one line per trained epoch, and `end` after each `fit` when
    `mark_end` (survives Keras Tuner's deepcopy)."""

    def __init__(self, path, mark_end=False):
        super().__init__()
        self.path = str(path)
        self.mark_end = mark_end

    def on_epoch_end(self, epoch, logs=None):
        with open(self.path, "a") as handle:
            handle.write(f"{epoch}\n")

    def on_train_end(self, logs=None):
        if self.mark_end:
            with open(self.path, "a") as handle:
                handle.write("end\n")
