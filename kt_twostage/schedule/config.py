"""The settings of a two-stage search, the records the schedule reads and
the plans it returns, and the `tuner/*` keys that carry them in trial values.

Pure data: no Keras, no files, no clocks.
"""

from __future__ import annotations

import dataclasses

ARCHITECTURE_STAGE = 1
LEARNING_RATE_STAGE = 2

# What the planner returns when it has no trial to hand out.
IDLE = "IDLE"  # wait: earlier trials must end first
STOPPED = "STOPPED"  # the schedule is complete

# Keys the oracle adds to every trial's values (a distributed worker learns
# what to train from the values alone). Keras Tuner's own Hyperband uses the
# same `tuner/` prefix, and no key under it counts for the duplicate hash.
STAGE_KEY = "tuner/stage"
EPOCHS_KEY = "tuner/epochs"
# Stage-2 trials only: where the trial sits in the tree of learning rates
# (see `rule`), its step, and whether it started before its parent's outcome
# was known.
BRANCH_KEY = "tuner/stage2_branch"
STEP_KEY = "tuner/stage2_step"
SPECULATIVE_KEY = "tuner/speculative"
# Stage-2 trials with early stopping: stop after this many epochs without
# improvement of the objective (a worker learns it from the values).
PATIENCE_KEY = "tuner/patience"


class ScheduleError(RuntimeError):
    """The schedule cannot go on (for example, every stage-1 trial failed)."""


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """The settings that fix every trial of a two-stage search.

    Args:
        units_grid: Tuple of the architecture values tried in stage 1, in order.
        stage1_learning_rate: Float, the learning rate of every stage-1 trial.
        max_learning_rate: Float, the first stage-2 learning rate and the value
            that a non-improving trial moves halfway back toward.
        stage1_epochs: Integer, epochs of each stage-1 trial.
        stage2_epochs: Integer, epochs of each stage-2 trial.
        stage2_trials: Integer, number of stage-2 trials.
        direction: `"max"` or `"min"`, the direction of the objective.
        stage2_patience: Integer or None. With an integer, a stage-2 trial
            stops after that many epochs without improvement of the objective
            (Keras' `EarlyStopping`); its score is still its best epoch's.
        stage2_epoch_budget: Integer or None. None: stage 2 runs
            `stage2_trials` trials. An integer: stage 2 runs trials as long as
            a whole trial (`stage2_epochs`) still fits in this many epochs,
            counting each trial's epochs as trained, so that the epochs early
            stopping saves go to more stage-2 steps.
        stage2_rule: `"reference"` (halve after an improvement, else halfway
            back to `max_learning_rate`; see `rule`) or `"compass"` (a line
            search from `stage1_learning_rate`; see `compass`).
        min_learning_rate: Float or None, the smallest learning rate stage 2
            may try (the compass rule stays within it).
    """

    units_grid: tuple
    stage1_learning_rate: float
    max_learning_rate: float
    stage1_epochs: int
    stage2_epochs: int
    stage2_trials: int
    direction: str
    stage2_patience: int | None = None
    stage2_epoch_budget: int | None = None
    stage2_rule: str = "reference"
    min_learning_rate: float | None = None

    @property
    def stage2_length(self) -> int:
        """The most stage-2 trials: `stage2_trials`, or with an epoch budget
        as many as fit if every trial stopped as early as it can."""
        if self.stage2_epoch_budget is None:
            return self.stage2_trials
        shortest = min(self.stage2_epochs, (self.stage2_patience or 0) + 1)
        return self.stage2_epoch_budget // shortest

    @property
    def total_trials(self) -> int:
        """The schedule's length (an upper bound with an epoch budget)."""
        return len(self.units_grid) + self.stage2_length

    def to_dict(self) -> dict:
        state = dataclasses.asdict(self)
        state["units_grid"] = list(self.units_grid)
        return state

    @classmethod
    def from_dict(cls, state: dict) -> ScheduleConfig:
        return cls(**{**state, "units_grid": tuple(state["units_grid"])})


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """What the schedule needs to know of one trial.

    `stage` is None for a trial the schedule did not create. `score` is None
    for a trial that failed or has not ended; `ended` is False while the
    trial is running or waiting to be retried. `branch` is the stage-2
    trial's place in the tree (see `rule`); None for stage 1, and for
    stage-2 trials of projects made before branches were recorded (they ran
    one after the other, so their branches follow from their order).
    `epochs` is how many epochs the trial trained (None: all its stage's).
    """

    stage: int | None
    units: object
    learning_rate: float
    score: float | None = None
    ended: bool = True
    branch: str | None = None
    epochs: int | None = None


@dataclasses.dataclass(frozen=True)
class NodeRecord:
    """What stage 2 needs to know of one stage-2 trial: a node of the tree.

    `score` is None for a trial that failed or has not ended; `ended` is False
    while it runs or waits to be retried. The two optional fields only tune
    when speculative trials are handed out, never the path: `ends_at_start`
    is how many trials had ended when this one (last) started, `end_rank` its
    position among the ended trials.
    """

    branch: str
    score: float | None = None
    ended: bool = True
    ends_at_start: int | None = None
    end_rank: int | None = None


@dataclasses.dataclass(frozen=True)
class TrialPlan:
    """The values of the next trial to run."""

    stage: int
    units: object
    learning_rate: float
    epochs: int


@dataclasses.dataclass(frozen=True)
class Stage2Plan(TrialPlan):
    """A stage-2 `TrialPlan` with its place in the tree.

    `speculative` is True when the node was handed out before the outcome of
    its parent was known (it is not the frontier).
    """

    branch: str = ""
    speculative: bool = False

    @property
    def step(self) -> int:
        return len(self.branch) + 1
