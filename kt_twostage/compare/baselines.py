"""The tuners of `kt_twostage.compare`, their oracles, and what one run records.

Run names and labels, the grid and budget-stopped Hyperband oracles, the
`_Recorder` mixin that times every trial and counts its epochs, the search
space checks, the work folder's settings check, and the per-trial rows of a
finished run.
"""

from __future__ import annotations

import json
import os
import shutil
import time

import keras
import keras_tuner
from keras_tuner.engine import hyperparameters as hp_module
from keras_tuner.engine import trial as trial_module

from kt_twostage import _io
from kt_twostage.oracle import STAGE_KEY
from kt_twostage.results import trial_table as table
from kt_twostage.tuner import TwoStageTuner

TUNERS = ("twostage", "random", "bayesian", "hyperband", "grid")
LABELS = {
    "twostage": "TwoStageTuner",
    "random": "RandomSearch",
    "bayesian": "BayesianOptimization",
    "hyperband": "Hyperband",
    "grid": "exhaustive grid",
}
PATIENCE_PREFIX = "twostage-patience"
SETTINGS_FILE = "settings.json"
# Settings that only add runs, keyed by their own names: a work folder made
# without them (or with another value) is still reused.
_ADDITIVE_SETTINGS = ("stage2_patience",)


def patience_variant(patience) -> str:
    """The run name of the two-stage tuner with `stage2_patience=patience`."""
    return f"{PATIENCE_PREFIX}{patience}"


def label(name) -> str:
    """The display name of a run name (`TUNERS` or a patience variant)."""
    if name.startswith(PATIENCE_PREFIX):
        return f"{LABELS['twostage']} (patience {name[len(PATIENCE_PREFIX) :]})"
    return LABELS[name]


def _is_two_stage(name):
    return name == "twostage" or name.startswith(PATIENCE_PREFIX)


def _run_names(runs):
    """The run names present in `runs`, in `TUNERS` order, variants after
    the plain two-stage tuner."""
    present = {r["tuner"] for r in runs}
    names = []
    for name in TUNERS:
        if name in present:
            names.append(name)
        if name == "twostage":
            variants = [n for n in present if n.startswith(PATIENCE_PREFIX)]
            names += sorted(variants, key=lambda n: int(n[len(PATIENCE_PREFIX) :]))
    return names


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


class _Recorder:
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
                keras.utils.set_random_seed(self.train_seed + _trial_number(trial))
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


def _trial_number(trial):
    try:
        return int(trial.trial_id)
    except ValueError:
        return 0


class _TwoStage(_Recorder, TwoStageTuner):
    _seeds_itself = True  # TwoStageTuner seeds with `seed + trial number`.


class _Random(_Recorder, keras_tuner.RandomSearch):
    pass


class _Bayesian(_Recorder, keras_tuner.BayesianOptimization):
    pass


class _Grid(_Recorder, keras_tuner.Tuner):
    pass


class _Hyperband(_Recorder, keras_tuner.Hyperband):
    def __init__(self, hypermodel, oracle, **kwargs):
        # Hyperband's own __init__ only builds a plain HyperbandOracle.
        self.train_seed = kwargs.pop("train_seed", None)
        self.trial_log = {}
        self._search_start = None
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


def _space(hypermodel, units_hp, learning_rate_hp):
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
    return value.item() if hasattr(value, "item") else value


def _objective(objective):
    oracle = keras_tuner.oracles.RandomSearchOracle(objective=objective, max_trials=1)
    return oracle.objective


def _load_average():
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):  # pragma: no cover - not on every OS
        return None


def _check_work_dir(work_dir, settings, overwrite):
    path = os.path.join(work_dir, SETTINGS_FILE)
    if overwrite:
        # Only what this function writes: the folder may be the user's.
        for name in ("runs", "projects"):
            shutil.rmtree(os.path.join(work_dir, name), ignore_errors=True)
        if os.path.isfile(path):
            os.remove(path)
    if os.path.isfile(path):
        saved = table.read_json(path)
        # Round-trip through JSON so tuples and lists compare equal.
        current = json.loads(json.dumps(settings))
        changed = sorted(
            key
            for key in set(saved) | set(current)
            if key not in _ADDITIVE_SETTINGS and saved.get(key) != current.get(key)
        )
        if changed:
            raise ValueError(
                f"The work folder {work_dir} holds runs made with other "
                f"settings ({', '.join(changed)} differ). Pass --overwrite to "
                "delete them, or another --work-dir."
            )
    _io.atomic_write_json(path, settings)


def _collect_run(tuner, name, seed, units_hp, learning_rate_hp, direction):
    oracle = tuner.oracle
    trials = []
    cumulative = 0
    ended = [t for t in oracle.end_order if t in tuner.trial_log]
    for trial_id in ended:
        trial = oracle.trials[trial_id]
        log = tuner.trial_log[trial_id]
        values = trial.hyperparameters.values
        cumulative += log["epochs"]
        completed = trial.status == trial_module.TrialStatus.COMPLETED
        trials.append(
            {
                "tuner": name,
                "seed": seed,
                "trial_id": trial_id,
                "status": trial.status,
                "stage": values.get(STAGE_KEY),
                "units": values.get(units_hp),
                "learning_rate": values.get(learning_rate_hp),
                "epochs": log["epochs"],
                "score": trial.score if completed else None,
                "seconds": log["seconds"],
                "start_seconds": log["start"],
                "end_seconds": log["end"],
                "cumulative_epochs": cumulative,
            }
        )
    for index, row in enumerate(trials):
        row["best_so_far"] = _incumbent(trials[: index + 1], name, direction)
    return {
        "tuner": name,
        "seed": seed,
        "trials": len(trials),
        "epochs": cumulative,
        "trial_rows": trials,
    }


def _incumbent(rows, name, direction):
    """Score of the trial the tuner would return if stopped after `rows`.

    The best completed trial; for the two-stage tuner the best stage-2 trial
    once there is one (what `TwoStageOracle.get_best_trials` returns).
    """
    scored = [r for r in rows if r["score"] is not None]
    if _is_two_stage(name) and any(r["stage"] == 2 for r in scored):
        scored = [r for r in scored if r["stage"] == 2]
    if not scored:
        return None
    pick = max if direction == "max" else min
    return pick(r["score"] for r in scored)
