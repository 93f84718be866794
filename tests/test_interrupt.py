"""Ctrl-C: the search stops at a safe point, keeps its project, and the same
command (or search) resumes it, running each trial to completion once."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest
from tiny_model import make_tuner, tiny_data

from kt_twostage import interrupt

# --- The handler --------------------------------------------------------- #


def test_outside_a_search_sigint_raises_at_once():
    # The handler before: Python's default, or SIG_IGN when the test run was
    # started in the background by a non-interactive shell.
    previous = signal.getsignal(signal.SIGINT)
    with interrupt.command_line_handler():
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous


def test_in_a_search_the_first_sigint_asks_and_the_second_raises():
    previous = signal.getsignal(signal.SIGINT)
    with interrupt.stops_at_safe_points():
        signal.raise_signal(signal.SIGINT)  # no exception: a request
        assert interrupt.requested()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert not interrupt.requested()
    assert signal.getsignal(signal.SIGINT) is previous


# --- TwoStageTuner.search ------------------------------------------------ #

FITS = []  # one entry per `fit` started (module-level: callbacks are copied)


class SigintInFit(keras.callbacks.Callback):
    """Sends SIGINT to this process at the 2nd batch of the `fit` number
    `at_fit` (counting from 1)."""

    def __init__(self, at_fit):
        super().__init__()
        self.at_fit = at_fit

    def on_train_begin(self, logs=None):
        FITS.append(1)

    def on_train_batch_end(self, batch, logs=None):
        if len(FITS) == self.at_fit and batch == 1:
            os.kill(os.getpid(), signal.SIGINT)


def completed_ids(tuner):
    return sorted(
        trial_id
        for trial_id, trial in tuner.oracle.trials.items()
        if trial.status == "COMPLETED"
    )


@pytest.mark.parametrize("at_fit", [2, 4], ids=["stage1", "stage2"])
def test_search_stops_in_a_trial_and_resumes_it(tmp_path, at_fit):
    x, y = tiny_data(samples=256)
    FITS.clear()
    previous = signal.getsignal(signal.SIGINT)
    tuner = make_tuner(tmp_path)
    with pytest.raises(interrupt.SearchInterrupted, match=r"\d of 5 trials done"):
        tuner.search(
            x, y, validation_split=0.25, batch_size=16, verbose=0,
            callbacks=[SigintInFit(at_fit)],
        )  # fmt: skip
    assert signal.getsignal(signal.SIGINT) is previous
    done = completed_ids(tuner)
    assert len(done) == at_fit - 1  # the interrupted trial did not complete
    FITS.clear()
    resumed = make_tuner(tmp_path)
    resumed.search(
        x, y, validation_split=0.25, batch_size=16, verbose=0,
        callbacks=[SigintInFit(at_fit=0)],  # counts the fits, sends nothing
    )  # fmt: skip
    assert len(completed_ids(resumed)) == 5
    assert len(FITS) == 5 - len(done)  # the interrupted trial ran again
    assert set(resumed.trained_epochs) == set(resumed.oracle.trials)


def test_search_stops_between_trials(tmp_path):
    x, y = tiny_data()

    class StopAfterFirstTrial(type(make_tuner(tmp_path / "probe"))):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            os.kill(os.getpid(), signal.SIGINT)

    tuner = make_tuner(tmp_path, tuner_class=StopAfterFirstTrial)
    with pytest.raises(interrupt.SearchInterrupted) as raised:
        tuner.search(x, y, validation_split=0.25, verbose=0)
    assert str(raised.value).startswith("1 of 5 trials done, in stage 1, kept in ")
    assert completed_ids(tuner) == ["0"]
    assert len(tuner.oracle.trials) == 1  # the next trial was never created


# --- The command line, real processes and signals ------------------------ #

TINY = [
    "--units-min", "4", "--units-max", "8", "--units-step", "4",
    "--stage1-epochs", "3", "--stage2-trials", "2", "--stage2-epochs", "3",
    "--num-words", "500", "--max-length", "40", "--batch-size", "16",
]  # fmt: skip
TOTAL = 4


def command(directory):
    return [
        sys.executable, "-m", "kt_twostage", "search", "--preset", "quick",
        "--directory", str(directory), *TINY,
    ]  # fmt: skip


def environment(tmp_path):
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras_home"))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("KERASTUNER_TUNER_ID", None)
    return env


def interrupt_after(tmp_path, line_prefix, delay, signals=1):
    """Run the search, send SIGINT `delay` seconds after the first stdout
    line that starts with `line_prefix` (`signals` of them, 0.2 s apart);
    returns (status, stdout, stderr)."""
    process = subprocess.Popen(
        command(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(tmp_path),
    )
    out = []
    for line in process.stdout:
        out.append(line)
        if line.startswith(line_prefix):
            break
    time.sleep(delay)
    for _ in range(signals):
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
    rest, err = process.communicate(timeout=600)
    return process.returncode, "".join(out) + rest, err


def trial_numbers(stdout):
    return [
        line.split(" | ")[0]
        for line in stdout.splitlines()
        if line.startswith("trial ")
    ]


@pytest.mark.heavy  # two real searches in processes, per moment
@pytest.mark.parametrize(
    "after, delay",
    [("trial 0 |", 1.0), ("trial 1 |", 1.0), ("trial 0 |", 0.0)],
    ids=["during-stage1", "during-stage2", "between-trials"],
)
def test_ctrl_c_then_the_same_command_finishes_the_search(tmp_path, after, delay):
    status, out, err = interrupt_after(tmp_path, after, delay)
    assert status == 130, err[-3000:]
    assert "Traceback" not in err, err
    ended = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert len(ended) == 1, err
    done = len(trial_numbers(out))
    assert ended[0].startswith(f"interrupted: {done} of {TOTAL} trials done, ")
    assert ended[0].endswith(
        f"kept in {tmp_path / 'imdb_quick'}; run the same command again to resume"
    )
    if after == "trial 1 |":
        assert "in stage 2" in ended[0]

    resumed = subprocess.run(
        command(tmp_path), capture_output=True, text=True, timeout=600,
        env=environment(tmp_path),
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # Every trial ended once, over the two runs, and is completed on disk.
    numbers = trial_numbers(out) + trial_numbers(resumed.stdout)
    assert numbers == [f"trial {n}" for n in range(TOTAL)]
    project = Path(tmp_path, "imdb_quick")
    statuses = [
        json.loads(path.read_text())["status"]
        for path in sorted(project.glob("trial_*/trial.json"))
    ]
    assert statuses == ["COMPLETED"] * TOTAL


@pytest.mark.heavy  # a real search in a process
def test_a_second_ctrl_c_exits_at_once(tmp_path):
    status, out, err = interrupt_after(tmp_path, "trial 0 |", 0.5, signals=2)
    assert status == 130
    assert "exiting at once" in err and "Traceback" not in err, err
