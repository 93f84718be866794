"""`kt-twostage replay`: real oracles against a synthetic table with a known
optimum (see `replay_tables`)."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from replay_tables import BEST_RATE, BEST_UNITS, EPOCHS, UNITS, write_table

from kt_twostage.cli import main
from kt_twostage.replay.lookup import CurveLookup, table_optimum
from kt_twostage.replay.run import run_replay
from kt_twostage.replay.search import (
    ENDED_BY_BUDGET,
    ENDED_BY_ORACLE,
    Search,
    replay_search,
    search_streams,
)
from kt_twostage.replay.settings import (
    budget_epochs,
    reference_budget,
    resolve_settings,
    search_space,
)
from kt_twostage.replay.stats import mean_interval, paired_difference
from kt_twostage.replay.summary import DIFF_KEY, diff_key
from kt_twostage.replay.tuners import DEFAULT_TUNERS, TUNERS
from kt_twostage.tabular.table import read_table

FAST_TUNERS = ("two-stage", "random", "hyperband")


@pytest.fixture
def table(tmp_path):
    return write_table(tmp_path / "table.csv")


@pytest.fixture
def curves(table):
    return read_table(table)


def search(curves, tuner, multiple, seed_index=0, replay_seed=0, **schedule):
    settings = resolve_settings(curves, **schedule)
    space = search_space(curves, settings)
    epochs = budget_epochs(multiple, settings, space)
    return replay_search(
        CurveLookup(curves),
        space,
        settings,
        Search(tuner, multiple, epochs, seed_index),
        replay_seed=replay_seed,
    )


def test_defaults_follow_the_table(curves):
    settings = resolve_settings(curves)
    assert settings.stage2_epochs == EPOCHS
    assert settings.stage2_trials == 11
    assert (settings.stage1_epochs, settings.stage1_learning_rate) == (1, 0.001)
    assert settings.max_learning_rate == 0.02
    space = search_space(curves, settings)
    assert reference_budget(settings, space) == len(UNITS) * 1 + 11 * EPOCHS
    assert budget_epochs(0.25, settings, space) == math.floor(0.25 * 102)


def test_two_stage_replays_the_schedule_rule(curves):
    result = search(curves, "two-stage", 1.0)
    lookup = CurveLookup(curves)
    stage1, stage2 = result.trials[: len(UNITS)], result.trials[len(UNITS) :]
    assert [t.units for t in stage1] == list(UNITS)
    assert all(t.learning_rate == 0.001 and t.last_epoch == 1 for t in stage1)
    winner = max(stage1, key=lambda t: t.val_accuracy).units
    assert winner == BEST_UNITS
    # Stage 2 from the maximum: halve after an improvement, else halfway back.
    assert len(stage2) == 11
    rate, previous = 0.02, None
    for trial in stage2:
        assert trial.units == winner
        assert (trial.first_epoch, trial.last_epoch) == (1, EPOCHS)
        assert trial.learning_rate == pytest.approx(rate)
        expected = lookup.train(
            trial.units, trial.learning_rate, trial.table_seed_index, 1, EPOCHS
        )
        assert trial.val_accuracy == expected.val_accuracy
        improved = previous is None or trial.val_accuracy > previous
        rate = rate / 2 if improved else (0.02 + rate) / 2
        previous = trial.val_accuracy
    best = max(stage2, key=lambda t: t.val_accuracy)
    assert result.chosen_trial_id == best.trial_id
    assert result.test_accuracy == best.test_accuracy
    assert (result.units, result.learning_rate) == (BEST_UNITS, BEST_RATE)
    assert result.ended_by == ENDED_BY_ORACLE
    assert result.epochs_used == reference_budget(
        resolve_settings(curves), search_space(curves, resolve_settings(curves))
    )


@pytest.mark.parametrize(
    "tuner, multiple, schedule",
    [
        ("two-stage", 1.0, {}),
        ("random", 2.0, {}),
        ("bayesian", 2.0, {"stage2_trials": 5}),
        ("hyperband", 2.0, {}),
    ],
)
def test_each_tuner_reaches_the_known_optimum(curves, tuner, multiple, schedule):
    # A single random configuration has a regret of about 0.06 here.
    optimum = table_optimum(curves).test_accuracy
    results = [search(curves, tuner, multiple, i, **schedule) for i in range(3)]
    assert [r.units for r in results] == [BEST_UNITS] * 3
    assert np.mean([optimum - r.test_accuracy for r in results]) < 0.01


def test_hyperband_continues_the_parent_curve(curves):
    result = search(curves, "hyperband", 2.0)
    lookup = CurveLookup(curves)
    logs = {t.trial_id: t for t in result.trials}
    continued = [t for t in result.trials if t.parent_id is not None]
    assert continued, "the budget should allow successive halving"
    for trial in continued:
        parent = logs[trial.parent_id]
        assert (trial.units, trial.learning_rate) == (
            parent.units,
            parent.learning_rate,
        )
        assert trial.table_seed_index == parent.table_seed_index
        assert trial.first_epoch == parent.last_epoch + 1
        val = lookup.curve(
            "val_accuracy", trial.units, trial.learning_rate, trial.table_seed_index
        )
        window = val[trial.first_epoch - 1 : trial.last_epoch]
        assert trial.val_accuracy == window.max()
        assert trial.first_epoch <= trial.best_epoch <= trial.last_epoch


def test_new_trials_draw_every_recorded_seed(curves):
    result = search(curves, "random", 4.0)
    assert {t.table_seed_index for t in result.trials} == {0, 1}


def test_budgets_are_never_exceeded(curves):
    settings = resolve_settings(curves, stage2_trials=5)
    budgets = (0.25, 0.5, 1.0, 2.0, 3.0)
    run = run_replay(
        curves, settings, tuners=FAST_TUNERS, budgets=budgets, seeds=3, workers=1
    )
    reference = reference_budget(settings, search_space(curves, settings))
    for result in run.results:
        budget, tuner = result.search.budget_epochs, result.search.tuner
        spent = sum(t.last_epoch - t.first_epoch + 1 for t in result.trials)
        assert spent == result.epochs_used <= budget
        if result.ended_by == ENDED_BY_BUDGET:
            # The next trial did not fit: at most one trial's epochs were left.
            assert budget - result.epochs_used < settings.stage2_epochs
        if tuner == "random":
            assert len(result.trials) == budget // settings.stage2_epochs
        if tuner == "two-stage" and budget >= reference:
            assert result.epochs_used == reference
            assert result.ended_by == ENDED_BY_ORACLE
    assert {r.ended_by for r in run.results if r.search.tuner == "hyperband"} == {
        ENDED_BY_BUDGET
    }


def test_bayesian_budget_and_trials(curves):
    settings = resolve_settings(curves, stage2_trials=5)
    run = run_replay(
        curves, settings, tuners=("bayesian",), budgets=(1.0,), seeds=2, workers=1
    )
    budget = len(UNITS) + 5 * EPOCHS
    for result in run.results:
        assert len(result.trials) == budget // EPOCHS
        assert result.epochs_used == len(result.trials) * EPOCHS


def _fingerprint(run):
    return [
        (r.search, r.oracle_seed, r.test_accuracy, r.trials, r.incumbents)
        for r in run.results
    ]


def test_replay_is_deterministic_and_independent_of_workers(curves):
    settings = resolve_settings(curves, stage2_trials=5)
    kwargs = {"tuners": tuple(TUNERS), "budgets": (0.5, 1.0), "seeds": 2}
    first = run_replay(curves, settings, workers=1, **kwargs)
    again = run_replay(curves, settings, workers=1, **kwargs)
    parallel = run_replay(curves, settings, workers=2, **kwargs)
    assert (first.workers, parallel.workers) == (1, 2)
    assert _fingerprint(first) == _fingerprint(again) == _fingerprint(parallel)
    other = run_replay(curves, settings, workers=1, replay_seed=7, **kwargs)
    assert _fingerprint(other) != _fingerprint(first)


def test_tuners_never_share_an_oracle_seed(curves):
    seeds = {
        tuner: [search_streams(0, tuner, index)[0] for index in range(50)]
        for tuner in TUNERS
    }
    every = sorted(s for values in seeds.values() for s in values)
    assert len(set(every)) == len(every)
    # Keras Tuner draws value k with random.Random(seed + k): keep them apart.
    assert min(np.diff(every)) > 1000
    assert all(0 < s < 2**32 for s in every)
    # RandomSearch and Hyperband used to start from the same values.
    random_values = [
        (t.units, t.learning_rate) for t in search(curves, "random", 1.0).trials
    ]
    hyperband_values = [
        (t.units, t.learning_rate) for t in search(curves, "hyperband", 1.0).trials
    ]
    assert not set(random_values) & set(hyperband_values)


def test_streams_do_not_depend_on_the_budget(curves):
    small = search(curves, "random", 1.0)
    large = search(curves, "random", 2.0)
    assert small.oracle_seed == large.oracle_seed
    assert small.trials == large.trials[: len(small.trials)]


def test_confidence_intervals():
    interval = mean_interval([1.0, 2.0, 3.0, 4.0])
    # t(0.975, 3) = 3.1824; sd = 1.2910.
    assert interval.mean == 2.5
    assert interval.high - interval.mean == pytest.approx(3.1824 * 1.2910 / 2, 1e-3)
    assert math.isnan(mean_interval([0.5]).low)
    difference = paired_difference([0.8, 0.9, 0.7], [0.7, 0.8, 0.6])
    assert difference.mean == pytest.approx(0.1)
    assert difference.low == pytest.approx(0.1) and difference.n == 3
    with pytest.raises(ValueError, match="as many values"):
        paired_difference([1.0], [1.0, 2.0])


def replay_cli(table, tmp_path, *extra):
    # One stage-1 rate: one entry, written into --out itself.
    rate = () if "--stage1-learning-rate" in extra else ("--defaults", "0.001")
    return main(
        [
            "replay",
            table,
            *rate,
            "--seeds",
            "3",
            "--budgets",
            "0.5,1",
            "--stage2-trials",
            "5",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "out"),
            *extra,
        ]
    )


def test_cli_writes_the_outputs(table, tmp_path, capsys):
    assert replay_cli(table, tmp_path) == 0
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == ["0.5x", "1x"]
    for entries in summary.values():
        assert list(entries) == list(DEFAULT_TUNERS)
        reference = entries["two-stage"]
        assert DIFF_KEY not in reference
        for name, entry in entries.items():
            for key in ("mean_test", "ci95_low", "ci95_high", "n_seeds", "mean_epochs"):
                assert entry[key] is not None, (name, key)
            assert entry["n_seeds"] == 3
            assert entry["ci95_low"] <= entry["mean_test"] <= entry["ci95_high"]
            assert entry["mean_epochs"] <= entry["budget_epochs"]
            if name != "two-stage":
                assert entry[DIFF_KEY]["mean"] == pytest.approx(
                    entry["mean_test"] - reference["mean_test"]
                )
            # Every tuner is also compared, paired, with each built-in tuner
            # but itself.
            for builtin in ("random", "bayesian", "hyperband"):
                if name != builtin:
                    assert entry[diff_key(builtin)]["mean"] == pytest.approx(
                        entry["mean_test"] - entries[builtin]["mean_test"]
                    )
                else:
                    assert diff_key(builtin) not in entry
    details = json.loads((out / "replay.json").read_text())
    assert details["optimum"]["units"] == BEST_UNITS
    assert details["budgets"] == {"0.5x": 24, "1x": 48}
    rows = (out / "searches.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * len(DEFAULT_TUNERS) * 3
    assert (out / "regret.png").read_bytes()[:4] == b"\x89PNG"
    markdown = (out / "summary.md").read_text()
    assert "## Budget 1x (48 epochs)" in markdown and "| hyperband |" in markdown
    # Each table row has as many cells as its header.
    for block in markdown.split("## Budget")[1:]:
        plain, noisy = block.split("### With the table's noise")
        table = [line for line in plain.splitlines() if line.startswith("|")]
        assert "vs bayesian [95% CI]" in table[0]
        assert {line.count("|") for line in table} == {table[0].count("|")}
        table = [line for line in noisy.splitlines() if line.startswith("|")]
        assert "vs random-es [CI]" in table[0] and "seed 1 |" in table[0]
        assert {line.count("|") for line in table} == {table[0].count("|")}
    assert "## Budget 1x" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--stage2-epochs", "10"], "--stage2-epochs is 10, but the table"),
        (["--stage1-epochs", "0"], "--stage1-epochs must be a positive integer"),
        (["--stage1-learning-rate", "0.5"], "--stage1-learning-rate is 0.5, outside"),
        (["--max-learning-rate", "1e-9"], "--max-learning-rate is 1e-09, outside"),
        (["--tuners", "random,grid"], "Unknown tuner 'grid'"),
        (["--budgets", "0"], "positive multiples of B, got 0.0"),
        (["--budgets", "0.05"], "less than one trial of 9 epochs"),
        (["--budgets", "one"], "--budgets expects comma-separated values"),
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_bad_flags_exit_2_with_one_line(table, tmp_path, capsys, flags, message):
    assert replay_cli(table, tmp_path, *flags) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("kt-twostage replay: error: ")
    assert message in err
    assert not (tmp_path / "out").exists()


def test_missing_table_exits_2(tmp_path, capsys):
    assert replay_cli(str(tmp_path / "none.csv"), tmp_path) == 2
    assert "does not exist" in capsys.readouterr().err


def test_malformed_row_names_its_line(table, tmp_path, capsys):
    lines = open(table).read().splitlines()
    lines[5] = lines[5].replace(lines[5].split(",")[4], "abc", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    assert replay_cli(str(bad), tmp_path) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "line 6: `val_accuracy` must be a number, got 'abc'" in err


def test_missing_run_is_named_and_partial_uses_complete_seeds(tmp_path, capsys):
    path = write_table(tmp_path / "partial.csv", skip={(32, 0.02, 1)})
    assert replay_cli(path, tmp_path) == 1
    err = capsys.readouterr().err
    assert "units=32, learning_rate=0.02, seed=1 is missing" in err
    assert "--partial" in err
    assert replay_cli(path, tmp_path, "--partial") == 0
    details = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert details["table"]["seeds"] == [0]


def test_flags_are_checked_before_keras_loads(table):
    # `main` checks the flags (and the table) before it imports Keras.
    script = (
        "import sys\n"
        "from kt_twostage.cli import main\n"
        f"status = main(['replay', {table!r}, '--stage2-epochs', '99'])\n"
        "heavy = [m for m in ('keras', 'keras_tuner', 'tensorflow') "
        "if m in sys.modules]\n"
        "print(status, heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "2 []"
    assert "--stage2-epochs is 99" in done.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "kt_twostage", "replay", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--stage1-learning-rate" in helped.stdout
