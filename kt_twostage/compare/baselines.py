"""The tuners a comparison runs: one registry entry per baseline.

`BASELINES` maps each tuner name to a `Baseline`: the label the outputs show
and the factory that builds its Keras Tuner tuner for one run. Adding a
baseline means adding one entry here (and, if it needs one, its recording
tuner in `kt_twostage.compare.tuners`).

A run name is a tuner name, or `twostage-patience{P}`: the two-stage tuner
again with `stage2_patience=P` (see `ComparisonPlan.stage2_patience`).

The two-stage variants (`twostage-compass`, `twostage-scout-s1e2`) and
`random-es` (RandomSearch with `EarlyStopping`, as the replay's `random-es`)
run when named only (`OPT_IN_TUNERS`).

Pure at import: the factories import Keras Tuner when they are called, so
that the command line can list and check the names without TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kt_twostage.compare import budget
from kt_twostage.schedule.compass import (
    RECOMMENDED_VARIANT,
    VARIANT_OPTIONS,
    VARIANT_PATIENCE,
)

TWO_STAGE = "twostage"
PATIENCE_PREFIX = "twostage-patience"
COMPASS = "twostage-compass"
# The recommended variant (the replay's `two-stage-scout-s1e2`).
SCOUT_S1E2 = "twostage-scout-s1e2"
RANDOM_EARLY_STOPPING = "random-es"


@dataclasses.dataclass(frozen=True)
class RunSetup:
    """What the tuner of one run is made of, besides the plan.

    Args:
        name: String, the run name (`twostage`, `random`, ...).
        seed: Integer, the comparison seed.
        hypermodel: The hypermodel every tuner searches.
        projects_dir: String, the folder of the Keras Tuner projects; this
            run's project is `{name}-seed{seed}` in it, started afresh.
    """

    name: str
    seed: int
    hypermodel: object
    projects_dir: str

    def tuner_kwargs(self) -> dict:
        """The `keras_tuner.Tuner` arguments every baseline passes."""
        return {
            "hypermodel": self.hypermodel,
            "directory": self.projects_dir,
            "project_name": f"{self.name}-seed{self.seed}",
            # A run is reused only once finished (its JSON in `runs/`): an
            # interrupted one starts over, as the timings and epoch counts of
            # its trials were kept in the memory of the process that died.
            "overwrite": True,
        }


@dataclasses.dataclass(frozen=True)
class Baseline:
    """One tuner of the comparison.

    Args:
        label: String, the name the tables and plots show.
        build: Function `(plan, setup) -> (tuner, search_kwargs)`: the tuner
            of one run (`plan` a `ComparisonPlan`, `setup` a `RunSetup`) and
            the extra arguments of its `search`.
        reference: Boolean, whether this is the reference for the best
            reachable score: it runs on the plan's `grid_seeds` only, after
            the other runs, and its budget is its own, not the two-stage
            schedule's. Defaults to `False`.
    """

    label: str
    build: Callable
    reference: bool = False


def _two_stage_tuner(plan, setup, **options):
    """The recording `TwoStageTuner` of one run, with `TwoStageTuner` options.

    `options` may set `stage1_epochs` (the variant's own; the budget stays
    the plan's). A variant that reinvests saved epochs spends what the
    budget leaves after its stage 1 on stage 2 (`stage2_trials` is set so
    that its stage-2 epochs fill it, as the replay's `two_stage_variant`
    does); otherwise it keeps the plan's `stage2_trials`.
    """
    from kt_twostage.compare import tuners

    chosen = {"stage1_epochs": plan.stage1_epochs, **options}
    return tuners.RecordingTwoStageTuner(
        objective=tuners.keras_objective(plan),
        units_hp=plan.units_hp,
        learning_rate_hp=plan.learning_rate_hp,
        stage2_epochs=plan.stage2_epochs,
        stage2_trials=_stage2_trials(plan, chosen),
        max_learning_rate=plan.max_learning_rate,
        stage1_learning_rate=plan.stage1_learning_rate,
        seed=budget.train_seed(setup.seed),
        **chosen,
        **setup.tuner_kwargs(),
    )


def _stage2_trials(plan, options) -> int:
    """`stage2_trials` of a two-stage run with `TwoStageTuner` `options`."""
    if not options.get("reinvest_stopped_epochs"):
        return plan.stage2_trials
    return budget.reinvested_stage2_trials(
        plan.budget_epochs,
        len(plan.units),
        options["stage1_epochs"],
        plan.stage2_epochs,
    )


def _two_stage(plan, setup):
    patience = (
        {} if setup.name == TWO_STAGE else {"stage2_patience": plan.stage2_patience}
    )
    return _two_stage_tuner(plan, setup, **patience), {}


def _two_stage_compass(plan, setup):
    """The variant (`schedule.compass.VARIANT_OPTIONS`): compass search from
    the stage-1 learning rate, early-stopped stage-2 trials, the saved epochs
    reinvested in more stage-2 trials (same budget)."""
    return _two_stage_tuner(plan, setup, **VARIANT_OPTIONS), {}


def _two_stage_scout_s1e2(plan, setup):
    """The recommended variant (`schedule.compass.RECOMMENDED_VARIANT`, the
    replay's `two-stage-scout-s1e2`): a stage 1 of 2 epochs per width, then
    the scout rule with early-stopped stage-2 trials and the saved epochs
    reinvested, within the plan's budget."""
    return _two_stage_tuner(plan, setup, **RECOMMENDED_VARIANT), {}


def _random_search(plan, setup):
    from kt_twostage.compare import tuners

    tuner = tuners.RecordingRandomSearch(
        objective=tuners.keras_objective(plan),
        max_trials=plan.random_bayesian_trials,
        seed=budget.oracle_seed(setup.seed),
        train_seed=budget.train_seed(setup.seed),
        **setup.tuner_kwargs(),
    )
    return tuner, {"epochs": plan.stage2_epochs}


def _random_search_early_stopping(plan, setup):
    """RandomSearch with `EarlyStopping(patience=VARIANT_PATIENCE)` on the
    objective: trials of up to `stage2_epochs` epochs, each charged the
    epochs it trained; new trials while a whole `stage2_epochs` trial still
    fits in the budget (the replay's `random-es`)."""
    import keras

    from kt_twostage.compare import tuners

    oracle = tuners.BudgetRandomSearchOracle(
        objective=tuners.keras_objective(plan),
        # The budget stops it: more trials than the budget has epochs.
        max_trials=plan.budget_epochs + 1,
        seed=budget.oracle_seed(setup.seed),
        epoch_budget=plan.budget_epochs,
        trial_epochs=plan.stage2_epochs,
    )
    tuner = tuners.RecordingBudgetTuner(
        oracle=oracle, train_seed=budget.train_seed(setup.seed), **setup.tuner_kwargs()
    )
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=plan.objective, patience=VARIANT_PATIENCE, mode=plan.direction
    )
    return tuner, {"epochs": plan.stage2_epochs, "callbacks": [early_stopping]}


def _bayesian(plan, setup):
    from kt_twostage.compare import tuners

    tuner = tuners.RecordingBayesianOptimization(
        objective=tuners.keras_objective(plan),
        max_trials=plan.random_bayesian_trials,
        num_initial_points=plan.bayesian_initial_points,
        seed=budget.oracle_seed(setup.seed),
        train_seed=budget.train_seed(setup.seed),
        **setup.tuner_kwargs(),
    )
    return tuner, {"epochs": plan.stage2_epochs}


def _hyperband(plan, setup):
    from kt_twostage.compare import tuners

    hyperband = plan.hyperband
    oracle = tuners.BudgetHyperbandOracle(
        objective=tuners.keras_objective(plan),
        max_epochs=hyperband["max_epochs"],
        factor=hyperband["factor"],
        hyperband_iterations=hyperband["hyperband_iterations"],
        seed=budget.oracle_seed(setup.seed),
        epoch_budget=plan.budget_epochs,
    )
    tuner = tuners.RecordingHyperband(
        oracle=oracle, train_seed=budget.train_seed(setup.seed), **setup.tuner_kwargs()
    )
    return tuner, {}


def _grid(plan, setup):
    from kt_twostage.compare import tuners

    oracle = tuners.GridOracle(
        plan.grid(),
        objective=tuners.keras_objective(plan),
        seed=budget.oracle_seed(setup.seed),
    )
    tuner = tuners.RecordingGridTuner(
        oracle=oracle, train_seed=budget.train_seed(setup.seed), **setup.tuner_kwargs()
    )
    return tuner, {"epochs": plan.stage2_epochs}


BASELINES = {
    TWO_STAGE: Baseline("TwoStageTuner", _two_stage),
    COMPASS: Baseline("TwoStageTuner (compass, early stop)", _two_stage_compass),
    SCOUT_S1E2: Baseline(
        "TwoStageTuner (scout, stage 1 of 2 epochs, early stop)",
        _two_stage_scout_s1e2,
    ),
    "random": Baseline("RandomSearch", _random_search),
    RANDOM_EARLY_STOPPING: Baseline(
        "RandomSearch (early stop)", _random_search_early_stopping
    ),
    "bayesian": Baseline("BayesianOptimization", _bayesian),
    "hyperband": Baseline("Hyperband", _hyperband),
    # Every units value times a log grid of learning rates (its own oracle:
    # keras_tuner's GridSearch cannot resume, keras-team/keras-tuner#1055).
    "grid": Baseline("reference grid", _grid, reference=True),
}
TUNERS = tuple(BASELINES)
# Run only when named: the two-stage variants and the early-stopped baseline.
OPT_IN_TUNERS = (COMPASS, SCOUT_S1E2, RANDOM_EARLY_STOPPING)
# Run when none are named: the reference rule, the built-in tuners, the grid.
DEFAULT_TUNERS = tuple(name for name in TUNERS if name not in OPT_IN_TUNERS)
LABELS = {name: baseline.label for name, baseline in BASELINES.items()}


def is_two_stage(name) -> bool:
    """Whether run name `name` is the two-stage tuner or a variant of it."""
    return name in (TWO_STAGE, COMPASS, SCOUT_S1E2) or name.startswith(PATIENCE_PREFIX)


def baseline(name) -> Baseline:
    """The registry entry of run name `name` (a patience variant is the
    two-stage tuner's)."""
    return BASELINES[TWO_STAGE if name.startswith(PATIENCE_PREFIX) else name]


def patience_variant(patience) -> str:
    """The run name of the two-stage tuner with `stage2_patience=patience`."""
    return f"{PATIENCE_PREFIX}{patience}"


def label(name) -> str:
    """The display name of a run name (`TUNERS` or a patience variant)."""
    if name.startswith(PATIENCE_PREFIX):
        return f"{LABELS[TWO_STAGE]} (patience {name[len(PATIENCE_PREFIX) :]})"
    return LABELS[name]


def check_tuners(tuners) -> tuple:
    """`tuners` as a tuple, if it is a non-empty subset of `TUNERS`."""
    tuners = tuple(tuners)
    unknown = sorted(set(tuners) - set(TUNERS))
    if unknown or not tuners:
        raise ValueError(f"Unknown tuners {unknown}; expected some of {TUNERS}.")
    return tuners


def run_names(runs) -> list[str]:
    """The run names present in `runs`, in `TUNERS` order, variants after
    the plain two-stage tuner."""
    present = {r["tuner"] for r in runs}
    names = []
    for name in TUNERS:
        if name in present:
            names.append(name)
        if name == TWO_STAGE:
            variants = [n for n in present if n.startswith(PATIENCE_PREFIX)]
            names += sorted(variants, key=lambda n: int(n[len(PATIENCE_PREFIX) :]))
    return names
