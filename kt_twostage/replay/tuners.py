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
factory passes its option to `TwoStageOracle`:

    "two-stage-my-rule": two_stage_variant(stage2_rule=..., ...),

(and `RECOMMENDED` names the variant run by default). `SEARCH_PATIENCE`
gives the tuners that a user runs with Keras' `EarlyStopping(patience)` in
`Tuner.search(callbacks=...)`; the driver stops their trials as that
callback would. The Optuna tuners' factories return an `OptunaSearch`
(`kt_twostage.replay.optuna_search`), which the driver runs by ask and tell.

Every baseline's settings (B is the reference schedule's epochs, E =
`stage2_epochs`, the table's epochs by default; budgets in epochs):

- `random`: `RandomSearchOracle(max_trials=budget // E)`, trials of E.
- `random-es`: `RandomSearchOracle`, trials of up to E epochs stopped by
  `EarlyStopping(patience=2)`; new trials while a whole E-epoch trial fits.
- `bayesian`: `BayesianOptimizationOracle(max_trials=budget // E,
  num_initial_points=max(1, min(6, max_trials // 2)))`, Keras Tuner's
  Gaussian-process defaults, trials of E.
- `bayesian-es`: as `bayesian` (the same `num_initial_points`), trials as
  `random-es`'s.
- `hyperband`: `HyperbandOracle(max_epochs=E)` with the factor and
  iterations of `plan_hyperband`; the budget stops it.
- `optuna-tpe`: `TPESampler(multivariate=True, seed=seed)`, `NopPruner`,
  trials of E while a whole one fits.
- `optuna-tpe-hyperband`: the same sampler, `HyperbandPruner(min_resource=1,
  max_resource=E, reduction_factor=3)` asked after every epoch; new trials
  while a whole E-epoch trial fits.

The patience 2 is the compass variant's (`VARIANT_PATIENCE`). Every tuner
searches one space (`SearchSpace`): units a Choice, the learning rate a
log-sampled Float over the table's range whose default is the stage-1
rate (only the two-stage rules read it).

The factories import Keras Tuner (or Optuna) when called, so that the names
can be listed and checked without loading TensorFlow.
"""

from __future__ import annotations

from kt_twostage.compare.budget import (
    bayesian_initial_points,
    plan_hyperband,
    random_search_trials,
    reinvested_stage2_trials,
)
from kt_twostage.replay.settings import LEARNING_RATE_HP, OBJECTIVE, UNITS_HP
from kt_twostage.schedule.compass import (
    COMPASS,
    RECOMMENDED_VARIANT,
    SCOUT,
    TWO_STARTS,
    VARIANT_OPTIONS,
    VARIANT_PATIENCE,
)

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


def _unbounded_trials(budget):
    """`max_trials` for a tuner that the budget rule stops: more trials than
    the budget has epochs, so the oracle never runs out first."""
    return budget + 1


def random_search_early_stopping(space, budget, seed, settings):
    """Keras Tuner's RandomSearch run with `EarlyStopping(patience=2)`.

    Trials of up to `stage2_epochs` epochs, stopped as Keras' callback stops
    them (`SEARCH_PATIENCE`), each charged the epochs it trained; new trials
    start while a whole `stage2_epochs` trial still fits in the budget, as
    the two-stage rule's `reinvest_stopped_epochs` spends saved epochs.
    """
    import keras_tuner

    return keras_tuner.oracles.RandomSearchOracle(
        objective=_objective(), max_trials=_unbounded_trials(budget), seed=seed
    )


def bayesian_early_stopping(space, budget, seed, settings):
    """Keras Tuner's BayesianOptimization run with `EarlyStopping(patience=2)`.

    As `random_search_early_stopping`, with `bayesian`'s
    `num_initial_points` (the random trials before the Gaussian process
    chooses), so that early stopping changes only how many trials follow.
    """
    import keras_tuner

    initial = bayesian_initial_points(
        random_search_trials(budget, settings.stage2_epochs)
    )
    return keras_tuner.oracles.BayesianOptimizationOracle(
        objective=_objective(),
        max_trials=_unbounded_trials(budget),
        num_initial_points=initial,
        seed=seed,
    )


def optuna_tpe(space, budget, seed, settings):
    """Optuna's `TPESampler(multivariate=True, seed=seed)` with no pruner
    (`NopPruner`): every trial trains `stage2_epochs` epochs."""
    from kt_twostage.replay.optuna_search import OptunaSearch

    return OptunaSearch(space, seed, pruner="none")


def optuna_tpe_hyperband(space, budget, seed, settings):
    """`optuna_tpe`'s sampler with `HyperbandPruner(min_resource=1,
    max_resource=stage2_epochs, reduction_factor=3)`, asked after every
    epoch."""
    from kt_twostage.replay.optuna_search import OptunaSearch

    return OptunaSearch(
        space, seed, pruner="hyperband", max_resource=settings.stage2_epochs
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

    `options` may set `stage1_epochs` (the variant's own; the budget B stays
    the reference schedule's). A variant that reinvests saved epochs spends
    what the budget leaves after its stage 1 on stage 2 (`stage2_trials` is
    set so that its stage-2 epochs fill it); otherwise it keeps the
    reference's `stage2_trials`.
    """

    def factory(space, budget, seed, settings):
        from kt_twostage import TwoStageOracle

        chosen = {"stage1_epochs": settings.stage1_epochs, **options}
        stage2_trials = settings.stage2_trials
        if chosen.get("reinvest_stopped_epochs"):
            stage2_trials = reinvested_stage2_trials(
                budget,
                len(space.units),
                chosen["stage1_epochs"],
                settings.stage2_epochs,
            )
        return TwoStageOracle(
            objective=_objective(),
            units_hp=UNITS_HP,
            learning_rate_hp=LEARNING_RATE_HP,
            stage2_epochs=settings.stage2_epochs,
            stage2_trials=stage2_trials,
            max_learning_rate=settings.max_learning_rate,
            stage1_learning_rate=settings.stage1_learning_rate,
            seed=seed,
            **chosen,
        )

    return factory


SCOUT_STAGE1_TWO_EPOCHS = "two-stage-scout-s1e2"
EARLY_STOP = {
    "stage2_patience": VARIANT_PATIENCE,
    "reinvest_stopped_epochs": True,
}
TUNERS = {
    # The reference rule; it stops when its schedule ends, also when the
    # budget would allow more.
    REFERENCE: two_stage_variant(),
    "random": random_search,
    "random-es": random_search_early_stopping,
    "bayesian": bayesian,
    "bayesian-es": bayesian_early_stopping,
    "hyperband": hyperband,
    "optuna-tpe": optuna_tpe,
    "optuna-tpe-hyperband": optuna_tpe_hyperband,
    # The variant: a compass search from the stage-1 learning rate, with
    # early-stopped trials whose saved epochs buy more stage-2 steps...
    "two-stage-compass": two_stage_variant(**VARIANT_OPTIONS),
    # ... and each of its two parts alone.
    "two-stage-compass-only": two_stage_variant(stage2_rule=COMPASS),
    "two-stage-early-stop": two_stage_variant(**EARLY_STOP),
    # A candidate: 4 learning rates spread over the range, then the compass
    # search from the best (`schedule.scout`), with early stopping.
    "two-stage-scout": two_stage_variant(stage2_rule=SCOUT, **EARLY_STOP),
    # A candidate: the compass search from two starts, the stage-1 learning
    # rate and the maximum, with early stopping.
    "two-stage-two-starts": two_stage_variant(stage2_rule=TWO_STARTS, **EARLY_STOP),
    # The scout rule after a stage 1 of 2 epochs per width ("s1e2"): one
    # epoch ranks the widths by how fast they start, not by how well they
    # learn (LCBench's first epoch does not separate them).
    SCOUT_STAGE1_TWO_EPOCHS: two_stage_variant(**RECOMMENDED_VARIANT),
}
# Trials of these tuners are stopped as `EarlyStopping(patience)` stops them.
SEARCH_PATIENCE = {"random-es": VARIANT_PATIENCE, "bayesian-es": VARIANT_PATIENCE}
# The baselines, and the two-stage variant recommended and run by default.
BASELINE_TUNERS = (
    "random",
    "random-es",
    "bayesian",
    "bayesian-es",
    "hyperband",
    "optuna-tpe",
    "optuna-tpe-hyperband",
)
RECOMMENDED = SCOUT_STAGE1_TWO_EPOCHS
# Run when `--tuners` is not given; `--tuners all` runs every one of `TUNERS`.
DEFAULT_TUNERS = (REFERENCE, *BASELINE_TUNERS, RECOMMENDED)
ALL = "all"


def check_tuner_names(names) -> tuple:
    """`names` as a tuple, each one checked against `TUNERS`.

    `("all",)` is every tuner of `TUNERS`.

    Raises:
        ValueError: an unknown or repeated name, or none at all.
    """
    names = tuple(names)
    if names == (ALL,):
        return tuple(TUNERS)
    if not names:
        raise ValueError(f"Expected at least one tuner of {', '.join(TUNERS)}.")
    for name in names:
        if name not in TUNERS:
            raise ValueError(
                f"Unknown tuner {name!r}; expected some of {', '.join(TUNERS)}, "
                f"or {ALL!r} alone."
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"Tuners named more than once: {', '.join(repeated)}.")
    return names
