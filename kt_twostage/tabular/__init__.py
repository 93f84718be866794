"""Learning-curve tables: record a grid of runs once, replay tuners against it.

The approach of tabular hyperparameter-optimisation benchmarks (HPOBench,
LCBench, YAHPO Gym): the curves are recorded once (`record_table`, which
trains), then every tuner is run many times against them (`kt_twostage.replay`,
which trains nothing).
"""

from kt_twostage.tabular.profiles import TABLE_PROFILES, TableProfile
from kt_twostage.tabular.table import (
    COLUMNS,
    LearningCurves,
    TableError,
    read_table,
)

__all__ = [
    "COLUMNS",
    "LearningCurves",
    "TABLE_PROFILES",
    "TableError",
    "TableProfile",
    "read_table",
]
