"""The IMDB reference search: data, hypermodel, tuner and final test, in one call.

Used by `kt-twostage search` and the examples; the library pieces it joins
(`load_imdb`, `ImdbLstmHyperModel`, `TwoStageTuner`) know nothing of it.
"""

from __future__ import annotations

import dataclasses
import os

from kt_twostage import _io
from kt_twostage._validation import check_positive_int
from kt_twostage.data import ImdbData, load_imdb, sample_path
from kt_twostage.hypermodel import ImdbLstmHyperModel
from kt_twostage.tuner import TwoStageTuner

RESULT_FILE = "result.json"


@dataclasses.dataclass(frozen=True)
class ImdbProblemSettings:
    """The IMDB problem and two-stage schedule, shared by search and compare.

    Defaults: the reference. `data=None` means the `KT_TWOSTAGE_IMDB`
    environment variable, else the official archive, downloaded once (see
    `load_imdb`).
    """

    data: str | None = None
    units_min: int = 10
    units_max: int = 190
    units_step: int = 10
    stage1_epochs: int = 1
    stage2_epochs: int = 30
    stage2_trials: int = 11
    max_learning_rate: float = 0.02
    stage1_learning_rate: float = 0.001
    num_words: int = 88584
    max_length: int = 250
    batch_size: int = 32
    validation_split: float = 0.2

    def __post_init__(self):
        if not self.units_min <= self.units_max:
            raise ValueError(
                f"Received units_min={self.units_min} > units_max="
                f"{self.units_max}; expected units_min <= units_max."
            )
        if not 0 < self.validation_split < 1:
            raise ValueError(
                "Received an invalid value for `validation_split`, expected a "
                f"number between 0 and 1 (exclusive), got {self.validation_split}."
            )


@dataclasses.dataclass(frozen=True)
class ImdbSearchSettings(ImdbProblemSettings):
    """Everything that defines one IMDB search. Defaults: the reference."""

    seed: int | None = None
    verbose: int = 1
    directory: str = "kt_twostage_runs"
    project_name: str = "imdb"
    overwrite: bool = False
    # Speed options, all off by default (the reference). `stage2_patience`
    # changes the stage-2 scores, so a project resumes only with its value;
    # `mixed_precision` changes the numbers too (not checked on resume);
    # `keep_checkpoints` only deletes files nothing can choose any more.
    stage2_patience: int | None = None
    keep_checkpoints: int | None = None
    mixed_precision: bool = False

    def __post_init__(self):
        for name in ("stage2_patience", "keep_checkpoints"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        super().__post_init__()


PRESETS = {
    # The reference schedule on the full dataset: 19 + 11 trials.
    "seed": ImdbSearchSettings(),
    # The built-in sample with a short schedule: under a minute on 2 CPU cores.
    "quick": ImdbSearchSettings(
        data=sample_path(),
        units_min=8,
        units_max=32,
        units_step=8,
        stage2_epochs=3,
        stage2_trials=4,
        num_words=10000,
        max_length=120,
        seed=0,
        project_name="imdb_quick",
    ),
}


def build_tuner(settings: ImdbSearchSettings, **tuner_kwargs) -> TwoStageTuner:
    """The `TwoStageTuner` of an IMDB search (no data loaded)."""
    hypermodel = ImdbLstmHyperModel(
        num_words=settings.num_words,
        units=(settings.units_min, settings.units_max, settings.units_step),
        max_learning_rate=settings.max_learning_rate,
        default_learning_rate=settings.stage1_learning_rate,
        mixed_precision=settings.mixed_precision,
    )
    return TwoStageTuner(
        hypermodel,
        objective="val_accuracy",
        stage1_epochs=settings.stage1_epochs,
        stage2_epochs=settings.stage2_epochs,
        stage2_trials=settings.stage2_trials,
        max_learning_rate=settings.max_learning_rate,
        stage1_learning_rate=settings.stage1_learning_rate,
        seed=settings.seed,
        stage2_patience=settings.stage2_patience,
        keep_checkpoints=settings.keep_checkpoints,
        directory=settings.directory,
        project_name=settings.project_name,
        overwrite=settings.overwrite,
        **tuner_kwargs,
    )


def load_data(settings: ImdbSearchSettings) -> ImdbData:
    """The tokenized reviews of an IMDB search (`load_imdb` with its settings)."""
    return load_imdb(
        settings.data, num_words=settings.num_words, max_length=settings.max_length
    )


def run_search(
    tuner: TwoStageTuner, settings: ImdbSearchSettings, x, y, **fit_kwargs
) -> TwoStageTuner:
    """`tuner.search(x, y)` with the settings' validation split, batch size
    and verbosity; returns `tuner`."""
    tuner.search(
        x,
        y,
        validation_split=settings.validation_split,
        batch_size=settings.batch_size,
        verbose=settings.verbose,
        **fit_kwargs,
    )
    return tuner


def run_imdb_search(settings: ImdbSearchSettings, **tuner_kwargs) -> dict:
    """Run (or resume) the search, test the chosen model once, save the result.

    Returns:
        A dict with the chosen `units` and `learning_rate`, its validation
        score, the test accuracy and loss, and where it was written.
    """
    data = load_data(settings)
    tuner = run_search(
        build_tuner(settings, **tuner_kwargs), settings, data.x_train, data.y_train
    )
    best_trial = tuner.oracle.get_best_trials(1)[0]
    model = tuner.get_best_models(1)[0]
    test_loss, test_accuracy = model.evaluate(
        data.x_test, data.y_test, batch_size=settings.batch_size, verbose=0
    )
    values = best_trial.hyperparameters.values
    result = {
        "units": values["units"],
        "learning_rate": values["learning_rate"],
        "stage": values["tuner/stage"],
        "trial_id": best_trial.trial_id,
        "objective": "val_accuracy",
        "validation_score": best_trial.score,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "train_reviews": int(len(data.x_train)),
        "test_reviews": int(len(data.x_test)),
        # Epochs the trials trained, and the epochs their stages scheduled
        # (`stage2_patience` makes the first smaller).
        "trained_epochs": int(sum(tuner.trained_epochs.values())),
        "scheduled_epochs": int(
            sum(
                tuner.oracle.trials[trial_id].hyperparameters.values["tuner/epochs"]
                for trial_id in tuner.trained_epochs
                if trial_id in tuner.oracle.trials
            )
        ),
        "settings": dataclasses.asdict(settings),
    }
    path = os.path.join(tuner.project_dir, RESULT_FILE)
    _io.atomic_write_json(path, result)
    result["path"] = path
    return result
