"""kt-twostage: a two-stage hyperparameter schedule for Keras Tuner.

Stage 1 picks the architecture (every value of the units hyperparameter, a
short training each, one learning rate); stage 2 adapts the learning rate for
that architecture only.

The public names are imported on first use (PEP 562), so that
`import kt_twostage.schedule` (the pure schedule) loads neither TensorFlow
nor Keras Tuner.
"""

import importlib

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "ImdbData": "kt_twostage.imdb.data",
    "ImdbLstmHyperModel": "kt_twostage.imdb.hypermodel",
    "RECOMMENDED_VARIANT": "kt_twostage.schedule.compass",
    "ResilientOracle": "kt_twostage.resilient_oracle",
    "ScheduleConfig": "kt_twostage.schedule.config",
    "ScheduleError": "kt_twostage.schedule.config",
    "TwoStageOracle": "kt_twostage.oracle",
    "TwoStageTuner": "kt_twostage.tuner",
    "load_imdb": "kt_twostage.imdb.data",
    "sample_path": "kt_twostage.imdb.sample",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kt_twostage' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
