"""`kt-twostage worker` takes its settings from the chief's project."""

import dataclasses
import json

import pytest

from kt_twostage.cli import build_parser
from kt_twostage.cli._common import UsageError
from kt_twostage.cli._worker_settings import (
    SETTINGS_FILE,
    publish_settings,
    worker_settings,
)
from kt_twostage.imdb.settings import PRESETS

CHIEF = dataclasses.replace(PRESETS["quick"], stage2_trials=3, stage2_epochs=4)


def worker_args(tmp_path, *flags):
    return build_parser().parse_args(
        [
            *("worker", "--chief", "127.0.0.1:5000", "--tuner-id", "worker0"),
            *("--directory", str(tmp_path), "--project-name", "project"),
            *flags,
        ]
    )


@pytest.fixture
def published(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "5000")
    chief = dataclasses.replace(CHIEF, directory=str(tmp_path), project_name="project")
    publish_settings(chief)
    return chief


def test_the_minimal_worker_takes_the_chiefs_settings(tmp_path, published):
    settings = worker_settings(worker_args(tmp_path))
    assert settings == dataclasses.replace(published, verbose=settings.verbose)
    assert (settings.stage2_trials, settings.stage2_epochs) == (3, 4)


def test_flags_that_agree_are_accepted(tmp_path, published):
    settings = worker_settings(worker_args(tmp_path, "--stage2-trials", "3"))
    assert settings.stage2_trials == 3


def test_flags_that_disagree_are_refused_with_the_list(tmp_path, published):
    args = worker_args(tmp_path, "--stage2-trials", "5", "--stage2-epochs", "9")
    with pytest.raises(UsageError) as error:
        worker_settings(args)
    message = str(error.value)
    assert "stage2_trials: the chief has 3, this worker 5" in message
    assert "stage2_epochs: the chief has 4, this worker 9" in message
    assert "Leave the settings flags out" in message


def test_a_preset_is_compared_whole(tmp_path, published):
    with pytest.raises(UsageError, match="stage2_trials: the chief has 3, this "):
        worker_settings(worker_args(tmp_path, "--preset", "quick"))


def test_the_data_path_is_the_workers(tmp_path, published):
    settings = worker_settings(worker_args(tmp_path, "--data", "/elsewhere/aclImdb"))
    assert settings.data == "/elsewhere/aclImdb"


def test_no_settings_from_the_chief(tmp_path):
    args = worker_args(tmp_path)
    with pytest.raises(UsageError, match="no settings from the chief in"):
        worker_settings(args, wait_seconds=0)


def test_only_the_chief_publishes(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "5000")
    publish_settings(dataclasses.replace(CHIEF, directory=str(tmp_path)))
    assert not (tmp_path / CHIEF.project_name / SETTINGS_FILE).exists()


def test_the_published_file_holds_the_settings(tmp_path, published):
    path = tmp_path / "project" / SETTINGS_FILE
    saved = json.loads(path.read_text())
    assert saved["stage2_trials"] == 3 and "overwrite" not in saved


def test_recommended_variant_on_the_worker_is_checked_against_the_chief(
    tmp_path, monkeypatch
):
    from kt_twostage import RECOMMENDED_VARIANT

    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "5000")
    chief = dataclasses.replace(
        CHIEF, directory=str(tmp_path), project_name="project", **RECOMMENDED_VARIANT
    )
    publish_settings(chief)
    settings = worker_settings(worker_args(tmp_path, "--recommended-variant"))
    assert settings.stage1_epochs == 2 and settings.stage2_rule == "scout"
    # A worker with the variant, against a chief without it, is refused.
    publish_settings(dataclasses.replace(chief, stage1_epochs=1))
    with pytest.raises(UsageError, match="stage1_epochs: the chief has 1"):
        worker_settings(worker_args(tmp_path, "--recommended-variant"))
