"""A small `ScheduleConfig` for the pure schedule's tests."""

from kt_twostage.schedule import ScheduleConfig

# 3 units values, 4 stage-2 trials of 30 epochs from 0.02, maximised.
DEFAULTS = dict(
    units_grid=(10, 20, 30),
    stage1_learning_rate=0.001,
    max_learning_rate=0.02,
    stage1_epochs=1,
    stage2_epochs=30,
    stage2_trials=4,
    direction="max",
)


def make_config(**overrides) -> ScheduleConfig:
    """`DEFAULTS` with `overrides`."""
    return ScheduleConfig(**{**DEFAULTS, **overrides})
