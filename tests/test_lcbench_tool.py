"""tools/make_lcbench_tables.py without yahpo_gym: the grid, the column mapping,
and a whole run against a stand-in surrogate, read back by the table reader."""

import json
import math
import os
import sys

import pytest

TOOLS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"
)
sys.path.insert(0, TOOLS)

import lcbench_grid as grid  # noqa: E402
import make_lcbench_tables as tool  # noqa: E402

from kt_twostage.tabular import table  # noqa: E402

# yahpo_gym's learning-rate bounds: 1e-4 and 1e-1 up to float rounding.
LOW, HIGH = 0.00010000000000000009, 0.10000000000000002
DEFAULTS = {
    "OpenML_task_id": "3945",
    "batch_size": 91,
    "epoch": 26,
    "learning_rate": 0.0031622777,
    "max_dropout": 0.5,
    "max_units": 256,
    "momentum": 0.545,
    "num_layers": 3,
    "weight_decay": 0.050005,
}


def fake_outputs(config):
    """A smooth made-up curve of a configuration; time grows by 2 s an epoch
    except a dip at epoch 3."""
    e, u, r = config["epoch"], config["max_units"], config["learning_rate"]
    score = 0.5 + 0.4 * (1 - math.exp(-e / 5)) - 0.01 * abs(math.log10(r) + 3)
    score += 0.001 * math.log2(u) + int(config["OpenML_task_id"]) % 7 * 0.001
    return {
        "time": 2.0 * e - (2.5 if e == 3 else 0.0),
        "val_accuracy": 100 * (score + 0.1),
        "val_cross_entropy": 1 - score,
        "val_balanced_accuracy": score,
        "test_cross_entropy": 1.1 - score,
        "test_balanced_accuracy": score - 0.01,
    }


class FakeSurrogate:
    instances = ["3945", "7593", "34539", "126025"]
    defaults = DEFAULTS
    bounds = {"learning_rate": (LOW, HIGH), "max_units": (64, 1024), "epoch": (1, 52)}
    max_epoch = 52
    versions = {"python": "3", "yahpo-gym": "fake"}

    def __init__(self, noisy=False):
        self.noisy = noisy
        self.calls = 0

    def evaluate(self, configurations):
        self.calls += 1
        outputs = []
        for config in configurations:
            assert set(config) == set(DEFAULTS)
            out = fake_outputs(config)
            if self.noisy:
                out["val_balanced_accuracy"] += 1e-6 * self.calls
            outputs.append(out)
        return outputs


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "yahpo_data" / "lcbench"
    folder.mkdir(parents=True)
    for name in grid.SURROGATE_FILES:
        (folder / name).write_bytes(b"stand-in " + name.encode())
    return str(tmp_path / "yahpo_data")


def test_grid_holds_every_rate_the_reference_rule_reaches_by_halving():
    rates = grid.LEARNING_RATES
    assert list(rates) == sorted(set(rates))
    assert rates[-1] == 0.1 and 0.001 in rates
    assert {0.1 * 2.0**-k for k in range(11)} <= set(rates)
    assert len(rates) == 12 and rates[0] == 0.1 / 1024
    assert grid.UNITS == (64, 128, 256, 512, 1024)


def test_inputs_outside_the_surrogate_range_are_refused():
    bounds = {"learning_rate": (LOW, HIGH), "epoch": (1, 52)}
    grid.check_inside({"learning_rate": 0.1 / 1024, "epoch": 52}, bounds)
    for bad in ({"learning_rate": 9.6e-5}, {"learning_rate": 0.2}, {"epoch": 53}):
        with pytest.raises(ValueError, match="outside the surrogate's range"):
            grid.check_inside(bad, bounds)
    assert list(grid.extrapolated_rates(LOW)) == ["9.765625e-05"]
    assert "by 2.3%" in grid.extrapolated_rates(LOW)["9.765625e-05"]


def test_tasks_are_the_first_of_the_instance_list():
    assert grid.select_tasks(["9", "3", "5"], 2) == ("9", "3")
    for count in (0, 4):
        with pytest.raises(ValueError, match="expected 1 to 3"):
            grid.select_tasks(["9", "3", "5"], count)
    assert grid.parse_tasks(" 5,9 ", ["9", "3", "5"]) == ("5", "9")
    with pytest.raises(ValueError, match="got '5,42'"):
        grid.parse_tasks("5,42", ["9", "3", "5"])


def test_fixed_hyperparameters_are_the_defaults_not_varied():
    assert grid.fixed_hyperparameters(DEFAULTS) == {
        "batch_size": 91,
        "max_dropout": 0.5,
        "momentum": 0.545,
        "num_layers": 3,
        "weight_decay": 0.050005,
    }


def test_epoch_seconds_from_cumulative_time_never_negative():
    assert grid.epoch_seconds([5.0, 8.0, 7.0, 10.0]) == ([5.0, 3.0, 0.0, 2.0], 1)


@pytest.mark.parametrize(
    "metric, expected_val", [("balanced_accuracy", 0.7), ("accuracy", 0.8)]
)
def test_table_rows_map_the_surrogate_outputs(metric, expected_val):
    outputs = [
        {
            "time": 4.0 * e,
            "val_accuracy": 80.0,
            "val_cross_entropy": 0.3,
            "val_balanced_accuracy": 0.7,
            "test_cross_entropy": 0.4,
            "test_balanced_accuracy": 0.6,
        }
        for e in (1, 2)
    ]
    rows, zero = grid.table_rows(128, 0.001, outputs, metric)
    assert zero == 0
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1] == {
        "units": 128,
        "learning_rate": 0.001,
        "seed": 0,
        "epoch": 2,
        "val_accuracy": pytest.approx(expected_val),
        "val_loss": 0.3,
        "test_accuracy": 0.6,
        "test_loss": 0.4,
        "seconds": 4.0,
    }
    assert set(rows[0]) == set(table.COLUMNS)


@pytest.mark.parametrize(
    "metric, value", [("test_accuracy", 1.2), ("val_loss", math.nan)]
)
def test_check_values_rejects_impossible_values(metric, value):
    row = {c: 0.5 for c in table.COLUMNS} | {
        "units": 64,
        "learning_rate": 0.1,
        "epoch": 1,
    }
    row[metric] = value
    with pytest.raises(ValueError, match=f"{metric}="):
        grid.check_values([row], "t.csv")


def test_tables_from_a_stand_in_surrogate_read_back(tmp_path, data_dir):
    out = tmp_path / "tables"
    argv = [
        "--data",
        data_dir,
        "--out",
        str(out),
        "--epochs",
        "4",
        "--data-commit",
        "abc",
    ]
    paths = tool.main(argv, surrogate=FakeSurrogate())
    assert [os.path.basename(p) for p in paths] == [
        "lcbench-3945.csv",
        "lcbench-7593.csv",
        "lcbench-34539.csv",
    ]
    curves = table.read_table(paths[1])
    assert curves.units == grid.UNITS
    assert curves.learning_rates == grid.LEARNING_RATES
    assert curves.seeds == (0,) and curves.epochs == 4
    rate = 0.1 / 1024
    config = dict(DEFAULTS, OpenML_task_id="7593", max_units=256, learning_rate=rate)
    expected = [fake_outputs(dict(config, epoch=e)) for e in range(1, 5)]
    got = curves.curve("val_accuracy", 256, rate, 0)
    assert list(got) == [o["val_balanced_accuracy"] for o in expected]
    assert list(curves.curve("test_loss", 256, rate, 0)) == [
        o["test_cross_entropy"] for o in expected
    ]
    seconds = curves.curve("seconds", 256, rate, 0)
    assert list(seconds) == [2.0, 2.0, 0.0, 4.0]

    with open(table.sidecar_path(paths[1]), encoding="utf-8") as handle:
        sidecar = json.load(handle)
    assert sidecar["source"]["openml_task_id"] == "7593"
    assert "first 3" in sidecar["source"]["task_selection"]
    assert sidecar["grid"]["runs"] == 60 and sidecar["grid"]["epochs"] == 4
    assert sidecar["fixed_hyperparameters"]["weight_decay"] == 0.050005
    assert sidecar["provenance"]["yahpo_data"]["commit"] == "abc"
    assert set(sidecar["provenance"]["yahpo_data"]["sha256"]) == {
        "lcbench/model.onnx",
        "lcbench/config_space.json",
        "lcbench/encoding.json",
    }
    assert sidecar["checks"]["epochs_with_zero_seconds"] == 60
    assert list(sidecar["checks"]["learning_rates_extrapolated"]) == ["9.765625e-05"]
    assert set(sidecar["column_sources"]) == set(table.COLUMNS)

    with pytest.raises(SystemExit, match="--overwrite"):
        tool.main(argv, surrogate=FakeSurrogate())
    tool.main([*argv, "--overwrite", "--tasks", "126025"], surrogate=FakeSurrogate())
    assert os.path.exists(out / "lcbench-126025.csv")


def test_bad_epochs_inputs_and_a_noisy_surrogate_are_refused(tmp_path, data_dir):
    argv = ["--data", data_dir, "--out", str(tmp_path), "--task-count", "1"]
    with pytest.raises(SystemExit, match="expected 1 to 52"):
        tool.main([*argv, "--epochs", "53"], surrogate=FakeSurrogate())
    narrow = FakeSurrogate()
    narrow.bounds = dict(FakeSurrogate.bounds, max_units=(64, 512))
    with pytest.raises(ValueError, match="max_units=1024, outside"):
        tool.main([*argv, "--epochs", "2"], surrogate=narrow)
    with pytest.raises(RuntimeError, match="different outputs"):
        tool.main([*argv, "--epochs", "2"], surrogate=FakeSurrogate(noisy=True))
    assert not os.path.exists(tmp_path / "lcbench-3945.csv")
