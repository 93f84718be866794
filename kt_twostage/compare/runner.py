"""`TwoStageTuner` against Keras Tuner's built-in tuners, side by side.

`compare_tuners` runs, on the same data, hypermodel, search space and
validation split, the tuners of `BASELINES`:

- `twostage`: `TwoStageTuner`;
- with `stage2_patience=P`, also `twostage-patience{P}`: `TwoStageTuner`
  again, on the same seeds, with early stopping in stage 2
  (`TwoStageTuner(stage2_patience=P)`), reported beside the plain run;
- `random`, `bayesian`: `keras_tuner.RandomSearch` and
  `keras_tuner.BayesianOptimization` with `budget // stage2_epochs` trials of
  `stage2_epochs` epochs each;
- `random-es` (when named): `keras_tuner.RandomSearch`'s oracle with
  `keras.callbacks.EarlyStopping(patience=2)` on the objective in the search
  callbacks: trials of up to `stage2_epochs` epochs, each charged the epochs
  it trained, new ones while a whole `stage2_epochs` trial still fits in the
  budget (`BudgetRandomSearchOracle`);
- `twostage-compass`, `twostage-scout-s1e2` (when named): `TwoStageTuner`
  variants with early-stopped stage-2 trials whose saved epochs buy more
  stage-2 trials within the budget (`schedule.compass.VARIANT_OPTIONS`,
  `RECOMMENDED_VARIANT`);
- `hyperband`: `keras_tuner.Hyperband` with `max_epochs = stage2_epochs` and
  the `factor` / `hyperband_iterations` whose total is the smallest at or
  above the budget, stopped once the epochs of its started trials reach the
  budget;
- `grid`: every units value times a log grid of learning rates at
  `stage2_epochs` epochs, on the first `grid_seeds` seeds: a reference, not
  an upper bound (a few learning rates, one training of each point).

The budget, in epochs, is the two-stage schedule's:
`len(units grid) * stage1_epochs + stage2_trials * stage2_epochs` (the plain
one's: the patience variant trains at most that many). Every
tuner selects on the validation data only; the test data is used once per
tuner and seed, on the model the tuner returns. Epochs are counted as they
are trained (Hyperband continues trials from checkpoints, so its trials
train a variable number of epochs).

The parts: `make_plan` checks everything and fixes the budgets
(`ComparisonPlan`), `run_one` runs one tuner on one seed, `run_plan` runs
(or reuses) every run of the plan, `write_outputs` writes the tables.
"""

from __future__ import annotations

import math
import os
import time
import typing
import warnings

import keras

from kt_twostage import _environment, _io
from kt_twostage.compare import baselines, determinism, records, tuners, workdir
from kt_twostage.compare.outputs import write_outputs
from kt_twostage.compare.plan import ComparisonPlan
from kt_twostage.results import trial_table as table


class ComparisonData(typing.NamedTuple):
    """The `(x, y)` tuples of a comparison.

    Every tuner trains on `train` and selects on `validation`; the model
    each returns is evaluated once on `test`.
    """

    train: tuple
    validation: tuple
    test: tuple


def make_plan(
    hypermodel,
    data,
    *,
    objective="val_accuracy",
    units_hp="units",
    learning_rate_hp="learning_rate",
    max_learning_rate=None,
    stage1_learning_rate=None,
    **options,
) -> ComparisonPlan:
    """The `ComparisonPlan` of comparing tuners of `hypermodel` on `data`.

    Reads the objective's direction and the search space (by building one
    model); `max_learning_rate` and `stage1_learning_rate` default to the
    learning-rate hyperparameter's maximum and default. `options` are the
    other `ComparisonPlan` arguments.
    """
    name, direction = tuners.objective_of(objective)
    space = tuners.search_space(hypermodel, units_hp, learning_rate_hp)
    return ComparisonPlan(
        objective=name,
        direction=direction,
        units_hp=units_hp,
        learning_rate_hp=learning_rate_hp,
        units=space["units"],
        learning_rate_range=(space["min_learning_rate"], space["max_learning_rate"]),
        max_learning_rate=max_learning_rate or space["max_learning_rate"],
        stage1_learning_rate=stage1_learning_rate or space["default_learning_rate"],
        train_examples=len(data.train[0]),
        validation_examples=len(data.validation[0]),
        test_examples=len(data.test[0]),
        **options,
    )


def run_one(name, seed, plan, data, *, hypermodel, work_dir, verbose=0) -> dict:
    """Run one tuner on one seed: search, then test the returned model once.

    Args:
        name: String, a run name of `plan.runs()`.
        seed: Integer, the comparison seed.
        plan: The `ComparisonPlan`.
        data: The `ComparisonData`.
        hypermodel: The hypermodel the plan was made from.
        work_dir: String, the work folder (the project goes in `projects/`).
        verbose: Keras verbosity during training. Defaults to `0`.

    Returns:
        The run dict: its trial rows (see `collect_run`), epochs, wall time,
        the machine's load average before and after, its budget, and the
        returned trial's values, validation score and test score.
    """
    setup = baselines.RunSetup(
        name, seed, hypermodel, os.path.join(work_dir, "projects")
    )
    tuner, search_kwargs = baselines.baseline(name).build(plan, setup)
    load_before = _one_minute_load()
    start = time.perf_counter()
    tuner.search(
        *data.train,
        validation_data=data.validation,
        batch_size=plan.batch_size,
        verbose=verbose,
        **search_kwargs,
    )
    wall_seconds = time.perf_counter() - start
    run = records.collect_run(tuner, name, seed, plan)
    run["wall_seconds"] = wall_seconds
    # Other processes on the machine slow a run down: keep the evidence.
    run["load_average"] = [load_before, _one_minute_load()]
    run["budget"] = plan.budget_of(name)
    run.update(_test_returned_model(tuner, plan, data.test))
    keras.backend.clear_session()
    return run


def _test_returned_model(tuner, plan, test) -> dict:
    best = tuner.oracle.get_best_trials(1)[0]
    with warnings.catch_warnings():
        # The checkpoint holds the optimizer's state, which evaluation
        # does not need; Keras warns that it skips it.
        warnings.filterwarnings("ignore", message="Skipping variable loading")
        model = tuner.get_best_models(1)[0]
    start = time.perf_counter()
    scores = model.evaluate(
        *test, batch_size=max(plan.batch_size, 256), verbose=0, return_dict=True
    )
    values = best.hyperparameters.values
    return {
        "test_seconds": time.perf_counter() - start,
        "best_trial_id": best.trial_id,
        "units": values[plan.units_hp],
        "learning_rate": values[plan.learning_rate_hp],
        "validation_score": best.score,
        "test_score": float(scores[plan.test_metric]),
        "test_loss": float(scores.get("loss", math.nan)),
    }


def _one_minute_load():
    load = _environment.load_average()
    return None if load is None else load[0]


def run_plan(
    plan,
    data,
    *,
    hypermodel,
    work_dir,
    verbose=0,
    run_missing=True,
    determinism_note=None,
    log=print,
) -> list[dict]:
    """Every run of `plan`, in order: reused from `work_dir` when finished
    there, else run with `run_one` (unless `run_missing` is False) and kept.

    `determinism_note`, when given, is recorded as the `determinism` of each
    run trained here (see `kt_twostage.compare.determinism`).
    """
    runs = []
    planned = plan.runs()
    for number, (name, seed) in enumerate(planned, start=1):
        where = f"[{number}/{len(planned)}] {name} seed {seed}"
        path = workdir.run_path(work_dir, name, seed)
        if os.path.isfile(path):
            runs.append(table.read_json(path))
            log(f"{where}: done earlier, reused")
        elif not run_missing:
            log(f"{where}: not run yet, skipped")
        else:
            log(f"{where}: running")
            run = run_one(
                name, seed, plan, data, hypermodel=hypermodel, work_dir=work_dir,
                verbose=verbose,
            )  # fmt: skip
            if determinism_note is not None:
                run["determinism"] = determinism_note
            _io.atomic_write_json(path, run)
            log(
                f"    {run['epochs']} epochs in {run['wall_seconds']:.0f} s; "
                f"chosen units={run['units']} lr={run['learning_rate']:.3g}: "
                f"validation {run['validation_score']:.4f}, test "
                f"{plan.test_metric} {run['test_score']:.4f}"
            )
            runs.append(run)
    return runs


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
    tuners=baselines.DEFAULT_TUNERS,
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
    deterministic=False,
    log=print,
) -> dict:
    """Run every tuner on the same problem and write the comparison.

    Args:
        hypermodel: A `keras_tuner.HyperModel` (or build function) declaring
            `units_hp` (an `Int` with a step, or a `Choice`) and
            `learning_rate_hp` (a `Float`): the search space of every tuner.
        train, validation, test: `(x, y)` tuples (see `ComparisonData`).
        output_dir: Folder for `trials.csv`, `runs.csv`, `summary.md`,
            `summary.json` and the PNG plots.
        stage1_epochs, stage2_epochs, stage2_trials, max_learning_rate,
        stage1_learning_rate, units_hp, learning_rate_hp, objective, seeds,
        grid_seeds, tuners, stage2_patience, bayesian_initial_points,
        batch_size, problem: see `ComparisonPlan`; `grid_learning_rates` is
            its `grid_learning_rate_count`.
        work_dir: Folder for the Keras Tuner projects and the finished runs
            (reused when the comparison is started again, see
            `kt_twostage.compare.workdir`). Defaults to `output_dir/work`.
        overwrite: Start over: delete the runs and projects in `work_dir`.
        verbose: Keras verbosity during training.
        reach_tolerance: The summary counts the epochs each run needs to get
            within this distance of the grid's best validation score.
        description: Optional dict of free text recorded in `summary.json`
            and shown in `summary.md`: the command line, the machine, the date.
        run_missing: Whether to run the runs that have no finished result in
            `work_dir`. False: only write the outputs of the finished ones
            (e.g. while a long comparison is still running).
        deterministic: Boolean, whether to train with the backend's
            deterministic kernels (`reproducibility.enable_determinism`:
            TensorFlow op determinism, PyTorch deterministic algorithms; JAX
            on the CPU is deterministic already). The setting is put back
            when the comparison returns. What the backend said is recorded
            with each run trained and in `summary.json`'s description
            (`determinism`). Defaults to `False`.
        log: Function called with progress lines.

    Returns:
        The summary dict also written to `summary.json`.
    """
    data = ComparisonData(train, validation, test)
    plan = make_plan(
        hypermodel, data, objective=objective, units_hp=units_hp,
        learning_rate_hp=learning_rate_hp, max_learning_rate=max_learning_rate,
        stage1_learning_rate=stage1_learning_rate, stage1_epochs=stage1_epochs,
        stage2_epochs=stage2_epochs, stage2_trials=stage2_trials,
        grid_learning_rate_count=grid_learning_rates,
        bayesian_initial_points=bayesian_initial_points, batch_size=batch_size,
        problem=problem or {}, stage2_patience=stage2_patience, tuners=tuners,
        seeds=seeds, grid_seeds=grid_seeds,
    )  # fmt: skip
    work_dir = os.fspath(work_dir or os.path.join(output_dir, "work"))
    workdir.prepare_work_dir(work_dir, plan.to_dict(), overwrite)
    with determinism.deterministic_kernels(deterministic) as note:
        runs = run_plan(
            plan, data, hypermodel=hypermodel, work_dir=work_dir,
            verbose=verbose, run_missing=run_missing, determinism_note=note,
            log=log,
        )  # fmt: skip
    description = {
        **(description or {}),
        "determinism": determinism.summary_line(runs, note),
    }
    return write_outputs(
        output_dir,
        runs,
        plan.to_dict(),
        test_metric=plan.test_metric,
        reach_tolerance=reach_tolerance,
        description=description,
    )
