"""The replay's baselines with early stopping and Optuna's TPE, on synthetic
tables with a known optimum and curves that peak (see `peaked_tables`)."""

import numpy as np
import pytest
from peaked_tables import EPOCHS, PEAK_EPOCH, write_table
from replay_tables import BEST_RATE, BEST_UNITS

from kt_twostage.replay.lookup import CurveLookup, table_optimum
from kt_twostage.replay.optuna_search import OptunaSearch
from kt_twostage.replay.search import ENDED_BY_BUDGET, Search, replay_search
from kt_twostage.replay.settings import budget_epochs, resolve_settings, search_space
from kt_twostage.replay.tuners import (
    ALL,
    BASELINE_TUNERS,
    DEFAULT_TUNERS,
    RECOMMENDED,
    REFERENCE,
    SEARCH_PATIENCE,
    TUNERS,
    check_tuner_names,
)
from kt_twostage.schedule.compass import VARIANT_PATIENCE
from kt_twostage.tabular.table import read_table

NEW_BASELINES = ("random-es", "bayesian-es", "optuna-tpe", "optuna-tpe-hyperband")


@pytest.fixture(scope="module")
def curves(tmp_path_factory):
    return read_table(write_table(tmp_path_factory.mktemp("t") / "peaked.csv"))


def search(curves, tuner, multiple, seed_index=0, **schedule):
    settings = resolve_settings(curves, **schedule)
    space = search_space(curves, settings)
    epochs = budget_epochs(multiple, settings, space)
    return replay_search(
        CurveLookup(curves),
        space,
        settings,
        Search(tuner, multiple, epochs, seed_index),
    )


def test_names_and_defaults():
    assert set(NEW_BASELINES) <= set(TUNERS)
    assert DEFAULT_TUNERS == (REFERENCE, *BASELINE_TUNERS, RECOMMENDED)
    assert check_tuner_names([ALL]) == tuple(TUNERS)
    assert SEARCH_PATIENCE == {
        "random-es": VARIANT_PATIENCE,
        "bayesian-es": VARIANT_PATIENCE,
    }
    with pytest.raises(ValueError, match="Unknown tuner 'optuna'.*'all' alone"):
        check_tuner_names(["optuna"])


@pytest.mark.parametrize("tuner", ["random-es", "bayesian-es"])
def test_early_stopping_baselines_charge_trained_epochs_and_reinvest(curves, tuner):
    multiple = 1.0 if tuner == "bayesian-es" else 2.0
    result = search(curves, tuner, multiple)
    budget = result.search.budget_epochs
    # Keras' EarlyStopping(patience=2) stops 2 epochs after the peak.
    stopped_at = PEAK_EPOCH + VARIANT_PATIENCE
    assert {t.last_epoch for t in result.trials} == {stopped_at}
    assert {t.best_epoch for t in result.trials} == {PEAK_EPOCH}
    assert result.epochs_used == stopped_at * len(result.trials)
    # Trials go on while a whole one fits: more than `budget // EPOCHS`.
    assert result.ended_by == ENDED_BY_BUDGET
    assert budget - result.epochs_used < EPOCHS
    assert len(result.trials) > budget // EPOCHS


def test_optuna_tpe_trains_whole_trials(curves):
    result = search(curves, "optuna-tpe", 1.0)
    budget = result.search.budget_epochs
    assert [t.last_epoch for t in result.trials] == [EPOCHS] * (budget // EPOCHS)
    assert result.ended_by == ENDED_BY_BUDGET
    assert [t.trial_id for t in result.trials] == [
        str(i) for i in range(len(result.trials))
    ]
    chosen = max(result.trials, key=lambda t: t.val_accuracy)
    assert result.chosen_trial_id == chosen.trial_id
    assert result.best_epoch == PEAK_EPOCH


def test_optuna_hyperband_prunes_and_charges_trained_epochs(curves):
    result = search(curves, "optuna-tpe-hyperband", 2.0)
    budget = result.search.budget_epochs
    lengths = [t.last_epoch for t in result.trials]
    assert min(lengths) < EPOCHS, "the pruner should stop some trials"
    assert result.epochs_used == sum(lengths) <= budget
    assert budget - result.epochs_used < EPOCHS
    # The chosen trial is a complete one (`study.best_trial`).
    assert result.trials[int(result.chosen_trial_id)].last_epoch == EPOCHS


def test_optuna_settings_are_the_documented_ones(curves):
    import optuna

    space = search_space(curves, resolve_settings(curves))
    study = OptunaSearch(space, 123, pruner="hyperband", max_resource=9).make_study()
    assert isinstance(study.sampler, optuna.samplers.TPESampler)
    assert study.sampler._multivariate and study.sampler._rng.rng is not None
    pruner = study.pruner
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    assert (pruner._min_resource, pruner._max_resource) == (1, 9)
    assert pruner._reduction_factor == 3
    plain = OptunaSearch(space, 123).make_study()
    assert isinstance(plain.pruner, optuna.pruners.NopPruner)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pruner": "median"}, "argument `pruner`, expected one of"),
        ({"pruner": "hyperband"}, "argument `max_resource`, expected a positive"),
        ({"pruner": "hyperband", "max_resource": 0}, "got 0"),
    ],
)
def test_optuna_search_checks_its_arguments(curves, kwargs, message):
    space = search_space(curves, resolve_settings(curves))
    with pytest.raises(ValueError, match=message):
        OptunaSearch(space, 1, **kwargs)


@pytest.mark.parametrize("tuner", NEW_BASELINES)
def test_each_new_baseline_reaches_the_known_optimum(curves, tuner):
    # A random configuration has a regret of about 0.06 here.
    multiple, searches = (2.0, 2) if tuner == "bayesian-es" else (4.0, 4)
    optimum = table_optimum(curves).test_accuracy
    results = [search(curves, tuner, multiple, i) for i in range(searches)]
    assert all(r.units == BEST_UNITS for r in results)
    assert np.mean([optimum - r.test_accuracy for r in results]) < 0.015
    rates = [r.learning_rate for r in results]
    assert all(abs(np.log2(rate / BEST_RATE)) < 1 for rate in rates)


@pytest.mark.parametrize("tuner", ["optuna-tpe", "optuna-tpe-hyperband", "random-es"])
def test_new_baselines_are_deterministic(curves, tuner):
    first, again = search(curves, tuner, 1.0, 3), search(curves, tuner, 1.0, 3)
    assert (first.trials, first.incumbents) == (again.trials, again.incumbents)
    other = search(curves, tuner, 1.0, 4)
    assert other.trials != first.trials


def test_recommended_variant_trains_stage1_two_epochs_and_fills_the_budget(curves):
    from kt_twostage.schedule.compass import RECOMMENDED_VARIANT

    assert RECOMMENDED_VARIANT["stage1_epochs"] == 2
    result = search(curves, RECOMMENDED, 1.0)
    widths = len(curves.units)
    stage1, stage2 = result.trials[:widths], result.trials[widths:]
    assert sorted(t.units for t in stage1) == sorted(curves.units)
    assert {(t.first_epoch, t.last_epoch) for t in stage1} == {(1, 2)}
    # Stage 2 trains only the width stage 1 kept, and spends what is left
    # (whole stage-2 trials of the budget after stage 1, and what early
    # stopping saved while a whole trial still fits).
    best_stage1 = max(stage1, key=lambda t: t.val_accuracy)
    assert {t.units for t in stage2} == {best_stage1.units}
    assert result.epochs_used <= result.search.budget_epochs
    assert result.search.budget_epochs - result.epochs_used < 2 * EPOCHS
