"""Checkpoint retention (`keep_checkpoints`) and the weights-only checkpoint."""

import os

import h5py
import pytest
import tiny_model

from kt_twostage import TwoStageTuner
from kt_twostage.checkpoints import RankedTrial, checkpoints_to_delete

CHECKPOINT = "checkpoint.weights.h5"


def ranked(*specs):
    """`"a:c"` completed, `"a:f"` failed (ended), `"a:r"` running, `"a:p"`
    completed but pending (a speculative stage-2 trial that may still rise)."""
    trials = []
    for spec in specs:
        trial_id, state = spec.split(":")
        trials.append(
            RankedTrial(
                trial_id,
                completed=state in "cp",
                ended=state in "cfp",
                may_rise=state == "p",
            )
        )
    return trials


@pytest.mark.parametrize(
    "specs, keep, expected",
    [
        # Only the best `keep` completed trials are kept.
        (["a:c", "b:c", "c:c"], 1, ["b", "c"]),
        (["a:c", "b:c", "c:c"], 2, ["c"]),
        (["a:c", "b:c", "c:c"], 3, []),
        # A running trial is never deleted, wherever it ranks.
        (["a:c", "b:c", "r:r"], 1, ["b"]),
        # A failed trial ranks after every completed one: it goes once
        # `keep` trials completed.
        (["a:c", "f:f"], 1, ["f"]),
        (["a:c", "f:f"], 2, []),
        # Nothing completed yet: the best is unknown, nothing goes.
        (["f:f", "g:f", "r:r"], 1, []),
        ([], 1, []),
        # A pending speculative trial may still join the ranked trials.
        (["a:c", "b:c", "p:p", "f:f"], 1, ["b", "f"]),
    ],
)
def test_checkpoints_to_delete(specs, keep, expected):
    assert checkpoints_to_delete(ranked(*specs), keep) == expected


def test_the_best_trial_is_never_deleted():
    for keep in (1, 2, 5):
        trials = ranked("best:c", "x:c", "y:f", "z:c")
        assert "best" not in checkpoints_to_delete(trials, keep)


@pytest.mark.parametrize("keep", [0, -1, 1.5, "2", True])
def test_invalid_keep_checkpoints(tmp_path, keep):
    with pytest.raises(ValueError, match="argument `keep_checkpoints`"):
        TwoStageTuner(build_model, directory=str(tmp_path), keep_checkpoints=keep)


# --------------------------------------------------------------------------- #
# With a tiny real model.
# --------------------------------------------------------------------------- #
def build_model(hp):
    return tiny_model.build_model(hp, widths=(2, 4, 6))


@pytest.fixture(scope="module")
def tiny_data():
    return tiny_model.tiny_data()


def make_tuner(directory, **kwargs):
    return tiny_model.make_tuner(directory, hypermodel=build_model, **kwargs)


def checkpoint_files(directory):
    project = directory / "tiny"
    return sorted(
        name.removeprefix("trial_")
        for name in os.listdir(project)
        if (project / name / CHECKPOINT).exists()
    )


class Watcher(TwoStageTuner):
    """Records, after every trial, which checkpoints are on disk."""

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.seen = [*getattr(self, "seen", []), checkpoint_files(self.root)]


def test_keep_one_checkpoint(tmp_path, tiny_data):
    x, y = tiny_data
    tuner = make_tuner(tmp_path, tuner_class=Watcher, keep_checkpoints=1)
    tuner.root = tmp_path
    tuner.search(x, y, validation_split=0.25, verbose=0)

    oracle = tuner.oracle
    best = oracle.get_best_trials(1)[0]
    assert best.hyperparameters.values["tuner/stage"] == 2
    # After every trial exactly one checkpoint is left: the best so far.
    assert [len(files) for files in tuner.seen] == [1] * 6
    assert tuner.seen[-1] == [best.trial_id]
    # Trial files are kept: only the weights go.
    assert len([n for n in os.listdir(tmp_path / "tiny") if n.startswith("trial_")])
    assert (
        tuner.get_best_models(1)[0].layers[0].units
        == (best.hyperparameters.values["width"])
    )
    with pytest.raises(ValueError, match=r"num_models=2.*keep_checkpoints=1"):
        tuner.get_best_models(2)
    with pytest.raises(FileNotFoundError, match="its checkpoint .* does not exist"):
        tuner.load_model(oracle.get_best_trials(2)[1])

    # Resuming needs no deleted checkpoint: nothing runs again, same choice.
    resumed = make_tuner(tmp_path, keep_checkpoints=1)
    resumed.search(x, y, validation_split=0.25, verbose=0)
    assert len(resumed.oracle.trials) == 6
    assert resumed.get_best_hyperparameters()[0].values == best.hyperparameters.values
    assert resumed.get_best_models(1)[0] is not None


def test_keep_more_and_prune_a_resumed_project(tmp_path, tiny_data):
    x, y = tiny_data
    tuner = make_tuner(tmp_path)  # keeps everything
    tuner.search(x, y, validation_split=0.25, verbose=0)
    assert len(checkpoint_files(tmp_path)) == 6
    # Checkpoints hold the model's weights only, not the optimizer's slots.
    best_id = tuner.oracle.get_best_trials(1)[0].trial_id
    path = tmp_path / "tiny" / f"trial_{best_id}" / CHECKPOINT
    with h5py.File(path) as handle:
        names = []
        handle.visit(names.append)
    assert not any("optimizer" in name for name in names)
    assert any("layers" in name for name in names)

    # Resumed with keep_checkpoints=2: the search prunes at its start.
    resumed = make_tuner(tmp_path, keep_checkpoints=2)
    resumed.search(x, y, validation_split=0.25, verbose=0)
    kept = [trial.trial_id for trial in resumed.oracle.get_best_trials(2)]
    assert checkpoint_files(tmp_path) == sorted(kept)
    assert len(resumed.get_best_models(2)) == 2


def test_chief_deletes_when_a_worker_trial_ends(tmp_path, tiny_data, monkeypatch):
    """The chief runs no trial: its oracle's `end_trial` triggers deletion."""
    x, y = tiny_data
    make_tuner(tmp_path).search(x, y, validation_split=0.25, verbose=0)
    assert len(checkpoint_files(tmp_path)) == 6

    # One more stage-2 trial, for a worker to run.
    chief = make_tuner(tmp_path, keep_checkpoints=1, stage2_trials=5)
    ended = []
    chief.oracle.add_trial_end_callback(ended.append)  # what the workers reach
    served = []
    monkeypatch.setattr(
        "keras_tuner.src.distribute.utils.is_chief_oracle", lambda: True
    )
    monkeypatch.setattr("kt_twostage.distributed.serve_oracle", served.append)
    chief.search(x, y)
    assert served == [chief.oracle]
    best_id = chief.oracle.get_best_trials(1)[0].trial_id
    assert checkpoint_files(tmp_path) == [best_id]  # pruned at start

    # A worker's trial ends: the chief's oracle ends it, then deletes.
    trial = chief.oracle.create_trial("worker0")
    source = tmp_path / "tiny" / f"trial_{best_id}" / CHECKPOINT
    (tmp_path / "tiny" / f"trial_{trial.trial_id}" / CHECKPOINT).write_bytes(
        source.read_bytes()
    )
    chief.oracle.update_trial(trial.trial_id, {"val_accuracy": -1.0})
    trial.status = "COMPLETED"
    chief.oracle.end_trial(trial)
    assert ended == [trial]
    assert checkpoint_files(tmp_path) == [best_id]
