"""What search space a hypermodel declares."""

from __future__ import annotations

import keras
import keras_tuner
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
