"""What a search prints: one line per trial, the best so far per stage, and
no TensorFlow noise on a machine without a GPU."""

import logging
import os
import subprocess
import sys

import oracle_driver
import pytest
from oracle_driver import finish

from kt_twostage import console
from kt_twostage.cli import _common
from kt_twostage.results.trial_table import trial_number

RETRACING = (
    "5 out of the last 5 calls to <function f at 0x1> triggered tf.function "
    "retracing. Tracing is expensive."
)


def test_trial_lines_state_the_best_so_far_per_stage(tmp_path, capsys):
    oracle = oracle_driver.make_oracle(tmp_path, stage2_trials=2)
    console.install(oracle, epochs_of={"0": 1}.get, always=True)
    # Stage 1: units 10, 20, 30; the best is 20 (0.7).
    for score in (0.6, 0.7, 0.65):
        finish(oracle, oracle.create_trial("t"), score)
    # Stage 2 starts lower than stage 1's best: said as such, not as a fall.
    finish(oracle, oracle.create_trial("t"), 0.5)
    finish(oracle, oracle.create_trial("t"), 0.55)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("trial 0 | stage 1 | units 10 | lr 0.001 | 1 epoch |")
    assert "| score 0.6000 |" in lines[0]
    assert lines[0].endswith("best so far: stage 1 0.6000 (units 10)")
    assert lines[2].endswith("best so far: stage 1 0.7000 (units 20)")
    assert lines[3].startswith("trial 3 | stage 2 | units 20 | lr 0.02 |")
    assert lines[3].endswith(
        "best so far: stage 1 0.7000 (units 20); stage 2 0.5000 (lr 0.02)"
    )
    assert lines[4].endswith(
        "best so far: stage 1 0.7000 (units 20); stage 2 0.5500 (lr 0.01)"
    )
    # No epochs recorded for a trial: its scheduled epochs.
    assert "| lr 0.02 | 30 epochs |" in lines[3]


def test_a_failed_trial_says_so(tmp_path, capsys):
    oracle = oracle_driver.make_oracle(tmp_path)
    console.install(oracle, always=True)
    finish(oracle, oracle.create_trial("t"), None)
    line = capsys.readouterr().out.strip()
    assert "| failed |" in line and line.endswith("best so far: none")


def test_trial_lines_follow_the_verbosity_unless_always(tmp_path, capsys):
    oracle = oracle_driver.make_oracle(tmp_path)
    display = console.install(oracle)
    oracle.verbose = 0
    finish(oracle, oracle.create_trial("t"), 0.5)
    assert capsys.readouterr().out == ""
    oracle.verbose = 1
    finish(oracle, oracle.create_trial("t"), 0.5)
    assert capsys.readouterr().out.startswith("trial 1 |")
    oracle.verbose = 0
    display.always = True
    finish(oracle, oracle.create_trial("t"), 0.5)
    assert capsys.readouterr().out.startswith("trial 2 |")


def test_the_display_keeps_keras_tuners_state(tmp_path):
    oracle = oracle_driver.make_oracle(tmp_path)
    console.install(oracle)
    finish(oracle, oracle.create_trial("t"), 0.5)
    oracle.save()
    again = oracle_driver.fresh_reload(tmp_path)
    assert again._display.trial_number == {"0": 1}
    console.install(again)
    assert again._display.trial_number == {"0": 1}


def test_trial_numbers_drop_the_padding():
    assert trial_number("07") == "7"
    assert trial_number("12") == "12"
    assert trial_number("a1") == "a1"


def test_retracing_warnings_are_hidden_by_their_message_only(caplog):
    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING), console.retracing_warnings_hidden():
        logger.warning(RETRACING)
        logger.warning("something else went wrong")
    assert [r.getMessage() for r in caplog.records] == ["something else went wrong"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        logger.warning(RETRACING)  # outside the block: shown
    assert len(caplog.records) == 1


PROBE = (
    "E0000 00:00:1796659049.474681    9737 cuda_platform.cc:52] failed call to "
    "cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
)
NO_DRIVER = (
    "I0000 00:00:1796659180.458662   13816 cudart_stub.cc:31] Could not find "
    "cuda drivers on your machine, GPU will not be used.\n"
)


def test_the_cuda_probe_error_is_hidden_only_without_drivers(capsys, monkeypatch):
    monkeypatch.setitem(_common._seen, "no_cuda_driver", False)
    # Drivers present (no such info line): the failed probe is a real error.
    _common._pass_on(PROBE, "IW")
    assert capsys.readouterr().err == PROBE
    _common._pass_on(NO_DRIVER + PROBE + "E0000 0 1 other.cc:1] real\n", "IW")
    assert capsys.readouterr().err == "E0000 0 1 other.cc:1] real\n"
    # TensorFlow says it has no drivers once; the probe may come later.
    _common._pass_on(PROBE, "IW")
    assert capsys.readouterr().err == ""


@pytest.mark.heavy  # the whole demo, in a process
def test_the_demo_prints_a_screenful_without_tensorflow_noise(tmp_path):
    """`kt-twostage search --preset quick`, as a new user runs it: no
    TF_CPP_MIN_LOG_LEVEL set, output of about 40 lines."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERASTUNER_TUNER_ID")
    }
    env["KERAS_HOME"] = str(tmp_path / "keras_home")
    completed = subprocess.run(
        [sys.executable, "-m", "kt_twostage", "search", "--preset", "quick"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    lines = output.splitlines()
    assert len(lines) <= 40, output
    for noise in ("cuInit", "cudart_stub", "oneDNN", "retracing", "━", "\x1b["):
        assert noise not in output, output
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert [line.split(" | ")[0] for line in trial_lines] == [
        f"trial {n}" for n in range(8)
    ]
    assert trial_lines[-1].count("best so far: stage 1 ") == 1
    assert "; stage 2 " in trial_lines[-1]
    assert (tmp_path / "kt_twostage_runs" / "imdb_quick" / "result.json").exists()
