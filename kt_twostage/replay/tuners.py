"""The tuners a replay runs: a registry of real Keras Tuner oracles.

`TUNERS` maps each tuner's name (as on the command line and in the outputs)
to a factory `factory(space, budget, seed, settings) -> keras_tuner.Oracle`:

- `space`: the `SearchSpace` (the oracles learn it from `update_space`, as
  from a Tuner; a factory may read it, e.g. for the units grid);
- `budget`: the budget in epochs (`budget_epochs`);
- `seed`: the oracle seed, from the tuner's own seed stream;
- `settings`: the `ReplaySettings` (the reference two-stage schedule).

The replay driver stops every tuner by the same budget rule (see
`kt_twostage.replay.search`), so a factory only configures its oracle. A
two-stage variant is one more entry, named `two-stage-<what it does>`, whose
factory passes its option to `TwoStageOracle`.

The factories import Keras Tuner when called, so that the names can be
listed and checked without loading TensorFlow.
"""

from __future__ import annotations

from kt_twostage.compare.budget import (
    bayesian_initial_points,
    plan_hyperband,
    random_search_trials,
)
from kt_twostage.replay.settings import LEARNING_RATE_HP, OBJECTIVE, UNITS_HP
from kt_twostage.schedule.compass import COMPASS, VARIANT_OPTIONS, VARIANT_PATIENCE

REFERENCE = "two-stage"


def _objective():
    import keras_tuner

    return keras_tuner.Objective(OBJECTIVE, direction="max")


def random_search(space, budget, seed, settings):
    """Keras Tuner's RandomSearch: `budget // stage2_epochs` trials of
    `stage2_epochs` epochs."""
    import keras_tuner

    return keras_tuner.oracles.RandomSearchOracle(
        objective=_objective(),
        max_trials=random_search_trials(budget, settings.stage2_epochs),
        seed=seed,
    )


def bayesian(space, budget, seed, settings):
    """Keras Tuner's BayesianOptimization, with RandomSearch's trials and
    `num_initial_points` as `kt-twostage compare` sets them."""
    import keras_tuner

    max_trials = random_search_trials(budget, settings.stage2_epochs)
    return keras_tuner.oracles.BayesianOptimizationOracle(
        objective=_objective(),
        max_trials=max_trials,
        num_initial_points=bayesian_initial_points(max_trials),
        seed=seed,
    )


def hyperband(space, budget, seed, settings):
    """Keras Tuner's Hyperband with `max_epochs = stage2_epochs` and the
    factor and iterations whose total is closest at or above the budget
    (`plan_hyperband`); the budget rule stops it."""
    import keras_tuner

    plan = plan_hyperband(budget, settings.stage2_epochs)
    return keras_tuner.oracles.HyperbandOracle(
        objective=_objective(),
        max_epochs=plan["max_epochs"],
        factor=plan["factor"],
        hyperband_iterations=plan["hyperband_iterations"],
        seed=seed,
    )


def two_stage_variant(**options):
    """A factory of the two-stage rule with `TwoStageOracle` `options`.

    A variant that reinvests saved epochs spends what the budget leaves after
    stage 1 on stage 2 (`stage2_trials` is set so that its stage-2 epochs
    fill it); otherwise it keeps the reference's `stage2_trials`.
    """

    def factory(space, budget, seed, settings):
        from kt_twostage import TwoStageOracle

        stage2_trials = settings.stage2_trials
        if options.get("reinvest_stopped_epochs"):
            stage1 = len(space.units) * settings.stage1_epochs
            stage2_trials = max(1, (budget - stage1) // settings.stage2_epochs)
        return TwoStageOracle(
            objective=_objective(),
            units_hp=UNITS_HP,
            learning_rate_hp=LEARNING_RATE_HP,
            stage1_epochs=settings.stage1_epochs,
            stage2_epochs=settings.stage2_epochs,
            stage2_trials=stage2_trials,
            max_learning_rate=settings.max_learning_rate,
            stage1_learning_rate=settings.stage1_learning_rate,
            seed=seed,
            **options,
        )

    return factory


EARLY_STOP = {
    "stage2_patience": VARIANT_PATIENCE,
    "reinvest_stopped_epochs": True,
}
TUNERS = {
    # The reference rule; it stops when its schedule ends, also when the
    # budget would allow more.
    REFERENCE: two_stage_variant(),
    "random": random_search,
    "bayesian": bayesian,
    "hyperband": hyperband,
    # The variant: a compass search from the stage-1 learning rate, with
    # early-stopped trials whose saved epochs buy more stage-2 steps...
    "two-stage-compass": two_stage_variant(**VARIANT_OPTIONS),
    # ... and each of its two parts alone.
    "two-stage-compass-only": two_stage_variant(stage2_rule=COMPASS),
    "two-stage-early-stop": two_stage_variant(**EARLY_STOP),
}
# Run when `--tuners` is not given.
DEFAULT_TUNERS = (REFERENCE, "random", "bayesian", "hyperband", "two-stage-compass")


def check_tuner_names(names) -> tuple:
    """`names` as a tuple, each one checked against `TUNERS`.

    Raises:
        ValueError: an unknown or repeated name, or none at all.
    """
    names = tuple(names)
    if not names:
        raise ValueError(f"Expected at least one tuner of {', '.join(TUNERS)}.")
    for name in names:
        if name not in TUNERS:
            raise ValueError(
                f"Unknown tuner {name!r}; expected some of {', '.join(TUNERS)}."
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"Tuners named more than once: {', '.join(repeated)}.")
    return names
