"""tools/suite_ranks.py: pooling the entries of several suite folders."""

import json
import os
import sys

import pytest

TOOLS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"
)
sys.path.insert(0, TOOLS)

import suite_ranks  # noqa: E402


def suite(ranks_by_entry):
    """A `suite.json` of one budget: `{entry: {tuner: rank}}`."""
    tuners = {}
    for entry, ranks in ranks_by_entry.items():
        for tuner, rank in ranks.items():
            cell = {"rank": rank, "normalised_regret": 0.0, "mean_test": 0.5}
            tuners.setdefault(tuner, {"per_entry": {}})["per_entry"][entry] = cell
    return {"budgets": {"1x": tuners}}


def test_pools_entries_and_splits_design_from_confirmation(tmp_path, capsys):
    first = suite(
        {"a-lr0.001": {"x": 1.0, "y": 2.0}, "a-lr0.005": {"x": 1.5, "y": 1.5}}
    )
    second = suite({"b-c-lr0.001": {"x": 2.0, "y": 1.0}})
    pooled = suite_ranks.pooled_ranks([first, second], confirmation=["b-c"])
    assert pooled["1x"]["x"]["all"] == pytest.approx((4.5 / 3, 1, 3))
    assert pooled["1x"]["x"]["design"] == pytest.approx((1.25, 1, 2))
    assert pooled["1x"]["x"]["confirmation"] == (2.0, 0, 1)
    assert pooled["1x"]["y"]["confirmation"] == (1.0, 1, 1)
    folders = []
    for index, data in enumerate([first, second]):
        folder = tmp_path / str(index)
        folder.mkdir()
        (folder / "suite.json").write_text(json.dumps(data))
        folders.append(str(folder))
    suite_ranks.main([*folders, "--confirmation", "b-c"])
    out = capsys.readouterr().out
    assert "| x | 1.50 (3) | 1.25 (2) | 2.00 (1) | 1 of 3 |" in out


def test_refuses_suites_that_ran_other_tuners_or_the_same_entry():
    first = suite({"a-lr0.001": {"x": 1.0, "y": 2.0}})
    with pytest.raises(ValueError, match="different tuners"):
        suite_ranks.pooled_ranks([first, suite({"b-lr0.001": {"x": 1.0}})])
    with pytest.raises(ValueError, match="a-lr0.001 is in two suites"):
        suite_ranks.pooled_ranks([first, first])
