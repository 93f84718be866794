"""The reference workflow: a two-stage search for the IMDB LSTM, step by step.

Loads the IMDB reviews, builds `ImdbLstmHyperModel`, runs `TwoStageTuner` with
20% of the training reviews held out for validation, prints the stage-1 table
(units -> validation accuracy) and the stage-2 path (learning rate ->
validation accuracy, the chosen trial marked), then evaluates the chosen model
once on the test reviews. (`kt-twostage search` does the same in one command.)

Run it from the repository root:

    python examples/imdb_two_stage.py                  # built-in sample, short schedule
    python examples/imdb_two_stage.py --small          # under a minute (also:
                                                       # KT_TWOSTAGE_EXAMPLE_SMALL=1)
    python examples/imdb_two_stage.py --data aclImdb_v1.tar.gz   # the full reference

Without `--data` the reviews are the 1,000 + 1,000 of the built-in sample and the
schedule is the `quick` preset's; with `--data` it is the reference schedule
(19 + 11 trials, 30 epochs each in stage 2: hours on a CPU). The project is kept
in `--directory` and resumed when the script runs again (`--overwrite` starts
over); `kt-twostage report DIRECTORY/PROJECT` writes its trial table and plots.
"""

import argparse
import dataclasses
import os

from kt_twostage import ImdbLstmHyperModel, TwoStageTuner, load_imdb, sample_path
from kt_twostage.imdb_search import PRESETS

# The `--small` setting: 2 architectures, 2 learning rates, 1 epoch each, on
# 400 short reviews.
SMALL = {
    "units_min": 4,
    "units_max": 8,
    "units_step": 4,
    "stage2_epochs": 1,
    "stage2_trials": 2,
    "num_words": 2000,
    "max_length": 50,
}
SMALL_REVIEWS = 400


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="aclImdb folder or .tar.gz (the full data)")
    parser.add_argument("--directory", default="kt_twostage_runs")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--small", action="store_true", help="a tiny run (< 1 min)")
    args = parser.parse_args()
    args.small = args.small or os.environ.get("KT_TWOSTAGE_EXAMPLE_SMALL") == "1"
    return args


def main():
    args = parse_args()
    if args.data:
        settings = dataclasses.replace(PRESETS["seed"], data=args.data)
    else:
        settings = dataclasses.replace(PRESETS["quick"], data=sample_path())
    if args.small:
        settings = dataclasses.replace(settings, **SMALL, verbose=0)
    project_name = "imdb_example" + ("_small" if args.small else "")

    # 1. Data: padded token ids, the tokenizer fit on the training reviews only.
    data = load_imdb(
        settings.data, num_words=settings.num_words, max_length=settings.max_length
    )
    x_train, y_train = data.x_train, data.y_train
    x_test, y_test = data.x_test, data.y_test
    if args.small:
        x_train, y_train = x_train[:SMALL_REVIEWS], y_train[:SMALL_REVIEWS]
        x_test, y_test = x_test[:SMALL_REVIEWS], y_test[:SMALL_REVIEWS]
    print(f"data: {len(x_train)} training and {len(x_test)} test reviews")

    # 2. The hypermodel declares "units" (stage 1) and "learning_rate" (stage 2).
    hypermodel = ImdbLstmHyperModel(
        num_words=settings.num_words,
        units=(settings.units_min, settings.units_max, settings.units_step),
        max_learning_rate=settings.max_learning_rate,
        default_learning_rate=settings.stage1_learning_rate,
    )

    # 3. The tuner: architecture first, then the learning rate.
    tuner = TwoStageTuner(
        hypermodel,
        objective="val_accuracy",
        stage1_epochs=settings.stage1_epochs,
        stage2_epochs=settings.stage2_epochs,
        stage2_trials=settings.stage2_trials,
        seed=settings.seed,
        directory=args.directory,
        project_name=project_name,
        overwrite=args.overwrite,
    )
    tuner.search(
        x_train,
        y_train,
        validation_split=settings.validation_split,
        batch_size=settings.batch_size,
        verbose=settings.verbose,
    )

    # 4. What each stage did. Every trial's values carry its stage.
    best = tuner.oracle.get_best_trials(1)[0]
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)
    stage1 = [t for t in trials if t.hyperparameters.values["tuner/stage"] == 1]
    stage2 = [t for t in trials if t.hyperparameters.values["tuner/stage"] == 2]

    print("\nstage 1: units -> val_accuracy")
    for trial in stage1:
        print(f"  {trial.hyperparameters.values['units']:>5}  {_score(trial)}")
    winner = stage2[0].hyperparameters.values["units"]
    print(f"stage 1 winner: units={winner}")

    print(f"\nstage 2: learning_rate -> val_accuracy (units={winner})")
    for trial in stage2:
        mark = "  <- chosen" if trial.trial_id == best.trial_id else ""
        learning_rate = trial.hyperparameters.values["learning_rate"]
        print(f"  {learning_rate:10.6g}  {_score(trial)}{mark}")

    # 5. The chosen model (best stage-2 checkpoint), tested once.
    values = best.hyperparameters.values
    model = tuner.get_best_models(1)[0]
    test_loss, test_accuracy = model.evaluate(
        x_test, y_test, batch_size=settings.batch_size, verbose=0
    )
    print(
        f"\nchosen: units={values['units']} learning_rate={values['learning_rate']:.6g}"
        f" | val_accuracy={best.score:.4f}"
    )
    print(f"test accuracy={test_accuracy:.4f} test loss={test_loss:.4f}")


def _score(trial):
    return "failed" if trial.score is None else f"{trial.score:.4f}"


if __name__ == "__main__":
    main()
