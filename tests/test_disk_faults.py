"""A full disk in the middle of a write: the files stay as they were, the search
stops with a clear error, and a resume finishes the search.

Every write of the project's state goes through `kt_twostage._io`'s atomic
writes. Each test fills the disk at one of them (`OSError(ENOSPC)` after half
the data was written), checks that every file of the project is byte for
byte what it was just before that write, then resumes (`overwrite=False`)
and checks that the search ends with the trials of an uninterrupted run.
"""

from __future__ import annotations

import errno
import os
import traceback

import keras_tuner
import pytest
from fake_search import score_of
from keras.src.saving import saving_lib
from keras_tuner.engine import trial as trial_module
from tiny_model import build_model, make_tuner, tiny_data

from kt_twostage import TwoStageTuner, _io, checkpoints
from kt_twostage.disk_full import SearchDiskFullError

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
STAGE2_TRIALS = 3


def search_space():
    space = keras_tuner.HyperParameters()
    space.Int("units", 10, 40, step=10)
    space.Float("learning_rate", 1e-6, 0.02, sampling="log", default=0.001)
    return space


class FormulaTuner(TwoStageTuner):
    """Trains nothing: the score is a formula of the trial's values."""

    def run_trial(self, trial, *args, **kwargs):
        values = trial.hyperparameters.values
        return {"score": score_of(values["units"], values["learning_rate"])}


def formula_tuner(directory):
    return FormulaTuner(
        objective=keras_tuner.Objective("score", "max"),
        hyperparameters=search_space(),
        units_hp="units",
        learning_rate_hp="learning_rate",
        stage2_trials=STAGE2_TRIALS,
        directory=str(directory),
        project_name="project",
    )


def outcome(tuner):
    """Every trial's values, status and score, by trial id."""
    return {
        trial_id: (trial.hyperparameters.values, trial.status, trial.score)
        for trial_id, trial in tuner.oracle.trials.items()
    }


def project_files(directory):
    """`{relative path: bytes}` of every file under `directory`."""
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                files[os.path.relpath(path, directory)] = handle.read()
    return files


class HalfWrittenFile:
    """A file whose `write` writes half the data, then finds the disk full."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise ENOSPC

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return self._handle.__exit__(*exc_info)


class DiskFillsAt:
    """Fill the disk at the `occurrence`-th atomic write of `name` made from
    a function called `caller`; snapshot the project just before."""

    def __init__(self, monkeypatch, project_dir, name, caller, occurrence=1):
        self.project_dir = str(project_dir)
        self.name, self.caller, self.left = name, caller, occurrence
        self.before = None
        monkeypatch.setattr(_io, "open", self._open, raising=False)

    def _open(self, path, mode="r", *args, **kwargs):
        if self._is_target(path):
            # As the project was before the write began (without the empty
            # temporary file it is about to fill).
            self.before = project_files(self.project_dir)
            self.before.pop(os.path.relpath(path, self.project_dir))
            return HalfWrittenFile(open(path, mode, *args, **kwargs))
        return open(path, mode, *args, **kwargs)

    def _is_target(self, path):
        if not os.path.basename(path).startswith(f".{self.name}."):
            return False
        if self.caller not in {frame.name for frame in traceback.extract_stack()}:
            return False
        self.left -= 1
        return self.left == 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tuner = formula_tuner(tmp_path_factory.mktemp("reference"))
    tuner.search(verbose=0)
    return outcome(tuner)


def stop_and_check(tuner, fault):
    # A write inside a trial raises `SearchDiskFullError` (Keras Tuner would
    # count it as the trial's failure otherwise), one between trials its
    # parent `DiskFullError`: both stop the search.
    with pytest.raises(_io.DiskFullError, match="the disk is full") as caught:
        tuner.search(verbose=0)
    message = str(caught.value)
    assert fault.name in message and "resume" in message and "Free" in message
    assert fault.before is not None, "the fault was never injected"
    assert project_files(fault.project_dir) == fault.before


def interrupt_once(directory, monkeypatch):
    """Stop a first search after its second trial ended (a full disk)."""
    tuner = formula_tuner(directory)
    with monkeypatch.context() as patch:
        fault = DiskFillsAt(patch, tuner.project_dir, "oracle.json", "end_trial", 2)
        stop_and_check(tuner, fault)


# (file, the method that writes it, which of its writes fails)
WRITES = [
    ("trial.json", "create_trial", 3),
    ("oracle.json", "create_trial", 3),
    ("trial.json", "update_trial", 3),
    ("trial.json", "end_trial", 3),
    ("oracle.json", "end_trial", 3),
    ("tuner0.json", "on_trial_end", 3),
    ("trial.json", "create_trial", 6),  # the first stage-2 trial
    ("oracle.json", "end_trial", 7),  # the last trial
]


@pytest.mark.parametrize(("name", "caller", "occurrence"), WRITES)
def test_full_disk_during_a_trial_leaves_files_and_resume_finishes(
    tmp_path, monkeypatch, reference, name, caller, occurrence
):
    tuner = formula_tuner(tmp_path)
    with monkeypatch.context() as patch:
        fault = DiskFillsAt(patch, tuner.project_dir, name, caller, occurrence)
        stop_and_check(tuner, fault)
    resumed = formula_tuner(tmp_path)
    resumed.search(verbose=0)
    assert outcome(resumed) == reference


@pytest.mark.parametrize("name", ["oracle.json", "tuner0.json"])
def test_full_disk_when_a_resume_begins(tmp_path, monkeypatch, reference, name):
    interrupt_once(tmp_path, monkeypatch)
    tuner = formula_tuner(tmp_path)
    with monkeypatch.context() as patch:
        fault = DiskFillsAt(patch, tuner.project_dir, name, "on_search_begin")
        stop_and_check(tuner, fault)
    resumed = formula_tuner(tmp_path)
    resumed.search(verbose=0)
    assert outcome(resumed) == reference


def test_full_disk_error_names_the_file_and_keeps_it(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    _io.atomic_write_json(path, {"trials": 1})
    monkeypatch.setattr(
        _io, "open", lambda *a, **k: HalfWrittenFile(open(*a, **k)), raising=False
    )
    with pytest.raises(_io.DiskFullError, match="Cannot write .*state.json"):
        _io.atomic_write_json(path, {"trials": 2})
    assert path.read_text() == '{"trials": 1}'
    assert sorted(os.listdir(tmp_path)) == ["state.json"]


def test_other_write_errors_are_not_called_a_full_disk(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(_io, "open", read_only, raising=False)
    with pytest.raises(OSError) as caught:
        _io.atomic_write_text(tmp_path / "state.json", "{}")
    assert not isinstance(caught.value, _io.DiskFullError)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- #
# Checkpoints (real training of a tiny model).
# ---------------------------------------------------------------------- #
def half_written_weights(monkeypatch, occurrence, project_dir, snapshot):
    """Make the `occurrence`-th checkpoint write stop halfway on a full disk."""
    real = saving_lib.save_weights_only
    calls = []

    def save_weights_only(model, filepath, *args, **kwargs):
        calls.append(filepath)
        if len(calls) != occurrence:
            return real(model, filepath, *args, **kwargs)
        snapshot.update(project_files(project_dir))
        snapshot.pop(os.path.relpath(filepath, project_dir), None)
        real(model, filepath, *args, **kwargs)
        with open(filepath, "r+b") as handle:
            handle.truncate(os.path.getsize(filepath) // 2)
        raise ENOSPC

    monkeypatch.setattr(saving_lib, "save_weights_only", save_weights_only)
    return calls


def checkpoint_outcome(tuner):
    return {
        trial_id: (trial.hyperparameters.values, trial.status)
        for trial_id, trial in tuner.oracle.trials.items()
    }


def test_full_disk_during_a_checkpoint_stops_the_search(tmp_path, monkeypatch):
    x, y = tiny_data()
    fit = {"x": x, "y": y, "validation_split": 0.25, "verbose": 0}
    reference = make_tuner(tmp_path / "reference")
    reference.search(**fit)
    tuner = make_tuner(tmp_path)
    before = {}
    with monkeypatch.context() as patch:
        calls = half_written_weights(patch, 3, tuner.project_dir, before)
        with pytest.raises(SearchDiskFullError, match="checkpoint.weights.h5"):
            tuner.search(**fit)
    assert len(calls) == 3
    assert project_files(tuner.project_dir) == before
    resumed = make_tuner(tmp_path)
    resumed.search(**fit)
    assert checkpoint_outcome(resumed) == checkpoint_outcome(reference)
    completed = trial_module.TrialStatus.COMPLETED
    assert all(t.status == completed for t in resumed.oracle.trials.values())
    assert resumed.get_best_models(1)[0] is not None


def test_a_checkpoint_that_fails_keeps_the_previous_one(tmp_path, monkeypatch):
    model = build_model(keras_tuner.HyperParameters())
    path = str(tmp_path / "checkpoint.weights.h5")
    callback = checkpoints.SaveBestWeights(
        objective=keras_tuner.Objective("val_accuracy", "max"), filepath=path
    )
    callback.set_model(model)
    callback.on_epoch_end(0, {"val_accuracy": 0.5})
    with open(path, "rb") as handle:
        first = handle.read()
    half_written_weights(monkeypatch, 1, str(tmp_path), {})
    with pytest.raises(_io.DiskFullError, match="checkpoint.weights.h5"):
        callback.on_epoch_end(1, {"val_accuracy": 0.9})
    with open(path, "rb") as handle:
        assert handle.read() == first
    assert os.listdir(tmp_path) == ["checkpoint.weights.h5"]
