"""What a search prints: one line per trial, and no TensorFlow noise.

Keras Tuner's display prints a hyperparameter table before each trial and
"Best val_accuracy So Far" after it. With the two-stage ranking, the best
trial is a stage-2 trial as soon as one has a score, so that number falls
when stage 2 starts below stage 1's best: it looks like a bug. `TrialLines`
replaces the display (`TwoStageTuner` installs it) with one line per trial
that states the best so far per stage, e.g.

    trial 5 | stage 2 | units 24 | lr 0.01 | 3 epochs | val_accuracy 0.6150
    | 8 s | best so far: stage 1 0.5900 (units 24); stage 2 0.6400 (lr 0.02)

(on one line). The trial number is the trial's id, the number of its folder
`trial_<id>` (Keras Tuner pads it with zeros to the width of `max_trials`),
counting from 0, as `kt-twostage report` numbers trials.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from keras_tuner.src.engine.oracle import Display
from keras_tuner.src.engine.trial import TrialStatus

from kt_twostage.results.trial_table import trial_number
from kt_twostage.schedule import ranking
from kt_twostage.schedule.config import (
    ARCHITECTURE_STAGE,
    EPOCHS_KEY,
    LEARNING_RATE_STAGE,
    STAGE_KEY,
)

# TensorFlow logs this through Python's `logging` when a `tf.function` is
# traced again; a tuner builds a new model every trial, so it always does.
RETRACING_MESSAGE = "triggered tf.function retracing"
_TENSORFLOW_LOGGER = "tensorflow"


def _drop_retracing(record) -> bool:
    return RETRACING_MESSAGE not in record.getMessage()


@contextlib.contextmanager
def retracing_warnings_hidden():
    """Hide TensorFlow's `tf.function retracing` warnings (by their message
    only: every other TensorFlow warning still shows) inside the block."""
    logger = logging.getLogger(_TENSORFLOW_LOGGER)
    logger.addFilter(_drop_retracing)
    try:
        yield
    finally:
        logger.removeFilter(_drop_retracing)


def _format_number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def best_so_far(oracle) -> str:
    """`best so far: stage 1 0.59 (units 24); stage 2 0.64 (lr 0.02)`.

    Stage 1's best is the trial stage 1 would pick now (the best score, the
    earlier one on ties); stage 2's is the best trial on the stage-2 path
    (speculative trials off the path never count).
    """
    roles = oracle.trial_roles()
    direction = oracle.objective.direction
    parts = []
    for stage, role, name, label in (
        (ARCHITECTURE_STAGE, ranking.ROLE_STAGE1, oracle.units_hp, "units"),
        (LEARNING_RATE_STAGE, ranking.ROLE_PATH, oracle.learning_rate_hp, "lr"),
    ):
        trials = [
            trial
            for trial_id, trial in oracle.trials.items()
            if roles.get(trial_id) == role
            and trial.hyperparameters.values.get(STAGE_KEY) == stage
            and trial.status == TrialStatus.COMPLETED
        ]
        index = ranking.best_index([trial.score for trial in trials], direction)
        if index is not None:
            best = trials[index]
            value = best.hyperparameters.values.get(name)
            parts.append(
                f"stage {stage} {best.score:.4f} ({label} {_format_number(value)})"
            )
    return "best so far: " + ("; ".join(parts) if parts else "none")


def trial_line(oracle, trial, epochs=None, seconds=None) -> str:
    """The line printed when `trial` ends (see the module docstring)."""
    values = trial.hyperparameters.values
    parts = [f"trial {trial_number(trial.trial_id)}"]
    if STAGE_KEY in values:
        parts.append(f"stage {values[STAGE_KEY]}")
    for name, label in ((oracle.units_hp, "units"), (oracle.learning_rate_hp, "lr")):
        if name in values:
            parts.append(f"{label} {_format_number(values[name])}")
    epochs = values.get(EPOCHS_KEY) if epochs is None else epochs
    if epochs is not None:
        parts.append(f"{epochs} epoch{'s' if epochs != 1 else ''}")
    status = trial.status
    if status == TrialStatus.COMPLETED:
        score = "none" if trial.score is None else f"{trial.score:.4f}"
        parts.append(f"{oracle.objective.name} {score}")
    else:
        parts.append(str(status).lower())
    if seconds is not None:
        parts.append(f"{seconds:.0f} s")
    parts.append(best_so_far(oracle))
    return " | ".join(parts)


class TrialLines(Display):
    """Keras Tuner's oracle display, as one line per ended trial.

    It prints when the oracle's `verbose` is 1 or more (or `"auto"`), as
    Keras Tuner's display does, or always with `always=True` (the command
    line, whose Keras progress bars are off by default). Its state is Keras
    Tuner's, so projects written with either display resume with the other.

    Args:
        oracle: The `TwoStageOracle` whose trials it reports.
        epochs_of: Optional callable, `trial_id -> epochs trained or None`;
            without it (or for `None`) the trial's scheduled epochs are shown.
        always: Boolean, print whatever the verbosity. Defaults to `False`.
    """

    def __init__(self, oracle, verbose=1, epochs_of=None, always=False):
        super().__init__(oracle, verbose=verbose)
        self.epochs_of = epochs_of
        self.always = always

    def _shows(self) -> bool:
        if self.always:
            return True
        return self.verbose == "auto" or (self.verbose or 0) >= 1

    def on_trial_begin(self, trial):
        start = datetime.now()
        self.trial_start[trial.trial_id] = start
        if self.search_start is None:
            self.search_start = start
        self.trial_number[trial.trial_id] = len(self.oracle.trials)

    def on_trial_end(self, trial):
        if not self._shows():
            return
        start = self.trial_start.get(trial.trial_id)
        seconds = None if start is None else (datetime.now() - start).total_seconds()
        epochs = self.epochs_of(trial.trial_id) if self.epochs_of else None
        print(trial_line(self.oracle, trial, epochs, seconds), flush=True)


def install(oracle, epochs_of=None, always=False) -> TrialLines:
    """Replace `oracle`'s Keras Tuner display with `TrialLines`, keeping its
    verbosity and state; returns the new display."""
    old = oracle._display
    display = TrialLines(
        oracle, verbose=old.verbose, epochs_of=epochs_of, always=always
    )
    display.set_state(old.get_state())
    oracle._display = display
    return display


def show_every_trial(tuner):
    """Print `tuner`'s trial lines whatever the Keras verbosity (Keras'
    progress bars stay the verbosity's)."""
    display = tuner.oracle._display
    if isinstance(display, TrialLines):
        display.always = True
