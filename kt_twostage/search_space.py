"""The search space: what a hypermodel declares, and the two hyperparameters
the schedule tunes in it."""

from __future__ import annotations

import keras
import keras_tuner
from keras_tuner.engine import hyperparameters as hp_module
from keras_tuner.src.engine import hypermodel as hypermodel_module


def declared_space(hypermodel, hyperparameters=None):
    """The `HyperParameters` that `hypermodel` declares, on top of
    `hyperparameters` (which is not changed).

    Keras Tuner learns a space by building a model with it, as
    `Tuner.__init__` does for a new project: this builds one model, then
    clears the Keras session.

    Args:
        hypermodel: A `keras_tuner.HyperModel` or a function of `hp`.
        hyperparameters: Optional `HyperParameters` to start from (what the
            user passed to the oracle).
    """
    space = hyperparameters.copy() if hyperparameters else keras_tuner.HyperParameters()
    hypermodel = hypermodel_module.get_hypermodel(hypermodel)
    hypermodel.declare_hyperparameters(space)
    hypermodel.build(space)
    keras.backend.clear_session()
    return space


def find(space, name, argument):
    """The hyperparameter `name` of `space`; `argument` names the setting."""
    for hp in space.space:
        if hp.name == name:
            return hp
    declared = [hp.name for hp in space.space]
    raise ValueError(
        f"The search space has no hyperparameter named `{name}` (argument "
        f"`{argument}`); it declares {declared}. Declare it in the hypermodel "
        f"or pass `{argument}=` the name your hypermodel uses. The units "
        "hyperparameter must be an `Int` or a `Choice`, the learning rate a "
        "`Float`."
    )


def units_grid(space, name) -> tuple:
    """The stage-1 grid: every value of the `Int` or `Choice` `name`, in order."""
    units = find(space, name, "units_hp")
    if isinstance(units, hp_module.Int):
        return tuple(int(value) for value in units.values)
    if isinstance(units, hp_module.Choice):
        # Trial values travel through JSON and protobuf: no numpy scalars.
        return tuple(v.item() if hasattr(v, "item") else v for v in units.values)
    raise ValueError(
        f"The hyperparameter `{name}` (argument `units_hp`) is a "
        f"`{type(units).__name__}`, but stage 1 trains every value of it, so it "
        'must be an `Int` (e.g. `hp.Int("units", 10, 190, step=10)`) or a '
        '`Choice` (e.g. `hp.Choice("units", [32, 64])`).'
    )


def learning_rate(space, name):
    """The learning-rate `Float` `name`: stage 2 sets it to values it computes."""
    hp = find(space, name, "learning_rate_hp")
    if not isinstance(hp, hp_module.Float):
        raise ValueError(
            f"The hyperparameter `{name}` (argument `learning_rate_hp`) is a "
            f"`{type(hp).__name__}`, but stage 2 sets it to values it computes, "
            'so it must be a `Float` (e.g. `hp.Float("learning_rate", 1e-5, '
            '0.02, sampling="log", default=0.001)`).'
        )
    return hp
