"""TwoStageTuner end to end with a tiny real Keras model on tiny data."""

import json
import os

import pytest
import tiny_model
from tiny_model import EpochLog, build_model, make_tuner


@pytest.fixture(scope="module")
def tiny_data():
    return tiny_model.tiny_data()


def test_search_end_to_end(tmp_path, tiny_data):
    x, y = tiny_data
    tuner = make_tuner(tmp_path)
    with pytest.warns(UserWarning, match="`epochs=5` passed to `search` is ignored"):
        tuner.search(
            x,
            y,
            validation_split=0.25,
            epochs=5,
            verbose=0,
            callbacks=[EpochLog(tmp_path / "epochs.log")],
        )

    trials = [tuner.oracle.trials[i] for i in tuner.oracle.start_order]
    assert len(trials) == 5 == tuner.oracle.max_trials
    stages = [t.hyperparameters.values["tuner/stage"] for t in trials]
    assert stages == [1, 1, 2, 2, 2]
    # Each trial trained exactly the epochs of its stage: 1, 1, 2, 2, 2.
    logged = (tmp_path / "epochs.log").read_text().split()
    assert logged == ["0", "0", "0", "1", "0", "1", "0", "1"]

    best_hp = tuner.get_best_hyperparameters()[0]
    assert best_hp.values["tuner/stage"] == 2
    stage2_lrs = [t.hyperparameters.values["lr"] for t in trials[2:]]
    assert stage2_lrs[0] == 0.05
    assert best_hp.values["lr"] in stage2_lrs
    model = tuner.get_best_models()[0]
    assert model.layers[0].units == best_hp.values["width"]
    tuner.results_summary()


def test_resume_a_finished_search_runs_nothing(tmp_path, tiny_data, capsys):
    x, y = tiny_data
    tuner = make_tuner(tmp_path)
    tuner.search(x, y, validation_split=0.25, verbose=0)
    best = tuner.get_best_hyperparameters()[0].values
    files = sorted(os.listdir(tmp_path / "tiny"))

    resumed = make_tuner(tmp_path, overwrite=False)
    assert "resuming: 5 of 5 trials done, finished" in capsys.readouterr().out
    resumed.search(x, y, validation_split=0.25, verbose=0)
    assert len(resumed.oracle.trials) == 5
    assert resumed.get_best_hyperparameters()[0].values == best
    assert sorted(os.listdir(tmp_path / "tiny")) == files


def test_corrupt_tuner_file_is_an_error(tmp_path, tiny_data):
    x, y = tiny_data
    tuner = make_tuner(tmp_path)
    tuner.search(x, y, validation_split=0.25, verbose=0)
    path = tmp_path / "tiny" / "tuner0.json"
    path.write_text("{")
    with pytest.raises(RuntimeError, match="tuner0.json is corrupt.*overwrite=True"):
        make_tuner(tmp_path)
    assert path.read_text() == "{"
    json.loads((tmp_path / "tiny" / "oracle.json").read_text())


def test_resume_with_another_grid_is_refused(tmp_path, tiny_data):
    x, y = tiny_data
    tuner = make_tuner(tmp_path)
    tuner.search(x, y, validation_split=0.25, verbose=0)

    def wider_model(hp):
        hp.Choice("width", [2, 4, 8])
        return build_model(hp)

    with pytest.raises(ValueError, match=r"units_grid: project has \(2, 4\)"):
        make_tuner(tmp_path, hypermodel=wider_model, seed=None)
