"""`kt-twostage search` end to end on the built-in sample, with tiny settings."""

import json
import subprocess
import sys

import pytest

from kt_twostage.cli import main

TINY = [
    "--units-min", "4", "--units-max", "8", "--units-step", "4",
    "--stage2-trials", "2", "--stage2-epochs", "1",
    "--num-words", "500", "--max-length", "20", "--verbose", "0",
]  # fmt: skip


@pytest.fixture(autouse=True)
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


def search(tmp_path, *extra):
    return main(
        ["search", "--preset", "quick", "--directory", str(tmp_path), *TINY, *extra]
    )


@pytest.mark.heavy  # the quick preset's whole search
def test_quick_search_writes_the_result(tmp_path, capsys):
    assert search(tmp_path) == 0
    out = capsys.readouterr().out
    assert "chosen: units=" in out and "test accuracy=" in out
    # The demo says what its accuracy means, and the JSON line stays last.
    assert "tested once on 1,000 test reviews" in out
    assert "This is the built-in sample, a smoke test" in out
    assert "0.85-0.88" in out and "kt-twostage search --preset seed" in out
    last = json.loads(out.strip().splitlines()[-1])
    assert set(last) == {"units", "learning_rate"}
    result = json.loads((tmp_path / "imdb_quick" / "result.json").read_text())
    assert result["units"] in (4, 8)
    assert result["stage"] == 2
    assert result["learning_rate"] in (0.02, 0.01)
    assert 0 <= result["test_accuracy"] <= 1
    assert result["train_reviews"] == 1000 and result["test_reviews"] == 1000
    assert result["settings"]["num_words"] == 500

    # Run again: resumes, runs nothing new, same choice.
    assert search(tmp_path) == 0
    out = capsys.readouterr().out
    assert "resuming: 4 of 4 trials done, finished" in out
    again = json.loads((tmp_path / "imdb_quick" / "result.json").read_text())
    assert (again["units"], again["learning_rate"]) == (
        result["units"],
        result["learning_rate"],
    )


@pytest.mark.heavy  # two real searches
def test_resume_with_other_settings_is_a_one_line_error(tmp_path, capsys):
    assert search(tmp_path) == 0
    capsys.readouterr()
    assert search(tmp_path, "--stage2-epochs", "2") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--stage2-epochs: project has 1, now 2" in err
    # The command line's words, not the library's.
    assert "`--overwrite` (this deletes the project)" in err
    assert "a new `--project-name`" in err
    assert "overwrite=True" not in err and "`project_name`" not in err
    assert search(tmp_path, "--stage2-epochs", "2", "--overwrite") == 0


@pytest.mark.parametrize(
    "flags, status, message",
    [
        (["--data", "/no/such/aclImdb"], 1, "/no/such/aclImdb"),
        (["--units-min", "9", "--units-max", "5"], 2, "--units-min 9 > --units-max 5"),
        (["--validation-split", "1.5"], 2, "between 0 and 1"),
        # Checked at the top since issue 11 (was 1, after the data loaded).
        (["--stage2-trials", "0"], 2, "`--stage2-trials`, expected a positive integer"),
    ],
)
def test_bad_input_exits_with_one_line(tmp_path, capsys, flags, status, message):
    assert search(tmp_path, *flags) == status
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("kt-twostage search: error:")
    assert message in err


def test_module_entry_point_shows_help():
    completed = subprocess.run(
        [sys.executable, "-m", "kt_twostage", "search", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0
    assert "--stage2-trials" in completed.stdout
