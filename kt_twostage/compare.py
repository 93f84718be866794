"""`TwoStageTuner` against Keras Tuner's built-in tuners, side by side.

`compare_tuners` runs, on the same data, hypermodel, search space and
validation split:

- `twostage`: `TwoStageTuner`;
- with `stage2_patience=P`, also `twostage-patience{P}`: `TwoStageTuner`
  again, on the same seeds, with early stopping in stage 2
  (`TwoStageTuner(stage2_patience=P)`), reported beside the plain run;
- `random`, `bayesian`: `keras_tuner.RandomSearch` and
  `keras_tuner.BayesianOptimization` with `budget // stage2_epochs` trials of
  `stage2_epochs` epochs each;
- `hyperband`: `keras_tuner.Hyperband` with `max_epochs = stage2_epochs` and
  the `factor` / `hyperband_iterations` whose total is the smallest at or
  above the budget, stopped once the epochs of its started trials reach the
  budget;
- `grid`: every units value times a log grid of learning rates at
  `stage2_epochs` epochs, the reference for the best reachable score (its
  own `Oracle`, because keras_tuner's `GridSearch` cannot resume,
  keras-team/keras-tuner#1055).

The budget, in epochs, is the two-stage schedule's:
`len(units grid) * stage1_epochs + stage2_trials * stage2_epochs` (the plain
one's: the patience variant trains at most that many). Every
tuner selects on the validation data only; the test data is used once per
tuner and seed, on the model the tuner returns. Epochs are counted as they
are trained (Hyperband continues trials from checkpoints, so its trials
train a variable number of epochs).

`run_imdb_compare` does it on the IMDB reviews with `ImdbLstmHyperModel`;
`PROFILES` holds its settings (`seed`, `cpu`, `tiny`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import statistics
import time
import warnings

import keras
import keras_tuner
from keras_tuner.engine import hyperparameters as hp_module
from keras_tuner.engine import trial as trial_module

from kt_twostage import _io
from kt_twostage import trial_table as table
from kt_twostage.data import load_imdb, sample_path
from kt_twostage.hypermodel import ImdbLstmHyperModel
from kt_twostage.oracle import STAGE_KEY
from kt_twostage.tuner import TwoStageTuner

TUNERS = ("twostage", "random", "bayesian", "hyperband", "grid")
LABELS = {
    "twostage": "TwoStageTuner",
    "random": "RandomSearch",
    "bayesian": "BayesianOptimization",
    "hyperband": "Hyperband",
    "grid": "exhaustive grid",
}

TRIAL_COLUMNS = (
    "tuner",
    "seed",
    "trial_id",
    "status",
    "stage",
    "units",
    "learning_rate",
    "epochs",
    "score",
    "seconds",
    "start_seconds",
    "end_seconds",
    "cumulative_epochs",
    "best_so_far",
)
RUN_COLUMNS = (
    "tuner",
    "seed",
    "trials",
    "epochs",
    "budget",
    "wall_seconds",
    "best_trial_id",
    "units",
    "learning_rate",
    "validation_score",
    "test_score",
    "test_loss",
    "test_seconds",
)
PATIENCE_PREFIX = "twostage-patience"
SETTINGS_FILE = "settings.json"
# Settings that only add runs, keyed by their own names: a work folder made
# without them (or with another value) is still reused.
_ADDITIVE_SETTINGS = ("stage2_patience",)
PLOT_FILES = {
    "epochs": "best_so_far_epochs.png",
    "time": "best_so_far_time.png",
    "stage1": "stage1_units.png",
    "stage2": "stage2_learning_rate.png",
}
# See `_oracle_seed`: a search samples far fewer values than this.
ORACLE_SEED_SPACING = 10_000
_HYPERBAND_FACTORS = (2, 3, 4, 5, 6)
_MAX_HYPERBAND_ITERATIONS = 1000


# ---------------------------------------------------------------------- #
# Budgets.
# ---------------------------------------------------------------------- #
def two_stage_budget(num_units, stage1_epochs, stage2_epochs, stage2_trials) -> int:
    """Epochs the two-stage schedule trains: the budget of every other tuner."""
    return num_units * stage1_epochs + stage2_trials * stage2_epochs


def hyperband_epochs(max_epochs, factor, iterations=1) -> tuple[int, int]:
    """Epochs and trials of `iterations` full Hyperband iterations.

    Follows keras_tuner's `HyperbandOracle` (1.4): bracket `b` (from the most
    aggressive down to 0) starts `size(b, 0)` random trials of
    `epochs(b, 0)` epochs; round `r` continues the best `size(b, r)` of them
    from epoch `epochs(b, r - 1)` to `epochs(b, r)`.
    """
    num_brackets = 0
    epochs = max_epochs
    while epochs >= 1:
        epochs /= factor
        num_brackets += 1
    end_size = math.ceil(1 + math.log(max_epochs, factor))

    def size(bracket, round_num):
        return math.ceil(end_size / (bracket + 1) * factor ** (bracket - round_num))

    def round_epochs(bracket, round_num):
        return math.ceil(max_epochs / factor ** (bracket - round_num))

    total_epochs = total_trials = 0
    for bracket in range(num_brackets):
        for round_num in range(bracket + 1):
            start = round_epochs(bracket, round_num - 1) if round_num else 0
            total_trials += size(bracket, round_num)
            total_epochs += size(bracket, round_num) * (
                round_epochs(bracket, round_num) - start
            )
    return total_epochs * iterations, total_trials * iterations


def plan_hyperband(budget, max_epochs, factors=_HYPERBAND_FACTORS) -> dict:
    """The Hyperband `factor` and `hyperband_iterations` closest to `budget`.

    Picks the smallest total at or above the budget (ties: factor 3, the
    keras_tuner default, then the smaller factor); the run is then stopped
    once its started trials reach the budget, so it never trains more than
    one trial beyond it and never stops short of it by a whole trial.
    """
    best = None
    for factor in factors:
        per_iteration, _ = hyperband_epochs(max_epochs, factor)
        iterations = max(1, math.ceil(budget / per_iteration))
        iterations = min(iterations, _MAX_HYPERBAND_ITERATIONS)
        total, trials = hyperband_epochs(max_epochs, factor, iterations)
        key = (total < budget, abs(total - budget), factor != 3, factor)
        if best is None or key < best[0]:
            best = (key, factor, iterations, total, trials)
    _, factor, iterations, total, trials = best
    return {
        "max_epochs": max_epochs,
        "factor": factor,
        "hyperband_iterations": iterations,
        "nominal_epochs": total,
        "nominal_trials": trials,
        "epoch_budget": budget,
    }


def log_grid(low, high, count) -> list[float]:
    """`count` log-spaced values from `low` to `high` (both included)."""
    if count < 1:
        raise ValueError(f"Expected at least one grid value, got {count}.")
    if count == 1:
        return [float(high)]
    ratio = math.log(high / low)
    return [
        float(f"{low * math.exp(ratio * i / (count - 1)):.6g}") for i in range(count)
    ]


# ---------------------------------------------------------------------- #
# Oracles and tuners.
# ---------------------------------------------------------------------- #
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


# ---------------------------------------------------------------------- #
# The comparison.
# ---------------------------------------------------------------------- #
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


def compare_tuners(
    hypermodel,
    train,
    validation,
    test,
    output_dir,
    *,
    stage1_epochs=1,
    stage2_epochs=30,
    stage2_trials=11,
    max_learning_rate=None,
    stage1_learning_rate=None,
    units_hp="units",
    learning_rate_hp="learning_rate",
    objective="val_accuracy",
    seeds=(0, 1, 2),
    grid_learning_rates=5,
    grid_seeds=None,
    tuners=TUNERS,
    stage2_patience=None,
    bayesian_initial_points=None,
    batch_size=32,
    work_dir=None,
    overwrite=False,
    verbose=0,
    reach_tolerance=0.01,
    problem=None,
    description=None,
    run_missing=True,
    log=print,
) -> dict:
    """Run every tuner on the same problem and write the comparison.

    Args:
        hypermodel: A `keras_tuner.HyperModel` (or build function) declaring
            `units_hp` (an `Int` with a step, or a `Choice`) and
            `learning_rate_hp` (a `Float`): the search space of every tuner.
        train, validation, test: `(x, y)` tuples. Every tuner trains on
            `train`, selects on `validation`; the model each returns is
            evaluated once on `test`.
        output_dir: Folder for `trials.csv`, `runs.csv`, `summary.md`,
            `summary.json` and the PNG plots.
        stage1_epochs, stage2_epochs, stage2_trials, max_learning_rate,
        stage1_learning_rate: The two-stage schedule (see `TwoStageTuner`);
            they fix the epoch budget of every tuner.
        objective: Keras Tuner objective; the test score is the metric of the
            same name without `val_`.
        seeds: Sequence of integer seeds; each tuner runs once per seed.
        grid_learning_rates: Integer, learning rates of the grid, log-spaced
            over the learning-rate hyperparameter's range.
        grid_seeds: Seeds of the grid. Defaults to `None`: the first seed.
        tuners: Which of `TUNERS` to run.
        stage2_patience: Integer or `None` (default). With an integer, the
            two-stage tuner (if in `tuners`) also runs with early stopping in
            stage 2 (`TwoStageTuner(stage2_patience=...)`), on the same
            seeds, as the run `twostage-patience{P}` ("TwoStageTuner
            (patience P)"), reported beside the plain run. The budget of the
            other tuners stays the plain schedule's.
        bayesian_initial_points: `num_initial_points` of
            BayesianOptimization. Defaults to `None`: keras_tuner's default
            (3 per hyperparameter), capped at half of its trials, so that
            it gets to model the space within the budget.
        batch_size: Training batch size.
        work_dir: Folder for the Keras Tuner projects and the per-run
            results (a finished run is not repeated when the comparison is
            started again). Defaults to `output_dir/work`.
        overwrite: Start over: delete the runs and projects in `work_dir`.
        verbose: Keras verbosity during training.
        reach_tolerance: The summary counts the epochs each run needs to get
            within this distance of the grid's best validation score.
        problem: Optional JSON-able dict that identifies the data and model
            (e.g. the data path and preprocessing settings): recorded in the
            outputs and compared, with the settings, to those of the runs
            already in `work_dir`.
        description: Optional dict of free text recorded in `summary.json`
            and shown in `summary.md`: the command line, the machine, the
            date.
        run_missing: Whether to run the tuners and seeds that have no
            finished run in `work_dir`. False: only write the outputs of the
            finished ones (e.g. while a long comparison is still running).
        log: Function called with progress lines.

    Returns:
        The summary dict also written to `summary.json`.
    """
    unknown = sorted(set(tuners) - set(TUNERS))
    if unknown or not tuners:
        raise ValueError(f"Unknown tuners {unknown}; expected some of {TUNERS}.")
    if stage2_patience is not None:
        if isinstance(stage2_patience, bool) or int(stage2_patience) < 1:
            raise ValueError(
                f"Expected `stage2_patience` >= 1 or None, got {stage2_patience!r}."
            )
        stage2_patience = int(stage2_patience)
    seeds = [int(seed) for seed in seeds]
    if not seeds:
        raise ValueError("Expected at least one seed.")
    grid_seeds = seeds[:1] if grid_seeds is None else [int(s) for s in grid_seeds]
    objective = _objective(objective)
    space = _space(hypermodel, units_hp, learning_rate_hp)
    max_lr = max_learning_rate or space["max_learning_rate"]
    stage1_lr = stage1_learning_rate or space["default_learning_rate"]
    budget = two_stage_budget(
        len(space["units"]), stage1_epochs, stage2_epochs, stage2_trials
    )
    max_trials = max(1, budget // stage2_epochs)
    hyperband = plan_hyperband(budget, stage2_epochs)
    grid_lrs = log_grid(space["min_learning_rate"], max_lr, grid_learning_rates)
    grid = [
        {units_hp: units, learning_rate_hp: lr}
        for units in space["units"]
        for lr in grid_lrs
    ]
    if bayesian_initial_points is None:
        bayesian_initial_points = max(1, min(3 * 2, max_trials // 2))
    settings = {
        "objective": objective.name,
        "direction": objective.direction,
        "units_hp": units_hp,
        "learning_rate_hp": learning_rate_hp,
        "units": space["units"],
        "learning_rate_range": [space["min_learning_rate"], space["max_learning_rate"]],
        "stage1_epochs": stage1_epochs,
        "stage2_epochs": stage2_epochs,
        "stage2_trials": stage2_trials,
        "max_learning_rate": max_lr,
        "stage1_learning_rate": stage1_lr,
        "budget_epochs": budget,
        "random_bayesian_trials": max_trials,
        "bayesian_initial_points": bayesian_initial_points,
        "hyperband": hyperband,
        "grid_learning_rates": grid_lrs,
        "grid_trials": len(grid),
        "grid_epochs": len(grid) * stage2_epochs,
        "batch_size": batch_size,
        "train_examples": len(train[0]),
        "validation_examples": len(validation[0]),
        "test_examples": len(test[0]),
        "problem": problem or {},
        "oracle_seeds": f"1 + {ORACLE_SEED_SPACING} * seed",
        "stage2_patience": stage2_patience,
    }
    work_dir = os.fspath(work_dir or os.path.join(output_dir, "work"))
    _check_work_dir(work_dir, settings, overwrite)

    x_train, y_train = train
    fit_kwargs = {
        "validation_data": validation,
        "batch_size": batch_size,
        "verbose": verbose,
    }
    test_metric = objective.name.removeprefix("val_")
    runs = []
    # Seed by seed, so that a change in the machine's load hits every tuner.
    names = [name for name in tuners if name != "grid"]
    if stage2_patience is not None and "twostage" in names:
        names.insert(names.index("twostage") + 1, patience_variant(stage2_patience))
    plan = [(name, seed) for seed in seeds for name in names]
    if "grid" in tuners:
        plan += [("grid", seed) for seed in grid_seeds]
    for number, (name, seed) in enumerate(plan, start=1):
        run_path = os.path.join(work_dir, "runs", f"{name}-seed{seed}.json")
        if os.path.isfile(run_path):
            run = table.read_json(run_path)
            log(f"[{number}/{len(plan)}] {name} seed {seed}: done earlier, reused")
            runs.append(run)
            continue
        if not run_missing:
            log(f"[{number}/{len(plan)}] {name} seed {seed}: not run yet, skipped")
            continue
        log(f"[{number}/{len(plan)}] {name} seed {seed}: running")
        common = {
            "hypermodel": hypermodel,
            "objective": objective,
            "directory": os.path.join(work_dir, "projects"),
            "project_name": f"{name}-seed{seed}",
            "overwrite": True,
        }
        train_seed = 1000 * seed
        oracle_seed = _oracle_seed(seed)
        if _is_two_stage(name):
            patience = (
                {} if name == "twostage" else {"stage2_patience": stage2_patience}
            )
            tuner = _TwoStage(
                units_hp=units_hp,
                learning_rate_hp=learning_rate_hp,
                stage1_epochs=stage1_epochs,
                stage2_epochs=stage2_epochs,
                stage2_trials=stage2_trials,
                max_learning_rate=max_lr,
                stage1_learning_rate=stage1_lr,
                seed=train_seed,
                **patience,
                **common,
            )
            search_kwargs = {}
        elif name == "random":
            tuner = _Random(
                max_trials=max_trials,
                seed=oracle_seed,
                train_seed=train_seed,
                **common,
            )
            search_kwargs = {"epochs": stage2_epochs}
        elif name == "bayesian":
            tuner = _Bayesian(
                max_trials=max_trials,
                num_initial_points=bayesian_initial_points,
                seed=oracle_seed,
                train_seed=train_seed,
                **common,
            )
            search_kwargs = {"epochs": stage2_epochs}
        elif name == "hyperband":
            oracle = BudgetHyperbandOracle(
                objective=objective,
                max_epochs=hyperband["max_epochs"],
                factor=hyperband["factor"],
                hyperband_iterations=hyperband["hyperband_iterations"],
                seed=oracle_seed,
                epoch_budget=budget,
            )
            common.pop("objective")
            tuner = _Hyperband(oracle=oracle, train_seed=train_seed, **common)
            search_kwargs = {}
        else:
            oracle = GridOracle(grid, objective=objective, seed=oracle_seed)
            common.pop("objective")
            tuner = _Grid(oracle=oracle, train_seed=train_seed, **common)
            search_kwargs = {"epochs": stage2_epochs}
        load_before = _load_average()
        start = time.perf_counter()
        tuner.search(x_train, y_train, **fit_kwargs, **search_kwargs)
        wall = time.perf_counter() - start
        run = _collect_run(
            tuner, name, seed, units_hp, learning_rate_hp, objective.direction
        )
        run["wall_seconds"] = wall
        # Other processes on the machine slow a run down: keep the evidence.
        run["load_average"] = [load_before, _load_average()]
        run["budget"] = budget if name != "grid" else len(grid) * stage2_epochs
        best = tuner.oracle.get_best_trials(1)[0]
        with warnings.catch_warnings():
            # The checkpoint holds the optimizer's state, which evaluation
            # does not need; Keras warns that it skips it.
            warnings.filterwarnings("ignore", message="Skipping variable loading")
            model = tuner.get_best_models(1)[0]
        start = time.perf_counter()
        scores = model.evaluate(
            *test, batch_size=max(batch_size, 256), verbose=0, return_dict=True
        )
        run["test_seconds"] = time.perf_counter() - start
        values = best.hyperparameters.values
        run.update(
            best_trial_id=best.trial_id,
            units=values[units_hp],
            learning_rate=values[learning_rate_hp],
            validation_score=best.score,
            test_score=float(scores[test_metric]),
            test_loss=float(scores.get("loss", math.nan)),
        )
        keras.backend.clear_session()
        _io.atomic_write_json(run_path, run)
        log(
            f"    {run['epochs']} epochs in {wall:.0f} s; chosen units="
            f"{run['units']} lr={run['learning_rate']:.3g}: validation "
            f"{run['validation_score']:.4f}, test {test_metric} "
            f"{run['test_score']:.4f}"
        )
        runs.append(run)
    return write_outputs(
        output_dir,
        runs,
        settings,
        test_metric=test_metric,
        reach_tolerance=reach_tolerance,
        description=description,
    )


def _oracle_seed(seed):
    """The keras_tuner oracle seed of comparison seed `seed`.

    keras_tuner's `Oracle` draws a random seed for `seed=0` (`seed or
    random.randint(...)`), and samples the k-th hyperparameter value of a
    search with `random.Random(seed + k)`: the searches of seeds 1 and 3
    would share all but their first values. Seeds far apart keep them
    independent (and repeatable).
    """
    return 1 + ORACLE_SEED_SPACING * seed


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


# ---------------------------------------------------------------------- #
# Outputs.
# ---------------------------------------------------------------------- #
def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarize(runs, settings, *, reach_tolerance=0.01) -> list[dict]:
    """One row per tuner: means, spreads and the grid gap over its seeds."""
    direction = settings["direction"]
    sign = 1 if direction == "max" else -1
    grid_runs = [r for r in runs if r["tuner"] == "grid"]
    grid_val = _stats([r["validation_score"] for r in grid_runs])["mean"]
    grid_test = _stats([r["test_score"] for r in grid_runs])["mean"]
    rows = []
    for name in _run_names(runs):
        mine = [r for r in runs if r["tuner"] == name]
        reach = []
        if grid_val is not None:
            target = grid_val - sign * reach_tolerance
            for run in mine:
                hit = next(
                    (
                        t["cumulative_epochs"]
                        for t in run["trial_rows"]
                        if t["best_so_far"] is not None
                        and sign * (t["best_so_far"] - target) >= 0
                    ),
                    None,
                )
                reach.append(hit)
        test = _stats([r["test_score"] for r in mine])
        rows.append(
            {
                "tuner": name,
                "label": label(name),
                "seeds": len(mine),
                "budget": mine[0]["budget"],
                "epochs": _stats([r["epochs"] for r in mine]),
                "trials": _stats([r["trials"] for r in mine]),
                "wall_seconds": _stats([r["wall_seconds"] for r in mine]),
                "validation_score": _stats([r["validation_score"] for r in mine]),
                "test_score": test,
                "test_gap_to_grid": (
                    None
                    if grid_test is None or test["mean"] is None
                    else test["mean"] - grid_test
                ),
                "runs_reaching_grid": (
                    None if grid_val is None else sum(h is not None for h in reach)
                ),
                "epochs_to_reach_grid": _stats(reach),
            }
        )
    return rows


def _mean_std(stats, digits=4, scale=1.0):
    if stats["mean"] is None:
        return "n/a"
    mean = stats["mean"] * scale
    if stats["n"] < 2:
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {stats['std'] * scale:.2g}"


def _range(stats, digits=4):
    if stats["mean"] is None:
        return "n/a"
    return f"{stats['min']:.{digits}g}–{stats['max']:.{digits}g}"


def summary_markdown(rows, runs, settings, *, test_metric, reach_tolerance, extra=""):
    """The comparison as Markdown: settings, the summary and every run."""
    metric = settings["objective"]
    summary_rows = []
    for row in rows:
        reach = row["epochs_to_reach_grid"]
        summary_rows.append(
            {
                "tuner": row["label"],
                "seeds": row["seeds"],
                "budget": row["budget"],
                "epochs": _mean_std(row["epochs"]),
                "trials": _mean_std(row["trials"], 3),
                "wall": _mean_std(row["wall_seconds"], 3, 1 / 60),
                "val": f"{_mean_std(row['validation_score'])} "
                f"({_range(row['validation_score'])})",
                "test": f"{_mean_std(row['test_score'])} ({_range(row['test_score'])})",
                "gap": "n/a"
                if row["test_gap_to_grid"] is None
                else f"{row['test_gap_to_grid']:+.4f}",
                "reach": "n/a"
                if row["runs_reaching_grid"] is None
                else f"{row['runs_reaching_grid']}/{row['seeds']}"
                + (f" ({reach['mean']:.3g})" if reach["mean"] is not None else ""),
            }
        )
    columns = (
        "tuner",
        "seeds",
        "budget",
        "epochs",
        "trials",
        "wall",
        "val",
        "test",
        "gap",
        "reach",
    )
    headers = {
        "budget": "budget (epochs)",
        "epochs": "epochs trained",
        "wall": "wall time (min)",
        "val": f"best {metric} (min–max)",
        "test": f"test {test_metric} (min–max)",
        "gap": "test vs grid",
        "reach": f"runs within {reach_tolerance:g} of grid best val (mean epochs)",
    }
    fmt = {c: str for c in columns}
    run_rows = [
        {
            **{k: r.get(k) for k in RUN_COLUMNS},
            "tuner": label(r["tuner"]),
            "wall_seconds": round(r["wall_seconds"], 1),
            "load": "/".join(
                "n/a" if v is None else f"{v:.1f}"
                for v in r.get("load_average") or (None, None)
            ),
        }
        for r in runs
    ]
    hb = settings["hyperband"]
    lines = [
        "# Two-stage schedule vs. Keras Tuner's built-in tuners",
        "",
        extra,
        "## Settings",
        "",
        f"- search space: `{settings['units_hp']}` in {settings['units']}, "
        f"`{settings['learning_rate_hp']}` log-uniform in "
        f"[{settings['learning_rate_range'][0]:.4g}, "
        f"{settings['learning_rate_range'][1]:.4g}]",
        f"- two-stage schedule: {len(settings['units'])} stage-1 trials of "
        f"{settings['stage1_epochs']} epoch(s) at learning rate "
        f"{settings['stage1_learning_rate']:g}, then {settings['stage2_trials']} "
        f"stage-2 trials of {settings['stage2_epochs']} epochs from "
        f"{settings['max_learning_rate']:g}",
        f"- budget for every tuner but the grid: **{settings['budget_epochs']} "
        "epochs**",
        *(
            [
                f"- {label(patience_variant(settings['stage2_patience']))}: the "
                "same schedule and seeds, each stage-2 trial stopped after "
                f"{settings['stage2_patience']} epoch(s) without improvement of "
                f"{metric} (Keras `EarlyStopping`); the other tuners keep the "
                "plain schedule's budget"
            ]
            if settings.get("stage2_patience") is not None
            else []
        ),
        f"- RandomSearch and BayesianOptimization: "
        f"{settings['random_bayesian_trials']} trials of "
        f"{settings['stage2_epochs']} epochs (Bayesian: "
        f"{settings['bayesian_initial_points']} random initial points)",
        f"- Hyperband: max_epochs={hb['max_epochs']}, factor={hb['factor']}, "
        f"hyperband_iterations={hb['hyperband_iterations']} (nominally "
        f"{hb['nominal_epochs']} epochs in {hb['nominal_trials']} trials), stopped "
        f"once its started trials reach {hb['epoch_budget']} epochs",
        f"- exhaustive grid: {len(settings['units'])} units values × "
        f"{len(settings['grid_learning_rates'])} learning rates "
        f"({', '.join(f'{lr:.3g}' for lr in settings['grid_learning_rates'])}) "
        f"× {settings['stage2_epochs']} epochs = {settings['grid_epochs']} epochs",
        *(
            [f"- source: `{settings['problem']['data']}`"]
            if settings.get("problem", {}).get("data")
            else []
        ),
        f"- data: {settings['train_examples']} training, "
        f"{settings['validation_examples']} validation (selection), "
        f"{settings['test_examples']} test examples (each returned model "
        "evaluated once); batch size "
        f"{settings['batch_size']}",
        "",
        "## Summary (mean ± std over seeds)",
        "",
        table.markdown_table(summary_rows, columns, headers, fmt),
        f"The validation score is the one of the trial each tuner returns "
        f"(TwoStageTuner: the best stage-2 trial); the test score is that "
        f"model's, measured once. The last column counts the runs whose "
        f"returned-so-far trial came within {reach_tolerance:g} of the grid's "
        f"best validation score, and the mean epochs they needed. Wall time "
        "is the search alone (no data loading, no test evaluation); the "
        "`load` column of each run below gives the machine's 1-minute load "
        "average at its start and end, as other processes slow it down.",
        "",
        "## Every run",
        "",
        table.markdown_table(run_rows, (*RUN_COLUMNS, "load")),
        "## Plots",
        "",
        *(f"- `{file}`" for file in PLOT_FILES.values()),
        "",
    ]
    return "\n".join(lines)


def write_outputs(
    output_dir,
    runs,
    settings,
    *,
    test_metric,
    reach_tolerance=0.01,
    description=None,
) -> dict:
    """Write trials.csv, runs.csv, summary.md/.json and the plots."""
    os.makedirs(output_dir, exist_ok=True)
    trials = [t for run in runs for t in run["trial_rows"]]
    paths = {
        "trials": table.write_csv(
            os.path.join(output_dir, "trials.csv"), trials, TRIAL_COLUMNS
        ),
        "runs": table.write_csv(
            os.path.join(output_dir, "runs.csv"), runs, RUN_COLUMNS
        ),
    }
    rows = summarize(runs, settings, reach_tolerance=reach_tolerance)
    extra = ""
    if description:
        extra = (
            "\n".join(f"- {key}: {value}" for key, value in description.items()) + "\n"
        )
    markdown = summary_markdown(
        rows,
        runs,
        settings,
        test_metric=test_metric,
        reach_tolerance=reach_tolerance,
        extra=extra,
    )
    paths["summary_md"] = os.path.join(output_dir, "summary.md")
    _io.atomic_write_text(paths["summary_md"], markdown)
    paths.update(write_plots(output_dir, runs, settings))
    summary = {
        "description": description or {},
        "settings": settings,
        "summary": rows,
        "runs": [{k: v for k, v in r.items() if k != "trial_rows"} for r in runs],
        "files": {k: os.path.basename(v) for k, v in paths.items()},
    }
    paths["summary_json"] = os.path.join(output_dir, "summary.json")
    summary["files"]["summary_json"] = "summary.json"
    _io.atomic_write_text(paths["summary_json"], json.dumps(summary, indent=1) + "\n")
    summary["paths"] = paths
    summary["markdown"] = markdown
    return summary


def write_plots(output_dir, runs, settings) -> dict:
    from kt_twostage import plots

    metric = settings["objective"]
    reference = {}
    grid_runs = [r for r in runs if r["tuner"] == "grid"]
    if grid_runs:
        best = statistics.fmean(r["validation_score"] for r in grid_runs)
        reference[f"grid best ({best:.4f})"] = best
    paths = {}
    for key, x_key, xlabel in (
        ("epochs", "cumulative_epochs", "epochs trained (cumulative)"),
        ("time", "end_seconds", "wall time (s)"),
    ):
        curves = {}
        for name in _run_names(runs):
            mine = [r for r in runs if r["tuner"] == name]
            if mine:
                curves[label(name)] = [
                    [(t[x_key], t["best_so_far"]) for t in r["trial_rows"]]
                    for r in mine
                ]
        paths[f"plot_{key}"] = plots.plot_best_so_far(
            curves,
            os.path.join(output_dir, PLOT_FILES[key]),
            xlabel=xlabel,
            ylabel=f"best-so-far {metric}",
            title=f"Best-so-far validation score vs {xlabel.split(' (')[0]} "
            "(mean, min–max band)",
            references=reference,
        )
    two_stage = [r for r in runs if r["tuner"] == "twostage"]
    stage1 = {
        f"seed {r['seed']}": [
            (t["units"], t["score"]) for t in r["trial_rows"] if t["stage"] == 1
        ]
        for r in two_stage
    }
    stage2 = {}
    for r in two_stage:
        rows = [t for t in r["trial_rows"] if t["stage"] == 2]
        stage2[f"seed {r['seed']} (units {rows[0]['units'] if rows else '?'})"] = [
            (i, t["learning_rate"], t["score"]) for i, t in enumerate(rows, start=1)
        ]
    paths["plot_stage1"] = plots.plot_stage1(
        stage1, os.path.join(output_dir, PLOT_FILES["stage1"]), ylabel=metric
    )
    paths["plot_stage2"] = plots.plot_stage2_path(
        stage2, os.path.join(output_dir, PLOT_FILES["stage2"]), ylabel=metric
    )
    return paths


# ---------------------------------------------------------------------- #
# The IMDB comparison.
# ---------------------------------------------------------------------- #
@dataclasses.dataclass(frozen=True)
class ImdbCompareSettings:
    """Everything that defines one IMDB comparison. Defaults: the reference.

    `data=None` means the `KT_TWOSTAGE_IMDB` environment variable, else the
    official archive, downloaded once (see `load_imdb`). `train_reviews` and
    `test_reviews` keep the first reviews of each (shuffled) split; None keeps
    all 25,000. The validation data is the last `validation_split` of the
    kept training reviews, as `fit(validation_split=...)` takes it.

    The learning-rate hyperparameter spans `[min(stage1_learning_rate,
    max_learning_rate / 2**(stage2_trials - 1)), max_learning_rate]`: the
    range the two-stage schedule can reach, so that no tuner searches values
    the others cannot.
    """

    data: str | None = None
    units_min: int = 10
    units_max: int = 190
    units_step: int = 10
    stage1_epochs: int = 1
    stage2_epochs: int = 30
    stage2_trials: int = 11
    max_learning_rate: float = 0.02
    stage1_learning_rate: float = 0.001
    num_words: int = 88584
    max_length: int = 250
    batch_size: int = 32
    validation_split: float = 0.2
    train_reviews: int | None = None
    test_reviews: int | None = None
    grid_learning_rates: int = 5
    grid_seeds: int = 1

    def __post_init__(self):
        if not self.units_min <= self.units_max:
            raise ValueError(
                f"Received units_min={self.units_min} > units_max={self.units_max}."
            )
        if not 0 < self.validation_split < 1:
            raise ValueError(
                "Expected `validation_split` between 0 and 1 (exclusive), got "
                f"{self.validation_split}."
            )
        for name in ("train_reviews", "test_reviews"):
            value = getattr(self, name)
            if value is not None and value < 2:
                raise ValueError(f"Expected `{name}` >= 2 or None, got {value}.")
        if self.grid_seeds < 1 or self.grid_learning_rates < 1:
            raise ValueError("`grid_seeds` and `grid_learning_rates` must be >= 1.")

    @property
    def min_learning_rate(self) -> float:
        return min(
            self.stage1_learning_rate,
            self.max_learning_rate / 2 ** (self.stage2_trials - 1),
        )


PROFILES = {
    # The reference schedule on all 25,000 + 25,000 reviews: weeks on a CPU.
    "seed": ImdbCompareSettings(),
    # All of IMDB's test reviews, a 10,000-review training subset and a
    # short schedule: 3 seeds took 28 min of search on 2 CPU cores, 45 min
    # with other jobs on the machine (docs/BENCHMARKS.md says why these).
    "cpu": ImdbCompareSettings(
        units_min=16,
        units_max=64,
        units_step=16,
        stage2_epochs=3,
        stage2_trials=5,
        num_words=20000,
        max_length=150,
        train_reviews=10000,
        grid_learning_rates=4,
    ),
    # The built-in sample, for tests: well under a minute.
    "tiny": ImdbCompareSettings(
        data=sample_path(),
        units_min=8,
        units_max=16,
        units_step=8,
        stage2_epochs=2,
        stage2_trials=2,
        num_words=2000,
        max_length=50,
        train_reviews=500,
        test_reviews=500,
        grid_learning_rates=2,
    ),
}


def run_imdb_compare(
    settings: ImdbCompareSettings,
    output_dir,
    *,
    seeds=3,
    tuners=TUNERS,
    stage2_patience=None,
    work_dir=None,
    overwrite=False,
    verbose=0,
    description=None,
    run_missing=True,
    log=print,
) -> dict:
    """`compare_tuners` on the IMDB reviews with `ImdbLstmHyperModel`.

    Args:
        settings: An `ImdbCompareSettings` (see `PROFILES`).
        output_dir: Where the tables and plots go.
        seeds: Integer (seeds `0..seeds-1`) or a sequence of seeds.
        tuners, stage2_patience, work_dir, overwrite, verbose, description,
        run_missing, log: as in `compare_tuners`.
    """
    data_path = settings.data
    start = time.perf_counter()
    data = load_imdb(
        data_path, num_words=settings.num_words, max_length=settings.max_length
    )
    x, y = data.x_train, data.y_train
    if settings.train_reviews is not None:
        x, y = x[: settings.train_reviews], y[: settings.train_reviews]
    x_test, y_test = data.x_test, data.y_test
    if settings.test_reviews is not None:
        x_test = x_test[: settings.test_reviews]
        y_test = y_test[: settings.test_reviews]
    split = int(len(x) * (1 - settings.validation_split))
    log(
        f"data: {len(x)} training reviews ({split} fit, {len(x) - split} "
        f"validation), {len(x_test)} test, loaded in "
        f"{time.perf_counter() - start:.0f} s"
    )
    hypermodel = ImdbLstmHyperModel(
        num_words=settings.num_words,
        units=(settings.units_min, settings.units_max, settings.units_step),
        max_learning_rate=settings.max_learning_rate,
        default_learning_rate=settings.stage1_learning_rate,
        min_learning_rate=settings.min_learning_rate,
    )
    if isinstance(seeds, int):
        seeds = range(seeds)
    seeds = list(seeds)
    problem = {
        "data": data_path or "$KT_TWOSTAGE_IMDB or the official archive",
        "imdb_settings": dataclasses.asdict(settings),
    }
    return compare_tuners(
        hypermodel,
        (x[:split], y[:split]),
        (x[split:], y[split:]),
        (x_test, y_test),
        output_dir,
        stage1_epochs=settings.stage1_epochs,
        stage2_epochs=settings.stage2_epochs,
        stage2_trials=settings.stage2_trials,
        max_learning_rate=settings.max_learning_rate,
        stage1_learning_rate=settings.stage1_learning_rate,
        seeds=seeds,
        grid_learning_rates=settings.grid_learning_rates,
        grid_seeds=seeds[: settings.grid_seeds],
        tuners=tuners,
        stage2_patience=stage2_patience,
        batch_size=settings.batch_size,
        work_dir=work_dir,
        overwrite=overwrite,
        verbose=verbose,
        problem=problem,
        description=description,
        run_missing=run_missing,
        log=log,
    )
