"""`kt-twostage compare` trains with deterministic kernels and says so.

The run-to-run test starts the command in subprocesses: two processes with
the same command give the same trials and returned models (scores and test
losses; seconds aside). At this size TensorFlow on the CPU repeats itself
even without op determinism, so the test checks the seeds and that
determinism is requested and recorded; docs/BENCHMARKS.md ("Determinism")
measures what op determinism changes on the real data.
"""

import csv
import json
import os
import subprocess
import sys

import keras
import pytest

from kt_twostage.compare import determinism

# Real training, twice, in subprocesses; `make test-all` only.
pytestmark = pytest.mark.heavy

TIMING_COLUMNS = (
    "seconds",
    "start_seconds",
    "end_seconds",
    "wall_seconds",
    "test_seconds",
)


def scores_without_timings(path):
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]


def test_compare_cli_is_deterministic_run_to_run(tmp_path):
    argv = [
        sys.executable,
        "-m",
        "kt_twostage",
        "compare",
        "--profile",
        "tiny",
        "--seeds",
        "1",
        "--tuners",
        "twostage,random",
        "--train-reviews",
        "200",
        "--test-reviews",
        "200",
        "--max-length",
        "30",
        "--num-words",
        "1000",
    ]
    outputs = []
    for name in ("a", "b"):
        output = tmp_path / name
        subprocess.run(
            [*argv, "--output", str(output)],
            check=True,
            capture_output=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        outputs.append(output)
        summary = json.loads((output / "summary.json").read_text())
        said = summary["description"]["determinism"]
        assert said != determinism.NOT_REQUESTED
        assert all(run["determinism"] == said for run in summary["runs"])
    for name in ("trials.csv", "runs.csv"):
        first, second = (scores_without_timings(o / name) for o in outputs)
        assert first == second, name
    assert len(scores_without_timings(outputs[0] / "trials.csv")) > 4


def test_the_setting_is_put_back():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("checks TensorFlow's op determinism")
    from tensorflow.python.framework import config

    before = config.is_op_determinism_enabled()
    with determinism.deterministic_kernels(True) as said:
        assert config.is_op_determinism_enabled()
        assert said == "TensorFlow op determinism enabled"
    assert config.is_op_determinism_enabled() == before


def test_not_requested_changes_nothing():
    with determinism.deterministic_kernels(False) as said:
        assert said == determinism.NOT_REQUESTED


@pytest.mark.parametrize(
    "recorded, expected",
    [
        (["on", "on"], "on"),
        ([], "on"),
        (
            ["on", None, None],
            "on (runs trained now); reused from the work folder: 2 run(s) not recorded",
        ),
        (
            ["on", determinism.NOT_REQUESTED],
            "on (runs trained now); reused from the work folder: 1 run(s) "
            "off (not requested)",
        ),
    ],
)
def test_summary_line_names_reused_runs_trained_otherwise(recorded, expected):
    runs = [{} if text is None else {"determinism": text} for text in recorded]
    assert determinism.summary_line(runs, "on") == expected
