"""Keras Tuner's `keras_tuner/integration_tests/end_to_end_test.py`, on the
two-stage schedule: a whole search, then the best model, on a tiny learnable
problem and on the IMDB reference problem (the sample that ships with the
package)."""

import keras
import pytest
from conformance_helpers import (
    KINDS,
    TWO_STAGE_TUNER,
    ScheduleEpochsHyperModel,
    build_model,
    make_data,
    make_tuner,
    trials_in_start_order,
)

from kt_twostage import ImdbLstmHyperModel, TwoStageTuner, load_imdb, sample_path

# End-to-end searches with real training; `make test-all` only.
pytestmark = pytest.mark.heavy


@pytest.mark.parametrize("kind", KINDS)
def test_end_to_end_workflow(kind, tmp_path):
    """Mirrors end_to_end_test.py::test_end_to_end_workflow.

    Adapted: 512 samples of a learnable problem (the label is the sign of a
    sum of two features) instead of repeated random MNIST-sized images, and
    the short schedule with stage-2 trials of 5 epochs instead of 20 trials
    of 10 epochs, with the same `EarlyStopping(patience=2)`. Under a plain
    `keras_tuner.Tuner`, the hypermodel trains `tuner/epochs`. The best
    model's validation accuracy is its trial's score, and it learned the
    problem (a constant guess scores about 0.5).
    """
    x, y = make_data(512, seed=2)
    val_x, val_y = make_data(256, seed=3)
    hypermodel = build_model if kind == TWO_STAGE_TUNER else ScheduleEpochsHyperModel()
    tuner = make_tuner(kind, tmp_path, hypermodel=hypermodel, stage2_epochs=5, seed=1)

    tuner.search_space_summary()
    tuner.search(
        x=x,
        y=y,
        batch_size=32,
        callbacks=[keras.callbacks.EarlyStopping(patience=2)],
        validation_data=(val_x, val_y),
        verbose=0,
    )
    tuner.results_summary()

    best_trial = tuner.oracle.get_best_trials(1)[0]
    assert best_trial.hyperparameters.values["tuner/stage"] == 2
    best_model = tuner.get_best_models(1)[0]
    _, val_acc = best_model.evaluate(val_x, val_y, verbose=0)
    assert val_acc == pytest.approx(best_trial.score)
    assert val_acc > 0.8


def test_imdb_end_to_end(tmp_path):
    """Mirrors end_to_end_test.py::test_end_to_end_workflow on the reference
    problem: `ImdbLstmHyperModel` on the built-in IMDB sample (1,000 training
    reviews), with a small vocabulary, short reviews and the short schedule.
    The objective is the reference default, `val_accuracy`; the best model
    scores its trial's score on the validation split (the last 20% of the
    training reviews)."""
    data = load_imdb(
        sample_path(), num_words=500, max_length=40, cache_dir=str(tmp_path / "cache")
    )
    tuner = TwoStageTuner(
        ImdbLstmHyperModel(num_words=500, units=(4, 8, 4)),
        stage2_trials=2,
        stage2_epochs=1,
        seed=1,
        directory=str(tmp_path),
        project_name="imdb",
    )
    tuner.search(data.x_train, data.y_train, validation_split=0.2, verbose=0)

    trials = trials_in_start_order(tuner.oracle)
    assert [t.hyperparameters.values["units"] for t in trials[:2]] == [4, 8]
    assert [t.status for t in trials] == ["COMPLETED"] * 4
    best_trial = tuner.oracle.get_best_trials(1)[0]
    assert best_trial.hyperparameters.values["tuner/stage"] == 2
    assert tuner.oracle.objective.name == "val_accuracy"

    best_model = tuner.get_best_models(1)[0]
    split = int(len(data.x_train) * 0.8)
    _, val_acc = best_model.evaluate(
        data.x_train[split:], data.y_train[split:], verbose=0
    )
    assert val_acc == pytest.approx(best_trial.score)
    _, test_acc = best_model.evaluate(data.x_test, data.y_test, verbose=0)
    assert 0.0 <= test_acc <= 1.0
