"""`kt-twostage record`: learning-curve tables, their format and resume.

In this process `record_table` runs with `deterministic=False`: TensorFlow's
op determinism is global and would stay on for every later test. The
determinism test runs the command in subprocesses.
"""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from kt_twostage.cli import main
from kt_twostage.imdb.sample import sample_path
from kt_twostage.tabular import record, table
from kt_twostage.tabular.profiles import TABLE_PROFILES, TableProfile, halving_rates

TINY = TableProfile(
    data=sample_path(),
    num_words=500,
    max_length=20,
    train_reviews=200,
    test_reviews=100,
    units=(2, 4),
    learning_rates=(0.001, 0.01),
    seeds=(0,),
    epochs=2,
    description="tiny, for tests",
)


def row(units=4, rate=0.01, seed=0, epoch=1, val=0.5):
    return {
        "units": units,
        "learning_rate": rate,
        "seed": seed,
        "epoch": epoch,
        "val_accuracy": val,
        "val_loss": 0.69,
        "test_accuracy": val,
        "test_loss": 0.7,
        "seconds": 1.0,
    }


def write_table(path, rows):
    table.append_rows(path, rows)
    return path


def full_grid(units=(2, 4), rates=(0.001, 0.01), seeds=(0, 1), epochs=2):
    return [
        row(u, r, s, e, val=0.5 + 0.01 * e)
        for s in seeds
        for r in rates
        for u in units
        for e in range(1, epochs + 1)
    ]


# --------------------------------------------------------------------------- #
# The format.
# --------------------------------------------------------------------------- #
def test_rows_round_trip_exactly(tmp_path):
    path = write_table(tmp_path / "t.csv", full_grid())
    curves = table.read_table(path)
    assert curves.units == (2, 4) and curves.learning_rates == (0.001, 0.01)
    assert curves.seeds == (0, 1) and curves.epochs == 2
    assert list(curves.curve("val_accuracy", 4, 0.01, 1)) == [0.51, 0.52]
    header = (tmp_path / "t.csv").read_text().splitlines()[0]
    assert header == ",".join(table.COLUMNS)


def test_append_keeps_earlier_rows(tmp_path):
    path = tmp_path / "t.csv"
    write_table(path, [row(epoch=1)])
    write_table(path, [row(epoch=2)])
    assert sorted(table.read_rows(path).runs[4, 0.01, 0]) == [1, 2]


@pytest.mark.parametrize(
    "text, message",
    [
        ("units,lr\n", "line 1: expected the header"),
        ("", "an empty file"),
        (",".join(table.COLUMNS) + "\n4,0.01,0,1,0.5\n", "line 2: expected 9 values"),
        (
            ",".join(table.COLUMNS) + "\n4,0.01,0,1,abc,0.6,0.5,0.6,1\n",
            "line 2: `val_accuracy` must be a number, got 'abc'",
        ),
        (
            ",".join(table.COLUMNS) + "\n4.5,0.01,0,1,0.5,0.6,0.5,0.6,1\n",
            "line 2: `units` must be an integer",
        ),
        (
            ",".join(table.COLUMNS) + "\n4,0.01,0,0,0.5,0.6,0.5,0.6,1\n",
            "line 2: `epoch` must be at least 1",
        ),
        (
            ",".join(table.COLUMNS) + "\n4,-1,0,1,0.5,0.6,0.5,0.6,1\n",
            "line 2: `learning_rate` must be a positive number",
        ),
        (
            ",".join(table.COLUMNS)
            + "\n4,0.01,0,1,0.5,0.6,0.5,0.6,1\n4,0.01,0,1,0.5,0.6,0.5,0.6,1\n",
            "line 3: epoch 1 of the run units=4, learning_rate=0.01, seed=0 is "
            "recorded twice",
        ),
        (
            ",".join(table.COLUMNS) + "\n4,0.01,0,1,nan,0.6,0.5,0.6,1\n",
            "line 2: `val_accuracy` is NaN",
        ),
    ],
)
def test_malformed_rows_name_the_line(tmp_path, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(table.TableError, match=message):
        table.read_table(path)


def test_missing_run_is_named(tmp_path):
    rows = [r for r in full_grid() if (r["units"], r["seed"]) != (2, 1)]
    path = write_table(tmp_path / "t.csv", rows)
    with pytest.raises(
        table.TableError,
        match=r"the run units=2, learning_rate=0\.001, seed=1 is missing.*--partial",
    ):
        table.read_table(path)
    # A partial table is usable: the complete seeds only.
    assert table.read_table(path, seeds="complete").seeds == (0,)


def test_missing_epoch_is_named(tmp_path):
    rows = [r for r in full_grid() if (r["units"], r["epoch"]) != (4, 2)]
    path = write_table(tmp_path / "t.csv", rows)
    with pytest.raises(table.TableError, match=r"lacks epoch\(s\) \[2\] of 1\.\.2"):
        table.read_table(path)


def test_halving_rates_are_the_rules_and_the_stage1_rate():
    assert halving_rates(0.02, 3) == (0.001, 0.0025, 0.005, 0.01, 0.02)


def test_profiles_meet_the_table_requirements():
    for name in ("imdb-cpu", "imdb-short", "imdb-gru-adam", "imdb-conv1d-adam"):
        profile = TABLE_PROFILES[name]
        assert len(profile.units) >= 4 and len(profile.seeds) >= 2
        assert profile.epochs >= 10 and profile.test_reviews >= 5000
        rates = profile.learning_rates
        assert len(rates) >= 8 and max(rates) == 0.02 and 0.001 in rates
        assert max(rates) / min(rates) >= 100  # at least 2 decades


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epochs": 0}, "argument `epochs`"),
        ({"units": ()}, "argument `units`, expected a non-empty tuple"),
        ({"seeds": (0, 0)}, "repeats a value"),
        ({"learning_rates": (0.01, -1.0)}, "expected positive numbers"),
        ({"validation_split": 1.0}, "between 0 and 1"),
    ],
)
def test_bad_profile_values(changes, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TINY, **changes)


def test_eta_uses_the_time_of_runs_of_the_same_size():
    done = {2: [10.0, 20.0], 4: [100.0]}
    remaining = [(2, 0.1, 0), (4, 0.1, 0), (8, 0.1, 0)]
    # 15 for units 2, 100 for units 4, the overall mean (130 / 3) for 8.
    assert record.estimate_remaining(done, remaining) == pytest.approx(
        15 + 100 + 130 / 3
    )
    assert record.estimate_remaining({}, remaining) is None
    assert record.format_duration(3725) == "1h02m"
    assert record.format_duration(185) == "3m05s"


# --------------------------------------------------------------------------- #
# Recording.
# --------------------------------------------------------------------------- #
def test_record_writes_every_epoch_and_resumes(tmp_path, monkeypatch):
    path = tmp_path / "tiny.csv"
    lines = []
    sidecar = record.record_table(
        TINY, path, profile_name="tiny", deterministic=False, log=lines.append
    )
    curves = table.read_table(path)
    assert curves.runs == 4 and curves.epochs == 2
    assert sidecar["runs_done"] == 4 and sidecar["grid"]["runs"] == 4
    assert sidecar["data"]["train_examples"] == 160
    assert sidecar["data"]["validation_examples"] == 40
    assert sidecar["data"]["test_examples"] == 100
    assert sidecar["sessions"][0]["versions"]["keras"]
    assert any(line.startswith("[4/4] ") and "ETA" in line for line in lines)
    seconds = curves.metrics["seconds"]
    assert (seconds > 0).all()

    # Resuming trains nothing that is already in the table.
    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(record, "train_run", no_training)
    again = record.record_table(TINY, path, deterministic=False, log=lines.append)
    assert again["runs_done"] == 4 and len(again["sessions"]) == 2


def test_a_killed_record_loses_only_the_run_in_progress(tmp_path, monkeypatch):
    path = tmp_path / "tiny.csv"
    real = record.train_run
    calls = []

    def dies_on_the_third(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(record, "train_run", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        record.record_table(TINY, path, deterministic=False, log=lambda line: None)
    rows = table.read_rows(path)
    assert rows.finished(TINY.epochs) == {table.run_key(*run) for run in calls[:2]}
    monkeypatch.setattr(record, "train_run", real)
    record.record_table(TINY, path, deterministic=False, log=lambda line: None)
    assert table.read_table(path).runs == 4


def test_other_settings_are_refused_and_nothing_changes(tmp_path):
    path = tmp_path / "tiny.csv"
    write_table(path, [row()])
    with pytest.raises(table.TableError, match="has no sidecar"):
        record.record_table(TINY, path, log=lambda line: None)
    table.write_sidecar(path, {"profile": TINY.to_dict(), "sessions": []})
    before = path.read_text()
    with pytest.raises(table.TableError, match="epochs: table has 2, now 3"):
        record.record_table(
            dataclasses.replace(TINY, epochs=3), path, log=lambda line: None
        )
    assert path.read_text() == before


def test_more_seeds_extend_a_table_and_fewer_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "tiny.csv"
    record.record_table(TINY, path, deterministic=False, log=lambda line: None)
    trained = []
    real = record.train_run

    def counting(profile, run, *args):
        trained.append(run)
        return real(profile, run, *args)

    monkeypatch.setattr(record, "train_run", counting)
    more = dataclasses.replace(TINY, seeds=(0, 1))
    sidecar = record.record_table(more, path, deterministic=False, log=print)
    # Only the new seed's runs are trained, and the sidecar says 2 seeds.
    assert sorted({run[2] for run in trained}) == [1] and len(trained) == 4
    assert sidecar["grid"]["seeds"] == [0, 1] and sidecar["grid"]["runs"] == 8
    assert table.read_sidecar(path)["profile"]["seeds"] == [0, 1]
    assert table.read_table(path).runs == 8
    before = path.read_text()
    with pytest.raises(table.TableError, match="added after the recorded ones"):
        record.record_table(
            dataclasses.replace(TINY, seeds=(1,)), path, log=lambda line: None
        )
    assert path.read_text() == before


@pytest.mark.parametrize("model", ["gru-adam", "conv1d-adam"])
def test_other_models_record_a_table(tmp_path, model):
    profile = dataclasses.replace(TINY, model=model, units=(8,), seeds=(0,))
    path = tmp_path / f"{model}.csv"
    sidecar = record.record_table(
        profile, path, deterministic=False, log=lambda line: None
    )
    assert sidecar["profile"]["model"] == model
    assert table.read_table(path).runs == 2


def test_models_build_what_they_say():
    from kt_twostage.tabular.models import build_model

    layers = {
        name: [
            type(layer).__name__
            for layer in build_model(
                name, num_words=50, units=4, learning_rate=0.01, learning_rates=(0.01,)
            ).layers
        ]
        for name in ("lstm-rmsprop", "gru-adam", "conv1d-adam")
    }
    assert layers["lstm-rmsprop"] == ["Embedding", "LSTM", "Dense"]
    assert layers["gru-adam"] == ["Embedding", "GRU", "Dense"]
    assert layers["conv1d-adam"][1:3] == ["Conv1D", "GlobalMaxPooling1D"]
    with pytest.raises(ValueError, match="argument `model`, expected one of"):
        dataclasses.replace(TINY, model="transformer")


def test_record_cli_is_deterministic_run_to_run(tmp_path):
    """Two processes, same command: the same metrics (seconds aside)."""
    argv = [
        sys.executable,
        "-m",
        "kt_twostage",
        "record",
        "--data",
        sample_path(),
        "--units",
        "2",
        "--learning-rates",
        "0.01",
        "--seeds",
        "1",
        "--epochs",
        "2",
        "--train-reviews",
        "200",
        "--test-reviews",
        "100",
        "--max-length",
        "20",
        "--num-words",
        "500",
    ]
    metrics = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.csv"
        subprocess.run(
            [*argv, "--out", str(out)],
            check=True,
            capture_output=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        lines = out.read_text().splitlines()
        metrics.append([line.rsplit(",", 1)[0] for line in lines])
        sidecar = json.loads((tmp_path / f"{name}.json").read_text())
        assert "determinism" in sidecar["sessions"][0]
    assert metrics[0] == metrics[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--units", "a,b"], "--units expects comma-separated numbers"),
        (["--epochs", "0"], "argument `epochs`"),
        (["--learning-rates", ","], "--learning-rates expects at least one value"),
    ],
)
def test_record_cli_bad_flags_exit_2(argv, message, capsys, tmp_path):
    code = main(["record", "--out", str(tmp_path / "t.csv"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "t.csv").exists()
