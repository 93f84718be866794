"""The hierarchical bootstrap (table noise) on synthetic tables whose
recorded seeds agree or disagree (see `peaked_tables`)."""

import json

import numpy as np
import pytest
from peaked_tables import SEED_SIGNS, write_table

from kt_twostage.replay.bootstrap import (
    TableBootstrap,
    percentile_interval,
    ranks,
    run_outcomes,
)
from kt_twostage.replay.outputs import write_outputs
from kt_twostage.replay.run import run_replay
from kt_twostage.replay.settings import resolve_settings
from kt_twostage.replay.table_noise import table_noise
from kt_twostage.tabular.table import read_table

SEEDS = (0, 1, 2, 3)
SPREAD = 0.01


def replay(tmp_path, name, spread, tuners=("two-stage", "random"), seeds=12):
    path = write_table(tmp_path / f"{name}.csv", seeds=SEEDS, seed_spread=spread)
    curves = read_table(path)
    settings = resolve_settings(curves, stage2_trials=5)
    return run_replay(
        curves, settings, tuners=tuners, budgets=(1.0,), seeds=seeds, workers=1
    )


@pytest.fixture(scope="module")
def agreeing(tmp_path_factory):
    return replay(tmp_path_factory.mktemp("a"), "agree", 0.0)


@pytest.fixture(scope="module")
def disagreeing(tmp_path_factory):
    return replay(tmp_path_factory.mktemp("d"), "disagree", SPREAD)


def _width(run, tuner):
    noise = table_noise(run, replicates=400)[1.0]
    low, high = percentile_interval(noise.means[tuner])
    return high - low


def test_unresampled_tables_give_the_searches_outcomes(disagreeing):
    run = disagreeing
    bootstrap = TableBootstrap(run.curves, run.settings.stage2_epochs, replicates=3)
    identity = np.broadcast_to(np.arange(len(SEEDS)), bootstrap.seed_maps.shape)
    for tuner in run.tuners:
        results = [r for r in run.results if r.search.tuner == tuner]
        rescored = bootstrap.rescored(results, seed_maps=identity)
        expected = [r.test_accuracy for r in results]
        np.testing.assert_allclose(rescored, np.tile(expected, (3, 1)), atol=1e-12)


def test_the_interval_widens_when_the_recorded_seeds_disagree(agreeing, disagreeing):
    # Two-stage chooses the same configuration in every search: with seeds
    # that agree, nothing is left to vary.
    assert _width(agreeing, "two-stage") < 1e-9
    assert _width(disagreeing, "two-stage") > SPREAD / 2
    assert _width(disagreeing, "random") > _width(agreeing, "random")


def test_per_recorded_seed_means_show_the_disagreement(disagreeing):
    noise = table_noise(disagreeing, replicates=10)[1.0]
    for tuner in disagreeing.tuners:
        by_seed = noise.by_recorded_seed[tuner]
        assert list(by_seed) == list(SEEDS)
        for seed in SEEDS:
            shift = SPREAD * (SEED_SIGNS[seed] - SEED_SIGNS[0])
            assert by_seed[seed] - by_seed[0] == pytest.approx(shift, abs=1e-9)


def test_the_optimum_is_recomputed_on_each_resampled_table(disagreeing):
    curves = disagreeing.curves
    bootstrap = TableBootstrap(curves, 9, replicates=200)
    recorded = run_outcomes(curves, 9).mean(axis=-1).max()
    # Seeds 1 and 3 are the better ones: some tables draw only those.
    assert bootstrap.optimum.min() < recorded < bootstrap.optimum.max()


def test_ranks_share_ties():
    means = {"a": np.array([0.8, 0.7]), "b": np.array([0.8, 0.9]), "c": np.zeros(2)}
    ranked = ranks(means)
    assert ranked["a"].tolist() == [1.5, 2.0]
    assert ranked["b"].tolist() == [1.5, 1.0]
    assert ranked["c"].tolist() == [3.0, 3.0]


@pytest.mark.parametrize("replicates", [1, 2.5, True])
def test_replicates_are_checked(disagreeing, replicates):
    with pytest.raises(ValueError, match="argument `replicates`, expected an"):
        TableBootstrap(disagreeing.curves, 9, replicates=replicates)


def test_summary_json_carries_the_table_noise(disagreeing, tmp_path):
    paths = write_outputs(disagreeing, tmp_path)
    with open(paths["summary.json"]) as handle:
        entry = json.load(handle)["1x"]["random"]
    noise = entry["table_noise"]
    assert noise["mean_test"]["mean"] == pytest.approx(entry["mean_test"])
    low, high = noise["mean_test"]["ci95_low"], noise["mean_test"]["ci95_high"]
    assert low < entry["mean_test"] < high
    diff = noise["diff_vs_two-stage"]
    assert diff["ci95_low"] < diff["ci95_high"]
    assert set(diff["by_recorded_seed"]) == {str(s) for s in SEEDS}
    assert 1.0 <= noise["rank"]["mean"] <= 2.0
    with open(paths["summary.md"]) as handle:
        assert "### With the table's noise, budget 1x" in handle.read()


def test_replicates_are_centred_on_the_observed_means(disagreeing):
    noise = table_noise(disagreeing, replicates=200)[1.0]
    for tuner in disagreeing.tuners:
        outcomes = [
            r.test_accuracy for r in disagreeing.results if r.search.tuner == tuner
        ]
        assert noise.point_means[tuner] == pytest.approx(np.mean(outcomes))
        assert noise.means[tuner].mean() == pytest.approx(noise.point_means[tuner])
        regret = noise.normalised_regret[tuner]
        assert regret.mean() == pytest.approx(
            noise.point_normalised_regret[tuner], abs=0.05
        )
