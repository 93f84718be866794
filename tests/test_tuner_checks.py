"""The Tuner's argument checks, without the Tuner class."""

import subprocess
import sys

import pytest

from kt_twostage import tuner_checks


def test_checks_do_not_import_the_tuner():
    code = (
        "import sys, kt_twostage.tuner_checks; "
        "print('kt_twostage.tuner' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_hypermodel_none_needs_a_run_trial():
    with pytest.raises(ValueError, match="Received `hypermodel=None`"):
        tuner_checks.check_tuner_arguments(None, {}, overrides_run_trial=False)
    tuner_checks.check_tuner_arguments(None, {}, overrides_run_trial=True)


def test_max_trials_is_refused():
    with pytest.raises(ValueError, match="Remove `max_trials`"):
        tuner_checks.check_tuner_arguments(
            object(), {"max_trials": 3}, overrides_run_trial=False
        )


def test_tuner_passes_whether_its_class_overrides_run_trial(tmp_path):
    from kt_twostage import TwoStageTuner

    with pytest.raises(ValueError, match="Received `hypermodel=None`"):
        TwoStageTuner(None, directory=str(tmp_path), project_name="plain")

    class OwnRunTrial(TwoStageTuner):
        def run_trial(self, trial, *args, **kwargs):
            return 0.5

    try:  # the search space is declared in `run_trial`, so none yet
        OwnRunTrial(None, directory=str(tmp_path), project_name="own")
    except ValueError as error:
        assert "hypermodel=None" not in str(error)
