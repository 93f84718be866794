"""The plugin on every Keras 3 backend: search, kill, resume, retention.

Each backend runs in its own process (`tests/backend_search.py`), since Keras
picks its backend once, at import. JAX is a test dependency; PyTorch's wheel
is large, so its test is behind the `torch` marker: `pytest -m torch` where
it is installed.
"""

import json
import os
import subprocess
import sys

import pytest

# Searches, kills and resumes on every backend, in subprocesses; `make test-all` only.
pytestmark = pytest.mark.heavy

SCRIPT = os.path.join(os.path.dirname(__file__), "backend_search.py")


def search_on(backend, directory):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, SCRIPT, str(directory)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_search(report, backend):
    assert report["backend"] == backend
    # Killed at the start of the third trial: trials 0 and 1 had ended.
    assert report["first_run"] == ["0", "1", "2"]
    # The resumed search reruns the interrupted trial only, then goes on.
    assert report["resumed_run"] == ["2", "3"]
    assert report["trials"] == ["0", "1", "2", "3"]
    assert report["statuses"] == ["COMPLETED"]
    assert report["best_stage"] == 2
    # keep_checkpoints=1: only the chosen trial's weights stay on disk.
    assert report["checkpoints"] == [report["best"]]
    assert 0.0 <= report["test_accuracy"] <= 1.0


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_search_resume_and_retention(backend, tmp_path):
    check_search(search_on(backend, tmp_path), backend)


@pytest.mark.torch
def test_search_resume_and_retention_on_torch(tmp_path):
    check_search(search_on("torch", tmp_path), "torch")
