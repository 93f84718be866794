"""The Keras Tuner side of `kt_twostage.compare`: tuners that record, two oracles.

The `Recorder` mixin times every trial and counts the epochs it really
trains; the recording tuners are the compared tuners with it. `GridOracle`
runs a fixed grid, `BudgetHyperbandOracle` stops Hyperband at an epoch
budget, `BudgetRandomSearchOracle` stops RandomSearch (whose trials early
stopping may cut short) at an epoch budget. `search_space` and
`objective_of` read what a comparison needs from the hypermodel and the
objective.
"""

from __future__ import annotations

import os
import time

import keras
import keras_tuner
from keras_tuner.engine import hyperparameters as hp_module
from keras_tuner.engine import trial as trial_module

from kt_twostage import _io, reproducibility
from kt_twostage.results import trial_table as table
from kt_twostage.tuner import TwoStageTuner


class GridOracle(keras_tuner.Oracle):
    """Runs a fixed list of hyperparameter values, in order.

    Trial `i` (Keras Tuner numbers trials by creation) gets `grid[i]`, so a
    reloaded project continues where it stopped; interrupted trials are run
    again by the base class's retry queue.
    """

    def __init__(self, grid, objective="val_accuracy", **kwargs):
        self.grid = [dict(values) for values in grid]
        super().__init__(objective=objective, max_trials=len(self.grid), **kwargs)

    def populate_space(self, trial_id):
        index = len(self.trials)
        if index >= len(self.grid):
            return {"status": trial_module.TrialStatus.STOPPED}
        values = dict(self.hyperparameters.values)
        values.update(self.grid[index])
        return {"status": trial_module.TrialStatus.RUNNING, "values": values}


class BudgetHyperbandOracle(keras_tuner.oracles.HyperbandOracle):
    """keras_tuner's `HyperbandOracle`, stopped at an epoch budget.

    No trial starts once the epochs of the started trials (`tuner/epochs -
    tuner/initial_epoch` each) reach `epoch_budget`.
    """

    def __init__(self, *args, epoch_budget=None, **kwargs):
        self.epoch_budget = epoch_budget
        super().__init__(*args, **kwargs)

    def committed_epochs(self):
        total = 0
        for trial in self.trials.values():
            values = trial.hyperparameters.values
            start = values.get("tuner/initial_epoch", 0)
            total += values.get("tuner/epochs", 0) - start
        return total

    def populate_space(self, trial_id):
        if (
            self.epoch_budget is not None
            and self.committed_epochs() >= self.epoch_budget
        ):
            if self.ongoing_trials:
                return {"status": trial_module.TrialStatus.IDLE}
            return {"status": trial_module.TrialStatus.STOPPED}
        return super().populate_space(trial_id)

    def get_state(self):
        return {**super().get_state(), "epoch_budget": self.epoch_budget}

    def set_state(self, state):
        super().set_state(state)
        self.epoch_budget = state.get("epoch_budget")


class BudgetRandomSearchOracle(keras_tuner.oracles.RandomSearchOracle):
    """keras_tuner's `RandomSearchOracle`, stopped at an epoch budget.

    For trials that may train fewer than `trial_epochs` epochs (stopped by
    `EarlyStopping`): a trial starts only while a whole `trial_epochs` trial
    still fits in `epoch_budget`, each ended trial charged the epochs it
    trained (`record_trained_epochs`, called by the tuner as the trial
    ends), a trial still running (or ended without a count) charged
    `trial_epochs`. So the search never trains more than `epoch_budget`
    epochs. Pass a large `max_trials`: the budget, not it, ends the search.
    """

    def __init__(self, *args, epoch_budget=None, trial_epochs=None, **kwargs):
        if (epoch_budget is None) != (trial_epochs is None):
            raise ValueError(
                "Pass both `epoch_budget` and `trial_epochs`, or neither; got "
                f"epoch_budget={epoch_budget!r}, trial_epochs={trial_epochs!r}."
            )
        self.epoch_budget = epoch_budget
        self.trial_epochs = trial_epochs
        self.trained_epochs = {}
        super().__init__(*args, **kwargs)

    @keras_tuner.synchronized
    def record_trained_epochs(self, trial_id, epochs):
        """Charge trial `trial_id` the `epochs` it trained (before it ends)."""
        self.trained_epochs[trial_id] = int(epochs)

    def committed_epochs(self):
        """Epochs of the trials started so far, a running one as a whole trial."""
        return sum(
            self.trained_epochs.get(trial_id, self.trial_epochs)
            for trial_id in self.trials
        )

    def populate_space(self, trial_id):
        if (
            self.epoch_budget is not None
            and self.committed_epochs() + self.trial_epochs > self.epoch_budget
        ):
            if self.ongoing_trials:
                # A running trial may stop early and leave room for one more.
                return {"status": trial_module.TrialStatus.IDLE}
            return {"status": trial_module.TrialStatus.STOPPED}
        return super().populate_space(trial_id)

    def get_state(self):
        return {
            **super().get_state(),
            "epoch_budget": self.epoch_budget,
            "trial_epochs": self.trial_epochs,
            "trained_epochs": self.trained_epochs,
        }

    def set_state(self, state):
        super().set_state(state)
        self.epoch_budget = state.get("epoch_budget")
        self.trial_epochs = state.get("trial_epochs")
        self.trained_epochs = dict(state.get("trained_epochs", {}))


class Recorder:
    """Mixin: times every trial and counts the epochs it really trains.

    Also seeds Keras before each trial (`train_seed + trial number`) and
    clears the session, as `TwoStageTuner` does, so that all tuners train
    under the same conditions. Timings go to `TIMINGS_FILE` in the project.
    """

    _seeds_itself = False

    def __init__(self, *args, train_seed=None, **kwargs):
        self.train_seed = train_seed
        self.trial_log = {}
        self._search_start = None
        super().__init__(*args, **kwargs)

    def on_search_begin(self):
        self._search_start = time.perf_counter()
        super().on_search_begin()

    def on_trial_begin(self, trial):
        self.trial_log[trial.trial_id] = {
            "start": time.perf_counter() - self._search_start,
            "epochs": 0,
        }
        super().on_trial_begin(trial)

    def run_trial(self, trial, *args, **kwargs):
        if not self._seeds_itself:
            keras.backend.clear_session()
            if self.train_seed is not None:
                seed = reproducibility.trial_seed(self.train_seed, trial.trial_id)
                keras.utils.set_random_seed(seed)
        return super().run_trial(trial, *args, **kwargs)

    def on_epoch_end(self, trial, model, epoch, logs=None):
        self.trial_log[trial.trial_id]["epochs"] += 1
        super().on_epoch_end(trial, model, epoch, logs=logs)

    def on_trial_end(self, trial):
        entry = self.trial_log[trial.trial_id]
        entry["end"] = time.perf_counter() - self._search_start
        entry["seconds"] = entry["end"] - entry["start"]
        super().on_trial_end(trial)
        timings = {
            trial_id: {"seconds": log["seconds"], "epochs": log["epochs"]}
            for trial_id, log in self.trial_log.items()
            if "seconds" in log
        }
        _io.atomic_write_json(
            os.path.join(self.project_dir, table.TIMINGS_FILE), timings
        )


class RecordingTwoStageTuner(Recorder, TwoStageTuner):
    _seeds_itself = True  # TwoStageTuner seeds with `seed + trial number`.


class RecordingRandomSearch(Recorder, keras_tuner.RandomSearch):
    pass


class RecordingBayesianOptimization(Recorder, keras_tuner.BayesianOptimization):
    pass


class RecordingGridTuner(Recorder, keras_tuner.Tuner):
    pass


class RecordingBudgetTuner(Recorder, keras_tuner.Tuner):
    """A recording tuner of a `BudgetRandomSearchOracle`: tells the oracle
    the epochs each trial trained as it ends (Keras Tuner reports no
    per-epoch results to the oracle)."""

    def on_trial_end(self, trial):
        epochs = self.trial_log[trial.trial_id]["epochs"]
        self.oracle.record_trained_epochs(trial.trial_id, epochs)
        super().on_trial_end(trial)


class RecordingHyperband(Recorder, keras_tuner.Hyperband):
    def __init__(self, hypermodel, oracle, **kwargs):
        # Hyperband's own __init__ only builds a plain HyperbandOracle.
        self.train_seed = kwargs.pop("train_seed", None)
        self.trial_log = {}
        self._search_start = None
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


def search_space(hypermodel, units_hp, learning_rate_hp) -> dict:
    """The units values and learning-rate range `hypermodel` declares.

    Builds one model to learn the space. Returns a dict with `units` (every
    value, in order), `min_learning_rate`, `max_learning_rate` and
    `default_learning_rate`.
    """
    hp = keras_tuner.HyperParameters()
    build = hypermodel.build if hasattr(hypermodel, "build") else hypermodel
    build(hp)
    keras.backend.clear_session()
    found = {p.name: p for p in hp.space}
    for name, argument in ((units_hp, "units_hp"), (learning_rate_hp, "lr_hp")):
        if name not in found:
            raise ValueError(
                f"The hypermodel declares no hyperparameter `{name}` (argument "
                f"`{argument}`); it declares {sorted(found)}."
            )
    units, learning_rate = found[units_hp], found[learning_rate_hp]
    if not isinstance(units, (hp_module.Int, hp_module.Choice)) or not units.values:
        raise ValueError(
            f"The hyperparameter `{units_hp}` must be an `Int` with a step or a "
            "`Choice`: the grid and stage 1 train every value of it."
        )
    if not isinstance(learning_rate, hp_module.Float):
        raise ValueError(f"The hyperparameter `{learning_rate_hp}` must be a `Float`.")
    return {
        "units": [table_value(v) for v in units.values],
        "min_learning_rate": float(learning_rate.min_value),
        "max_learning_rate": float(learning_rate.max_value),
        "default_learning_rate": float(learning_rate.default),
    }


def table_value(value):
    """A NumPy scalar as the Python number it holds (for JSON and CSV)."""
    return value.item() if hasattr(value, "item") else value


def objective_of(objective) -> tuple[str, str]:
    """`(name, direction)` of a Keras Tuner objective, as the built-in tuners
    read it (`"val_accuracy"` is maximised, `"val_loss"` minimised)."""
    if isinstance(objective, (list, tuple)):
        # Keras Tuner would sum them into one "multi_objective" to minimise.
        raise ValueError(
            f"Received objective={objective!r}; a comparison needs a single "
            "objective, whose name without `val_` is the metric each returned "
            "model is tested on. Pass one name or one `keras_tuner.Objective`."
        )
    oracle = keras_tuner.oracles.RandomSearchOracle(objective=objective, max_trials=1)
    return oracle.objective.name, oracle.objective.direction


def keras_objective(plan):
    """The `keras_tuner.Objective` of a `ComparisonPlan`."""
    return keras_tuner.Objective(plan.objective, plan.direction)
