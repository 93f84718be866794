"""Shared pieces of the Keras Tuner conformance tests: a tiny model, tiny data,
and the two ways of running the schedule (`TwoStageTuner`, or Keras Tuner's
own `Tuner` with a `TwoStageOracle`).

The tests in this folder mirror Keras Tuner's own test suite (keras-tuner
1.4.x, `keras_tuner/engine/*_test.py`, `keras_tuner/distribute/*_test.py`,
`keras_tuner/tuners/gridsearch_test.py`,
`keras_tuner/integration_tests/end_to_end_test.py`); each test names the one
it mirrors in its docstring.
"""

import keras
import keras_tuner
import numpy as np

from kt_twostage import TwoStageOracle, TwoStageTuner

# The two ways of running the two-stage schedule that every tuner-level test
# covers.
TWO_STAGE_TUNER = "TwoStageTuner"
PLAIN_TUNER = "keras_tuner.Tuner"
KINDS = (TWO_STAGE_TUNER, PLAIN_TUNER)

UNITS = (2, 4)
LEARNING_RATE = (1e-4, 0.05, 0.01)  # min, max (stage 2 starts there), default
STAGE2_TRIALS = 2
# `max_trials` of the short schedule: one stage-1 trial per units value, then
# the stage-2 trials.
SCHEDULE_LENGTH = len(UNITS) + STAGE2_TRIALS

# Arguments of `TwoStageOracle`; the rest go to the Tuner.
ORACLE_ARGUMENTS = frozenset(
    {
        "objective",
        "units_hp",
        "learning_rate_hp",
        "stage1_epochs",
        "stage2_epochs",
        "stage2_trials",
        "max_learning_rate",
        "stage1_learning_rate",
        "hyperparameters",
        "seed",
        "tune_new_entries",
        "allow_new_entries",
        "max_retries_per_trial",
        "max_consecutive_failed_trials",
        "stage2_parallelism",
    }
)
SHORT_SCHEDULE = {
    "stage1_epochs": 1,
    "stage2_epochs": 1,
    "stage2_trials": STAGE2_TRIALS,
}


def make_data(samples=32, seed=0):
    """`samples` rows of 3 normal features; the label is 1 where the first two
    features sum above 0 (learnable by one Dense layer)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 3)).astype("float32")
    y = (x[:, :2].sum(axis=1) > 0).astype("float32")
    return x, y


X_TRAIN, Y_TRAIN = make_data(seed=0)
X_VAL, Y_VAL = make_data(seed=1)
FIT = {"validation_data": (X_VAL, Y_VAL), "batch_size": 32, "verbose": 0}


def declare_schedule_hps(hp, units=UNITS, learning_rate=LEARNING_RATE):
    """Declares the two hyperparameters the schedule tunes; returns their values."""
    low, high, default = learning_rate
    units_value = hp.Choice("units", list(units))
    lr = hp.Float("learning_rate", low, high, sampling="log", default=default)
    return units_value, lr


def schedule_space(units=UNITS, learning_rate=LEARNING_RATE):
    """A `HyperParameters` declaring the two tuned hyperparameters."""
    hp = keras_tuner.HyperParameters()
    declare_schedule_hps(hp, units, learning_rate)
    return hp


def build_model(hp, units=UNITS, optimizer=keras.optimizers.RMSprop):
    """One hidden `Dense(units)` layer on 3 features, `optimizer(learning_rate)`."""
    units, lr = declare_schedule_hps(hp, units)
    model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=optimizer(learning_rate=lr),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        # Eager steps: with one batch per epoch, tracing would cost more than
        # training.
        run_eagerly=True,
    )
    return model


class ScheduleEpochsHyperModel(keras_tuner.HyperModel):
    """`build_model`, trained for the epochs the schedule gives each trial
    (`tuner/epochs`): what a plain `keras_tuner.Tuner` with a
    `TwoStageOracle` needs (Hyperband's tuner does the same)."""

    def build(self, hp):
        return build_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        kwargs["epochs"] = hp.values["tuner/epochs"]
        return model.fit(*args, **kwargs)


def tuner_base(kind):
    """The class to subclass for `kind`."""
    return TwoStageTuner if kind == TWO_STAGE_TUNER else keras_tuner.Tuner


# `make_tuner(..., objective=OMIT)`: give no objective at all.
OMIT = object()


def make_tuner(
    kind,
    directory,
    hypermodel=build_model,
    tuner_class=None,
    objective="val_accuracy",
    **kwargs,
):
    """A tuner of `kind` on the short schedule (2 + 2 trials of 1 epoch).

    `kwargs` are the arguments of `TwoStageTuner`; for `keras_tuner.Tuner`,
    those of `TwoStageOracle` build its oracle and the others go to the Tuner.
    The objective is given explicitly (`val_accuracy`) unless it is `OMIT`.
    """
    arguments = {**SHORT_SCHEDULE, "directory": str(directory), **kwargs}
    if objective is not OMIT:
        arguments["objective"] = objective
    if kind == TWO_STAGE_TUNER:
        return (tuner_class or TwoStageTuner)(hypermodel, **arguments)
    oracle_arguments = {k: v for k, v in arguments.items() if k in ORACLE_ARGUMENTS}
    tuner_arguments = {k: v for k, v in arguments.items() if k not in ORACLE_ARGUMENTS}
    oracle = TwoStageOracle(**oracle_arguments)
    return (tuner_class or keras_tuner.Tuner)(
        oracle=oracle, hypermodel=hypermodel, **tuner_arguments
    )


def make_oracle(
    directory, project_name="project", oracle_class=TwoStageOracle, **kwargs
):
    """A `TwoStageOracle` (or `oracle_class`) on the short schedule, its space
    declared, in `directory/project_name`, to drive by hand as a Tuner would.
    The objective defaults to `val_loss`."""
    kwargs.setdefault("hyperparameters", schedule_space())
    kwargs.setdefault("objective", "val_loss")
    oracle = oracle_class(**{**SHORT_SCHEDULE, **kwargs})
    oracle._set_project_dir(str(directory), project_name)
    return oracle


def finish(oracle, trial, score, metric="val_loss"):
    """Ends a running `trial` as a Tuner does: with `score` for `metric`, or,
    with `score=None`, as a trial that raised (INVALID)."""
    if score is None:
        trial.status = "INVALID"
        trial.message = "the trial raised"
    else:
        oracle.update_trial(trial.trial_id, {metric: score})
        trial.status = "COMPLETED"
    oracle.end_trial(trial)


def run_schedule(oracle, score_of, tuner_id="tuner0", end_trial=None, limit=100):
    """Runs trials until the oracle says STOPPED; `score_of(values)` scores
    each. Returns the values of the trials, in the order they ran."""
    ran = []
    for _ in range(limit):
        trial = oracle.create_trial(tuner_id)
        if trial.status == "STOPPED":
            return ran
        assert trial.status == "RUNNING", trial.status
        values = dict(trial.hyperparameters.values)
        ran.append(values)
        if end_trial is None:
            finish(oracle, trial, score_of(values))
        else:
            end_trial(oracle, trial, score_of(values))
    raise AssertionError(f"the schedule did not stop within {limit} trials")


def trials_in_start_order(oracle):
    return [oracle.trials[trial_id] for trial_id in oracle.start_order]


class EpochLog(keras.callbacks.Callback):
    """Appends one line per trained epoch to `path` (survives Keras Tuner's
    deepcopy of callbacks)."""

    def __init__(self, path):
        super().__init__()
        self.path = str(path)

    def on_epoch_end(self, epoch, logs=None):
        with open(self.path, "a") as handle:
            handle.write(f"{epoch}\n")


# Keras Tuner's `MockModel` / `MockHyperModel` in spirit: the loss of each
# epoch, per units value. The best score is 3.0 (units 0, last epoch).
REPLAYED_LOSSES = {0: (9.0, 6.0, 3.0), 1: (13.0, 12.0, 11.0)}
BEST_REPLAYED_LOSS = 3.0


class ReplayModel(keras.Model):
    """Trains nothing: `fit` replays fixed losses through the callbacks.

    It is never built, and `save_weights` / `load_weights` write and read
    nothing: they append `(method, path)` to `calls`, as a model that
    overrides them would.
    """

    def __init__(self, epoch_losses, calls):
        super().__init__()
        self.epoch_losses = tuple(epoch_losses)
        # A bound method, not the list: Keras would track a copy of a list.
        self._record = calls.append

    def fit(self, *args, callbacks=None, **kwargs):
        callbacks = list(callbacks or [])
        for callback in callbacks:
            callback.set_model(self)
            callback.on_train_begin()
        for epoch, loss in enumerate(self.epoch_losses):
            for callback in callbacks:
                callback.on_epoch_begin(epoch)
                callback.on_train_batch_begin(0)
                callback.on_train_batch_end(0, {"loss": loss})
                callback.on_epoch_end(epoch, {"loss": loss})
        for callback in callbacks:
            callback.on_train_end()
        history = keras.callbacks.History()
        history.history = {"loss": list(self.epoch_losses)}
        history.epoch = list(range(len(self.epoch_losses)))
        return history

    def save_weights(self, filepath, *args, **kwargs):
        self._record(("save_weights", str(filepath)))

    def load_weights(self, filepath, *args, **kwargs):
        self._record(("load_weights", str(filepath)))

    def get_config(self):
        return {}


class ReplayHyperModel(keras_tuner.HyperModel):
    """Builds a `ReplayModel` for the `units` value (0 or 1)."""

    def __init__(self, calls=None):
        super().__init__()
        self.calls = [] if calls is None else calls

    def build(self, hp):
        units, _ = declare_schedule_hps(hp, units=tuple(REPLAYED_LOSSES))
        return ReplayModel(REPLAYED_LOSSES[units], self.calls)
