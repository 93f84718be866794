"""`kt-twostage replay` over several tables and stage-1 learning rates: the
suite (see `kt_twostage.replay.suite`)."""

import json
import types

import numpy as np
import pytest
from peaked_tables import write_table as write_peaked
from replay_tables import write_table

from kt_twostage.cli import main
from kt_twostage.replay.run import run_replay
from kt_twostage.replay.settings import resolve_settings
from kt_twostage.replay.suite import suite_markdown, suite_summary
from kt_twostage.replay.suite_run import (
    QUICK_SEEDS,
    UPPER_QUARTILE,
    entry_name,
    stage1_rate,
)
from kt_twostage.replay.table_noise import BudgetNoise
from kt_twostage.replay.tuners import BASELINE_TUNERS
from kt_twostage.tabular.table import read_table


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    return (
        write_table(folder / "smooth.csv"),
        write_peaked(folder / "peaked.csv", seeds=(0, 1, 2), seed_spread=0.005),
    )


def test_stage1_rates(tables):
    curves = read_table(tables[0])
    # 0.0003125 to 0.02: the upper geometric quartile is 0.0003125 * 64**0.75.
    assert stage1_rate(curves, UPPER_QUARTILE) == pytest.approx(0.00707107)
    imdb_like = types.SimpleNamespace(learning_rates=(7.8125e-05, 0.02))
    assert stage1_rate(imdb_like, UPPER_QUARTILE) == 0.005
    assert stage1_rate(curves, "0.001") == 0.001
    for bad in ("fast", "-1", "inf"):
        with pytest.raises(ValueError, match="stage-1 learning rate"):
            stage1_rate(curves, bad)
    assert entry_name("/a/imdb-cpu.csv", 0.005) == "imdb-cpu-lr0.005"


def test_baselines_do_not_read_the_stage1_rate(tables):
    # The suite reuses the baselines' searches at every stage-1 rate.
    curves = read_table(tables[1])
    runs = [
        run_replay(
            curves,
            resolve_settings(curves, stage2_trials=5, stage1_learning_rate=rate),
            tuners=BASELINE_TUNERS,
            budgets=(1.0,),
            seeds=1,
            workers=1,
        )
        for rate in (0.001, 0.005)
    ]
    first, second = ([(r.search, r.trials) for r in run.results] for run in runs)
    assert first == second


def _noise(means, optimum=0.9, floor=0.8):
    replicates = len(next(iter(means.values())))
    ranks = {}
    matrix = np.stack(list(means.values()), axis=1)
    for i, tuner in enumerate(means):
        ranks[tuner] = 1.0 + (matrix > matrix[:, [i]]).sum(axis=1)
    optima = np.full(replicates, optimum)
    return BudgetNoise(
        means=means,
        ranks=ranks,
        normalised_regret={
            t: (optima - m) / (optimum - floor) for t, m in means.items()
        },
        point_means={t: float(m.mean()) for t, m in means.items()},
        point_normalised_regret={
            t: float((optimum - m.mean()) / (optimum - floor)) for t, m in means.items()
        },
        by_recorded_seed={t: {} for t in means},
    )


def _entry(name, means):
    run = types.SimpleNamespace(
        tuners=tuple(means),
        budgets=((1.0, 100),),
        curves=types.SimpleNamespace(path=f"{name}.csv"),
        settings=types.SimpleNamespace(stage1_learning_rate=0.001),
        seeds=10,
    )
    return run, {1.0: _noise(means)}


def test_suite_summary_of_known_tuners():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.001, size=500)
    entries = {
        # "best" reaches the optimum everywhere; "mixed" ties "worst" on one
        # entry (intervals overlap) and beats it on the other.
        "a": _entry(
            "a",
            {
                "best": 0.9 + noise,
                "mixed": 0.85 + noise,
                "worst": 0.85 + 0 * noise + rng.normal(0, 0.01, 500),
            },
        ),
        "b": _entry(
            "b", {"best": 0.9 + noise, "mixed": 0.88 + noise, "worst": 0.80 + noise}
        ),
    }
    suite = suite_summary(entries)["budgets"]["1x"]
    assert suite["best"]["mean_rank"]["mean"] == 1.0
    assert suite["best"]["mean_normalised_regret"]["mean"] == pytest.approx(
        0.0, abs=1e-3
    )
    assert suite["best"]["versus"]["worst"]["wins"] == 2
    assert suite["worst"]["versus"]["best"]["losses"] == 2
    mixed = suite["mixed"]["versus"]["worst"]
    assert (mixed["wins"], mixed["ties"], mixed["losses"]) == (1, 1, 0)
    assert mixed["entries"] == {"wins": ["b"], "ties": ["a"], "losses": []}
    low, high = (
        suite["worst"]["mean_rank"]["ci95_low"],
        suite["worst"]["mean_rank"]["ci95_high"],
    )
    assert 2.0 <= low < high <= 3.0
    assert suite["mixed"]["per_entry"]["b"] == {
        "rank": 2.0,
        "normalised_regret": pytest.approx(0.2, abs=1e-3),
        "mean_test": pytest.approx(0.88, abs=1e-3),
    }
    markdown = suite_markdown(suite_summary(entries))
    assert "| best | 1.00 [1.00, 1.00] |" in markdown


def test_suite_needs_the_same_tuners():
    entries = {
        "a": _entry("a", {"x": np.zeros(3)}),
        "b": _entry("b", {"y": np.zeros(3)}),
    }
    with pytest.raises(ValueError, match="same tuners and budgets; 'b' has"):
        suite_summary(entries)


def test_cli_writes_a_suite(tables, tmp_path, capsys):
    out = tmp_path / "suite"
    status = main(
        [
            "replay",
            *tables,
            "--tuners",
            "two-stage,random,optuna-tpe,two-stage-compass",
            "--seeds",
            "4",
            "--budgets",
            "1",
            "--stage2-trials",
            "5",
            "--workers",
            "1",
            "--out",
            str(out),
        ]
    )
    assert status == 0
    names = [
        "smooth-lr0.001",
        "smooth-lr0.00707107",
        "peaked-lr0.001",
        "peaked-lr0.00707107",
    ]
    for name in names:
        assert (out / name / "summary.json").is_file()
    suite = json.loads((out / "suite.json").read_text())
    assert list(suite["entries"]) == names
    assert suite["entries"]["peaked-lr0.00707107"]["stage1_learning_rate"] == 0.00707107
    tuners = suite["budgets"]["1x"]
    assert set(tuners) == {"two-stage", "random", "optuna-tpe", "two-stage-compass"}
    for entry in tuners.values():
        for record in entry["versus"].values():
            assert record["wins"] + record["ties"] + record["losses"] == 4
        assert 1.0 <= entry["mean_rank"]["mean"] <= 4.0
    assert suite["seconds"]["total"] > 0
    assert (out / "suite.png").read_bytes()[:4] == b"\x89PNG"
    # The baselines' searches are shared by both stage-1 rates of a table.
    low = (out / "smooth-lr0.001" / "searches.csv").read_text().splitlines()
    high = (out / "smooth-lr0.00707107" / "searches.csv").read_text().splitlines()
    strip = lambda rows, tuner: [r.rsplit(",", 1)[0] for r in rows if f",{tuner}," in r]  # noqa: E731
    assert strip(low, "random") == strip(high, "random")
    assert strip(low, "two-stage-compass") != strip(high, "two-stage-compass")
    assert "# Replay suite" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--quick", "--seeds", "5"], f"--quick sets --seeds to {QUICK_SEEDS}"),
        (
            ["--defaults", "0.001", "--stage1-learning-rate", "0.001"],
            "give one of them",
        ),
        (["--defaults", "fast"], "got 'fast'"),
        (["--defaults", "0.5"], "--defaults is 0.5, outside"),
        (["--defaults", "0.001,0.001"], "names a rate twice"),
        (["--tuners", "all,random"], "Unknown tuner 'all'"),
    ],
)
def test_bad_suite_flags_exit_2(tables, tmp_path, capsys, flags, message):
    assert main(["replay", *tables, "--out", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "o").exists()


def test_the_same_table_twice_is_refused(tables, tmp_path, capsys):
    assert main(["replay", tables[0], tables[0], "--out", str(tmp_path / "o")]) == 2
    assert "two entries are named 'smooth-lr0.001'" in capsys.readouterr().err
