"""`search(callbacks=[keras.callbacks.TensorBoard(d)])`: one log folder per
trial, with the trial's units, learning rate and stage in TensorBoard's
HParams (read back from the event files)."""

import glob
import os

import keras
import pytest
from tiny_model import make_tuner, tiny_data

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="Keras Tuner writes HParams with the TensorFlow backend only",
)


def logged_hparams(log_dir):
    """`{trial folder: {name: value}}` of the HParams session starts."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    found = {}
    pattern = os.path.join(log_dir, "*", "execution0", "events.out.tfevents.*")
    for path in glob.glob(pattern):
        trial_folder = os.path.basename(os.path.dirname(os.path.dirname(path)))
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "hparams":
                    continue
                data = plugin_data_pb2.HParamsPluginData.FromString(
                    value.metadata.plugin_data.content
                )
                if data.HasField("session_start_info"):
                    found[trial_folder] = {
                        name: hparam.number_value
                        for name, hparam in data.session_start_info.hparams.items()
                    }
    return found


def test_each_trial_logs_its_units_learning_rate_and_stage(tmp_path):
    x, y = tiny_data()
    log_dir = tmp_path / "logs"
    tuner = make_tuner(tmp_path, stage2_trials=2)
    tuner.search(
        x, y, validation_split=0.25, verbose=0,
        callbacks=[keras.callbacks.TensorBoard(str(log_dir))],
    )  # fmt: skip
    logged = logged_hparams(str(log_dir))
    expected = {
        trial_id: {
            "width": trial.hyperparameters.values["width"],
            "lr": pytest.approx(trial.hyperparameters.values["lr"]),
            "tuner/stage": trial.hyperparameters.values["tuner/stage"],
            "tuner/epochs": trial.hyperparameters.values["tuner/epochs"],
        }
        for trial_id, trial in tuner.oracle.trials.items()
    }
    assert len(expected) == 4
    assert logged == expected
    assert {values["tuner/stage"] for values in logged.values()} == {1, 2}
    # The training curves sit beside them, one run per trial.
    for trial_id in expected:
        assert glob.glob(str(log_dir / trial_id / "execution0" / "validation" / "*"))


def test_the_command_line_writes_them_with_tensorboard(tmp_path, monkeypatch):
    from kt_twostage.cli import main

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    log_dir = tmp_path / "logs"
    status = main(
        [
            "search", "--preset", "quick", "--directory", str(tmp_path),
            "--units-min", "4", "--units-max", "8", "--units-step", "4",
            "--stage2-trials", "1", "--stage2-epochs", "1",
            "--num-words", "500", "--max-length", "20",
            "--tensorboard", str(log_dir),
        ]
    )  # fmt: skip
    assert status == 0
    logged = logged_hparams(str(log_dir))
    assert sorted(logged) == ["0", "1", "2"]
    assert [logged[t]["units"] for t in ("0", "1", "2")][:2] == [4, 8]
    assert [logged[t]["tuner/stage"] for t in ("0", "1", "2")] == [1, 1, 2]


def test_tensorboard_is_refused_with_workers(tmp_path, capsys):
    from kt_twostage.cli import main

    status = main(["search", "--tensorboard", str(tmp_path), "--workers", "2"])
    assert status == 2
    assert "--tensorboard writes the logs of one process" in capsys.readouterr().err
