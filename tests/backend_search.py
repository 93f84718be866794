"""A small IMDB two-stage search, interrupted and resumed, on one Keras backend.

Run as a script in a fresh process (the backend is chosen by `KERAS_BACKEND`
before Keras is imported):

    KERAS_BACKEND=jax python tests/backend_search.py DIRECTORY

It tokenizes the built-in sample on a fresh cache, searches until a trial
interrupts it (a `KeyboardInterrupt` at the start of the third trial), resumes
the project with a new tuner, and prints one JSON line: the backend, the
trials each run trained, the chosen trial, the checkpoints left on disk and
the test accuracy of the best model. `tests/test_backends.py` checks it.
"""

import json
import os
import sys


def main(directory):
    import keras

    from kt_twostage import ImdbLstmHyperModel, TwoStageTuner, load_imdb, sample_path

    data = load_imdb(
        sample_path(),
        num_words=300,
        max_length=16,
        cache_dir=os.path.join(directory, "cache"),
    )
    x, y = data.x_train[:200], data.y_train[:200]
    ran = []

    class Interrupted(TwoStageTuner):
        """Stops the search when `stop_at` trials have started."""

        stop_at = None

        def on_trial_begin(self, trial):
            ran.append(trial.trial_id)
            if self.stop_at is not None and len(ran) == self.stop_at:
                raise KeyboardInterrupt
            super().on_trial_begin(trial)

    def tuner(stop_at=None):
        Interrupted.stop_at = stop_at
        return Interrupted(
            ImdbLstmHyperModel(num_words=300, units=(4, 8, 4)),
            objective="val_accuracy",
            stage2_epochs=2,
            stage2_trials=2,
            seed=1,
            keep_checkpoints=1,
            directory=directory,
            project_name="search",
        )

    try:
        tuner(stop_at=3).search(x, y, validation_split=0.25, batch_size=32, verbose=0)
    except KeyboardInterrupt:
        pass
    first = list(ran)
    ran.clear()
    resumed = tuner()
    resumed.search(x, y, validation_split=0.25, batch_size=32, verbose=0)
    best = resumed.oracle.get_best_trials(1)[0]
    model = resumed.get_best_models(1)[0]
    _, accuracy = model.evaluate(data.x_test[:100], data.y_test[:100], verbose=0)
    project = os.path.join(directory, "search")
    print(
        json.dumps(
            {
                "backend": keras.backend.backend(),
                "first_run": first,
                "resumed_run": ran,
                "trials": sorted(resumed.oracle.trials),
                "statuses": sorted({t.status for t in resumed.oracle.trials.values()}),
                "best": best.trial_id,
                "best_stage": best.hyperparameters.values["tuner/stage"],
                "checkpoints": sorted(
                    name.removeprefix("trial_")
                    for name in os.listdir(project)
                    if os.path.exists(
                        os.path.join(project, name, "checkpoint.weights.h5")
                    )
                ),
                "test_accuracy": float(accuracy),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
