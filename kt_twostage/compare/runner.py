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
import math
import os
import time
import warnings

import keras

from kt_twostage import _io
from kt_twostage.compare.baselines import (
    LABELS,
    PATIENCE_PREFIX,
    SETTINGS_FILE,
    TUNERS,
    BudgetHyperbandOracle,
    GridOracle,
    _Bayesian,
    _check_work_dir,
    _collect_run,
    _Grid,
    _Hyperband,
    _incumbent,  # noqa: F401 - tests call it as `compare._incumbent`
    _is_two_stage,
    _load_average,
    _objective,
    _Random,
    _space,
    _TwoStage,
    label,
    patience_variant,
    table_value,
)
from kt_twostage.compare.budget import (
    ORACLE_SEED_SPACING,
    _oracle_seed,
    hyperband_epochs,
    log_grid,
    plan_hyperband,
    two_stage_budget,
)
from kt_twostage.compare.outputs import (
    PLOT_FILES,
    RUN_COLUMNS,
    TRIAL_COLUMNS,
    summarize,
    summary_markdown,
    write_outputs,
    write_plots,
)
from kt_twostage.imdb.data import load_imdb
from kt_twostage.imdb.hypermodel import ImdbLstmHyperModel
from kt_twostage.imdb.settings import PROFILES, ImdbCompareSettings
from kt_twostage.results import trial_table as table

__all__ = [
    "BudgetHyperbandOracle",
    "GridOracle",
    "ImdbCompareSettings",
    "LABELS",
    "ORACLE_SEED_SPACING",
    "PATIENCE_PREFIX",
    "PLOT_FILES",
    "PROFILES",
    "RUN_COLUMNS",
    "SETTINGS_FILE",
    "TRIAL_COLUMNS",
    "TUNERS",
    "compare_tuners",
    "hyperband_epochs",
    "label",
    "log_grid",
    "patience_variant",
    "plan_hyperband",
    "run_imdb_compare",
    "summarize",
    "summary_markdown",
    "table_value",
    "two_stage_budget",
    "write_outputs",
    "write_plots",
]


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
