"""Drive a `TwoStageOracle` by hand, as a Tuner would, without training."""

import math

import keras_tuner as kt
from keras_tuner.engine import trial as trial_module

from kt_twostage import TwoStageOracle

RUNNING = trial_module.TrialStatus.RUNNING
IDLE = trial_module.TrialStatus.IDLE
STOPPED = trial_module.TrialStatus.STOPPED


def make_space(units=(10, 30, 10), max_learning_rate=0.02, default=0.001):
    hps = kt.HyperParameters()
    hps.Int("units", units[0], units[1], step=units[2])
    hps.Float("learning_rate", 1e-6, max_learning_rate, sampling="log", default=default)
    hps.Choice("dropout", [0.0, 0.5])
    return hps


def make_oracle(directory, project="project", direction="max", **kwargs):
    kwargs.setdefault("hyperparameters", make_space())
    kwargs.setdefault("stage2_trials", 4)
    oracle = TwoStageOracle(objective=kt.Objective("score", direction), **kwargs)
    oracle._set_project_dir(str(directory), project)
    return oracle


def fresh_reload(directory, project="project", **kwargs):
    oracle = make_oracle(directory, project, **kwargs)
    oracle.reload()
    return oracle


def finish(oracle, trial, score):
    """End a running trial with `score` (None: the trial raised)."""
    if score is None:
        trial.status = trial_module.TrialStatus.INVALID
        trial.message = "raised"
    else:
        oracle.update_trial(trial.trial_id, {"score": score})
        trial.status = trial_module.TrialStatus.COMPLETED
    oracle.end_trial(trial)


def describe(trial):
    values = trial.hyperparameters.values
    return (
        values["tuner/stage"],
        values["units"],
        values["learning_rate"],
        values["tuner/epochs"],
    )


def run_to_end(oracle, score_of, tuner_id="tuner0", limit=200):
    """Run trials until STOPPED; returns (stage, units, lr, epochs) in order."""
    ran = []
    for _ in range(limit):
        trial = oracle.create_trial(tuner_id)
        if trial.status == STOPPED:
            return ran
        assert trial.status == RUNNING, trial.status
        ran.append(describe(trial))
        finish(oracle, trial, score_of(trial.hyperparameters.values))
    raise AssertionError("the schedule did not stop")


def score_from_values(values):
    """A deterministic score with a best units value and a best learning rate."""
    units = values["units"]
    learning_rate = values["learning_rate"]
    return 1.0 - abs(units - 20) / 100 - abs(math.log2(learning_rate / 0.004)) / 50
