"""The two-stage schedule as pure functions: no Keras, no files, no clocks.

Stage 1 trains every value of the architecture grid at one learning rate and
keeps the best. Stage 2 adapts the learning rate for that architecture: after
an improvement the learning rate is halved, otherwise it moves halfway back
toward the maximum.

- `config`: `ScheduleConfig`, the trial records and plans, the `tuner/*` keys.
- `rule`: the stage-2 rule, once (a sequential stage 2 is the tree explored
  with parallelism 1).
- `planner`: the next trial (stage-1 grid, then the stage-2 step or window).
- `ranking`: roles of trials and the best-trial order.

Importing this package loads neither TensorFlow nor Keras Tuner.
"""

from kt_twostage.schedule.config import (
    ARCHITECTURE_STAGE,
    BRANCH_KEY,
    EPOCHS_KEY,
    IDLE,
    LEARNING_RATE_STAGE,
    PATIENCE_KEY,
    SPECULATIVE_KEY,
    STAGE_KEY,
    STEP_KEY,
    STOPPED,
    NodeRecord,
    ScheduleConfig,
    ScheduleError,
    Stage2Plan,
    TrialPlan,
    TrialRecord,
)
from kt_twostage.schedule.planner import next_node, next_trial, stage2_budget
from kt_twostage.schedule.ranking import (
    ROLE_OFF_PATH,
    ROLE_OTHER,
    ROLE_PATH,
    ROLE_PENDING,
    ROLE_STAGE1,
    best_index,
    best_stage2_position,
    chosen_index,
    chosen_units,
    describe_progress,
    rank,
    trial_roles,
)
from kt_twostage.schedule.rule import (
    branch_learning_rate,
    improves,
    is_better,
    next_learning_rate,
    resolve_path,
    sequential_branches,
    stage2_learning_rates,
)

__all__ = [
    "ARCHITECTURE_STAGE",
    "BRANCH_KEY",
    "EPOCHS_KEY",
    "IDLE",
    "LEARNING_RATE_STAGE",
    "PATIENCE_KEY",
    "ROLE_OFF_PATH",
    "ROLE_OTHER",
    "ROLE_PATH",
    "ROLE_PENDING",
    "ROLE_STAGE1",
    "SPECULATIVE_KEY",
    "STAGE_KEY",
    "STEP_KEY",
    "STOPPED",
    "NodeRecord",
    "ScheduleConfig",
    "ScheduleError",
    "Stage2Plan",
    "TrialPlan",
    "TrialRecord",
    "best_index",
    "best_stage2_position",
    "branch_learning_rate",
    "chosen_index",
    "chosen_units",
    "describe_progress",
    "improves",
    "is_better",
    "next_learning_rate",
    "next_node",
    "next_trial",
    "rank",
    "resolve_path",
    "sequential_branches",
    "stage2_budget",
    "stage2_learning_rates",
    "trial_roles",
]
