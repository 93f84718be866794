"""`reinvest_stopped_epochs`: stage 2 spends the epochs early stopping saves
on more stage-2 steps, within the reference's stage-2 epochs."""

import keras
import numpy as np
import pytest
import tiny_model
from oracle_driver import STOPPED, make_oracle
from schedule_config import make_config

from kt_twostage import TwoStageOracle
from kt_twostage.replay.lookup import early_stop_epoch
from kt_twostage.schedule import (
    IDLE,
    PATIENCE_KEY,
    TrialPlan,
    TrialRecord,
    planner,
)


def config(**overrides):
    settings = dict(
        units_grid=(10, 20),
        stage2_epochs=10,
        stage2_trials=3,
        stage2_patience=2,
        stage2_epoch_budget=30,
    )
    return make_config(**{**settings, **overrides})


STAGE1 = [TrialRecord(1, 10, 0.001, 0.5), TrialRecord(1, 20, 0.001, 0.6)]


def stage2(*epochs, score=0.5):
    return [TrialRecord(2, 20, 0.02, score, epochs=e) for e in epochs]


# --------------------------------------------------------------------------- #
# The pure schedule.
# --------------------------------------------------------------------------- #
def test_the_length_bound_assumes_every_trial_stops_as_early_as_it_can():
    assert config().stage2_length == 30 // 3
    assert config(stage2_epoch_budget=None).stage2_length == 3
    assert config(stage2_patience=20).stage2_length == 3  # never stops early
    assert config().total_trials == 2 + 10


@pytest.mark.parametrize(
    "epochs, expected",
    [
        ((), "plan"),
        ((10, 10), "plan"),  # 20 + 10 fits in 30
        ((10, 10, 10), STOPPED),
        ((4, 4, 4, 4, 4), "plan"),  # 20 + 10 fits: a sixth trial
        ((4, 4, 4, 4, 4, 4), STOPPED),  # 24 + 10 does not
        ((None, None, None), STOPPED),  # unknown: counted in full
    ],
)
def test_stage2_runs_while_a_whole_trial_fits(epochs, expected):
    plan = planner.next_trial(config(), STAGE1 + stage2(*epochs))
    if expected == "plan":
        assert isinstance(plan, TrialPlan) and plan.stage == 2
    else:
        assert plan == expected


def test_a_running_trial_that_may_stop_early_is_waited_for():
    running = [TrialRecord(2, 20, 0.02, None, ended=False)]
    # 10 + 10 (the running one, counted in full) + 10 = 30 fits: the
    # sequential rule waits for its outcome; 20 spent + 10 running does not
    # fit yet, but it may stop early: wait, do not stop.
    assert planner.next_trial(config(), STAGE1 + stage2(10) + running) == IDLE
    assert planner.next_trial(config(), STAGE1 + stage2(10, 10) + running) == IDLE


def test_without_a_budget_the_reference_length_holds():
    assert (
        planner.next_trial(config(stage2_epoch_budget=None), STAGE1 + stage2(4, 4, 4))
        == STOPPED
    )


# --------------------------------------------------------------------------- #
# The oracle.
# --------------------------------------------------------------------------- #
def run(oracle, best_epoch_of):
    """Run the schedule; a stage-2 trial's best epoch (0-based) comes from
    `best_epoch_of(index)`. Returns each trial's (stage, epochs as trained)."""
    ran = []
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status == STOPPED:
            return ran
        values = trial.hyperparameters.values
        step = 0
        if values["tuner/stage"] == 2:
            step = best_epoch_of(sum(1 for stage, _ in ran if stage == 2))
        oracle.update_trial(trial.trial_id, {"score": 0.5 + 0.01 * step}, step=step)
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        patience = values.get(PATIENCE_KEY)
        epochs = values["tuner/epochs"]
        if patience is not None:
            epochs = min(epochs, step + 1 + patience)
        ran.append((values["tuner/stage"], epochs))


def test_stage2_trials_carry_the_patience(tmp_path):
    oracle = make_oracle(tmp_path, stage2_trials=2, stage2_epochs=6, stage2_patience=2)
    run(oracle, lambda index: 0)
    values = [t.hyperparameters.values for t in oracle.trials.values()]
    assert [v.get(PATIENCE_KEY) for v in values] == [None] * 3 + [2, 2]


def reinvesting_oracle(directory):
    """3 stage-2 trials of 10 epochs, patience 2, saved epochs reinvested."""
    return make_oracle(
        directory,
        stage2_trials=3,
        stage2_epochs=10,
        stage2_patience=2,
        reinvest_stopped_epochs=True,
    )


def test_saved_epochs_buy_more_stage2_trials(tmp_path):
    oracle = reinvesting_oracle(tmp_path)
    # Every stage-2 trial peaks at its second epoch and stops at its fourth.
    ran = run(oracle, lambda index: 1)
    stage2_epochs = [epochs for stage, epochs in ran if stage == 2]
    assert stage2_epochs == [4] * 6  # 24 epochs; a seventh (+10) would not fit
    assert sum(stage2_epochs) <= 3 * 10
    assert oracle.max_trials >= len(ran)


def test_trials_that_do_not_stop_keep_the_reference_length(tmp_path):
    oracle = reinvesting_oracle(tmp_path)
    ran = run(oracle, lambda index: 9)  # the best epoch is the last
    assert [epochs for stage, epochs in ran if stage == 2] == [10, 10, 10]


def test_reinvest_setting_is_checked_on_resume(tmp_path):
    oracle = make_oracle(
        tmp_path, stage2_patience=2, reinvest_stopped_epochs=True, stage2_trials=3
    )
    run(oracle, lambda index: 1)
    resumed = make_oracle(tmp_path, stage2_patience=2, stage2_trials=3)
    resumed.reload()
    with pytest.raises(
        ValueError, match="stage2_epoch_budget: project has 90, now None"
    ):
        resumed.check_resumed_settings()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"reinvest_stopped_epochs": True}, "without `stage2_patience`"),
        (
            {
                "reinvest_stopped_epochs": True,
                "stage2_patience": 2,
                "stage2_parallelism": 2,
            },
            "`stage2_parallelism=2`",
        ),
        ({"reinvest_stopped_epochs": "yes"}, "expected True or False"),
        ({"stage2_patience": 0}, "argument `stage2_patience`"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TwoStageOracle(objective="val_accuracy", **kwargs)


# --------------------------------------------------------------------------- #
# Real training, and the replay's early stopping.
# --------------------------------------------------------------------------- #
def test_tuner_stops_stage2_trials_as_the_values_say(tmp_path):
    x, y = tiny_model.tiny_data(samples=48, label_features=1)

    def frozen(hp):
        # val_accuracy never improves after the first epoch.
        return tiny_model.build_model(
            hp, optimizer=keras.optimizers.SGD, learning_rate=(1e-12, 1e-10, 1e-11)
        )

    tuner = tiny_model.make_tuner(
        tmp_path,
        hypermodel=frozen,
        stage2_epochs=8,
        stage2_trials=2,
        stage2_patience=1,
        reinvest_stopped_epochs=True,
    )
    tuner.search(x, y, validation_split=0.25, verbose=0)
    stage2 = [
        trial_id
        for trial_id in tuner.oracle.start_order
        if tuner.oracle.trials[trial_id].hyperparameters.values["tuner/stage"] == 2
    ]
    # Each stage-2 trial stops after 2 of its 8 epochs. A trial starts while a
    # whole one (8) still fits in 2 x 8 = 16: after 4 trials (8 epochs) a
    # fifth fits, after 5 (10 epochs) a sixth would not. The reference: 2.
    assert [tuner.trained_epochs[t] for t in stage2] == [2] * 5


@pytest.mark.parametrize(
    "val, patience, expected",
    [
        ([0.5, 0.6, 0.6, 0.6, 0.6], 2, 4),  # a tie is no improvement
        ([0.5, 0.6, 0.7, 0.8, 0.9], 1, 5),  # always improving: all epochs
        ([0.9, 0.1, 0.1, 0.1, 0.1], 1, 2),
        ([0.9, 0.1, 0.95, 0.1, 0.1], 2, 5),
    ],
)
def test_replay_stops_where_keras_early_stopping_stops(val, patience, expected):
    assert early_stop_epoch(val, 1, len(val), patience) == expected


def test_keras_early_stopping_agrees(tmp_path):
    """The lookup's stopping epoch is Keras' own, on a recorded curve."""
    values = [0.5, 0.6, 0.6, 0.55, 0.7, 0.6, 0.6, 0.6]

    class Replayed(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_accuracy"] = values[epoch]

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=2)
    x = np.zeros((1, 1), "float32")
    history = model.fit(
        x, x, epochs=len(values), verbose=0, callbacks=[Replayed(), stop]
    )
    assert len(history.epoch) == early_stop_epoch(values, 1, len(values), 2) == 4
