"""`stage2_patience`: early stopping of stage-2 trials only."""

import keras
import pytest
import tiny_model
from tiny_model import EpochLog

from kt_twostage.cli.search import register, settings_from_args
from kt_twostage.imdb.search import build_tuner
from kt_twostage.imdb.settings import ImdbSearchSettings


def build_model(hp):
    # A learning rate this small changes nothing that accuracy can see, so
    # `val_accuracy` never improves after the first epoch.
    return tiny_model.build_model(
        hp, optimizer=keras.optimizers.SGD, learning_rate=(1e-12, 1e-10, 1e-11)
    )


def make_tuner(directory, **kwargs):
    return tiny_model.make_tuner(
        directory,
        hypermodel=build_model,
        stage1_epochs=3,
        stage2_epochs=6,
        stage2_trials=2,
        project_name="patience",
        **kwargs,
    )


@pytest.fixture(scope="module")
def tiny_data():
    return tiny_model.tiny_data(samples=48, label_features=1)


def test_stage2_trials_stop_early_and_stage1_does_not(tmp_path, tiny_data):
    x, y = tiny_data
    tuner = make_tuner(tmp_path, stage2_patience=2)
    log = tmp_path / "epochs.log"
    callbacks = [EpochLog(log, mark_end=True)]
    tuner.search(x, y, validation_split=0.25, verbose=0, callbacks=callbacks)
    runs = log.read_text().split("end\n")[:-1]
    epochs = [len(run.split()) for run in runs]
    # Stage 1 (2 trials) trains its 3 epochs; stage 2 stops after the first
    # epoch and 2 more without improvement: 3 of its 6 epochs.
    assert epochs == [3, 3, 3, 3]
    start_order = tuner.oracle.start_order
    assert [tuner.trained_epochs[i] for i in start_order] == [3, 3, 3, 3]
    stages = [
        tuner.oracle.trials[i].hyperparameters.values["tuner/stage"]
        for i in start_order
    ]
    assert stages == [1, 1, 2, 2]

    # Epochs trained are saved with the tuner and survive a resume.
    resumed = make_tuner(tmp_path, stage2_patience=2)
    assert resumed.trained_epochs == tuner.trained_epochs
    # Another patience changes the results: refused, naming the setting.
    with pytest.raises(ValueError, match="stage2_patience: project has 2, now 3"):
        make_tuner(tmp_path, stage2_patience=3)
    with pytest.raises(ValueError, match="stage2_patience: project has 2, now None"):
        make_tuner(tmp_path)


def test_without_patience_every_epoch_is_trained(tmp_path, tiny_data):
    x, y = tiny_data
    tuner = make_tuner(tmp_path)
    tuner.search(x, y, validation_split=0.25, verbose=0)
    ids = tuner.oracle.start_order
    assert [tuner.trained_epochs[i] for i in ids] == [3, 3, 6, 6]


@pytest.mark.parametrize(
    "objective, mode", [("val_accuracy", "max"), ("val_loss", "min")]
)
def test_early_stopping_follows_the_objective(tmp_path, objective, mode):
    tuner = make_tuner(tmp_path, objective=objective, stage2_patience=4)
    callback = tuner._early_stopping(tuner.stage2_patience)
    assert isinstance(callback, keras.callbacks.EarlyStopping)
    assert (callback.monitor, callback.mode, callback.patience) == (objective, mode, 4)


@pytest.mark.parametrize("patience", [0, -2, 2.5, "3", True])
def test_invalid_patience(tmp_path, patience):
    with pytest.raises(ValueError, match="argument `stage2_patience`"):
        make_tuner(tmp_path, stage2_patience=patience)


def parse(*argv):
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return settings_from_args(parser.parse_args(["search", *argv]))


def test_cli_and_settings_reach_the_tuner(tmp_path):
    settings = parse(
        "--stage2-patience", "5", "--keep-checkpoints", "2", "--mixed-precision",
        "--directory", str(tmp_path),
    )  # fmt: skip
    assert settings.stage2_patience == 5
    assert settings.keep_checkpoints == 2
    assert settings.mixed_precision is True
    tuner = build_tuner(settings)
    assert tuner.stage2_patience == 5
    assert tuner.keep_checkpoints == 2
    assert tuner.hypermodel.mixed_precision is True
    defaults = parse("--directory", str(tmp_path))
    assert (
        defaults.stage2_patience,
        defaults.keep_checkpoints,
        defaults.mixed_precision,
    ) == (None, None, False)


@pytest.mark.parametrize("name", ["stage2_patience", "keep_checkpoints"])
def test_settings_reject_bad_values(name):
    with pytest.raises(ValueError, match=f"argument `{name}`"):
        ImdbSearchSettings(**{name: 0})


def test_recommended_variant_flag_sets_the_variant_and_explicit_flags_win(tmp_path):
    from kt_twostage import RECOMMENDED_VARIANT

    settings = parse("--recommended-variant", "--directory", str(tmp_path))
    for field, value in RECOMMENDED_VARIANT.items():
        assert getattr(settings, field) == value
    tuner = build_tuner(settings)
    assert tuner.oracle.stage1_epochs == 2
    assert tuner.oracle.stage2_rule == "scout"
    explicit = parse("--recommended-variant", "--stage2-patience", "3")
    assert explicit.stage2_patience == 3
    assert explicit.stage1_epochs == 2
