"""TwoStageTuner end to end with a tiny real Keras model on tiny data."""

import json
import os

import keras
import numpy as np
import pytest

from kt_twostage import TwoStageTuner


def build_model(hp):
    units = hp.Choice("width", [2, 4])
    model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(
            hp.Float("lr", 1e-4, 0.05, sampling="log", default=0.01)
        ),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


class EpochLog(keras.callbacks.Callback):
    """Appends one line per trained epoch (survives Keras Tuner's deepcopy)."""

    def __init__(self, path):
        super().__init__()
        self.path = str(path)

    def on_epoch_end(self, epoch, logs=None):
        with open(self.path, "a") as handle:
            handle.write(f"{epoch}\n")


@pytest.fixture(scope="module")
def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    return x, y


def make_tuner(directory, **kwargs):
    return TwoStageTuner(
        build_model,
        objective="val_accuracy",
        units_hp="width",
        learning_rate_hp="lr",
        stage1_epochs=1,
        stage2_epochs=2,
        stage2_trials=3,
        seed=1,
        directory=str(directory),
        project_name="tiny",
        **kwargs,
    )


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
        TwoStageTuner(
            wider_model,
            units_hp="width",
            learning_rate_hp="lr",
            stage1_epochs=1,
            stage2_epochs=2,
            stage2_trials=3,
            directory=str(tmp_path),
            project_name="tiny",
        )
