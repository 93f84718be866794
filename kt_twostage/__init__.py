"""kt-twostage: a two-stage hyperparameter schedule for Keras Tuner.

Stage 1 picks the architecture (every value of the units hyperparameter, a
short training each, one learning rate); stage 2 adapts the learning rate for
that architecture only.
"""

from kt_twostage.imdb.data import ImdbData, load_imdb, sample_path
from kt_twostage.imdb.hypermodel import ImdbLstmHyperModel
from kt_twostage.oracle import TwoStageOracle
from kt_twostage.schedule import ScheduleConfig, ScheduleError
from kt_twostage.tuner import TwoStageTuner

__version__ = "0.1.0"

__all__ = [
    "ImdbData",
    "ImdbLstmHyperModel",
    "ScheduleConfig",
    "ScheduleError",
    "TwoStageOracle",
    "TwoStageTuner",
    "load_imdb",
    "sample_path",
]
