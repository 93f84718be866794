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

import dataclasses

from _common import example_settings, load_reviews, parse_example_args, parser_for

from kt_twostage import sample_path
from kt_twostage.imdb.search import build_tuner, run_search
from kt_twostage.imdb.settings import PRESETS


def parse_args():
    parser = parser_for(__doc__)
    parser.add_argument("--data", help="aclImdb folder or .tar.gz (the full data)")
    parser.add_argument("--overwrite", action="store_true")
    return parse_example_args(parser)


def main():
    args = parse_args()
    if args.data:
        preset = dataclasses.replace(PRESETS["seed"], data=args.data)
    else:
        preset = dataclasses.replace(PRESETS["quick"], data=sample_path())
    settings = example_settings(args, "imdb_example", preset, overwrite=args.overwrite)

    # 1. Data: padded token ids, the tokenizer fit on the training reviews only.
    x_train, y_train, x_test, y_test = load_reviews(settings, args.small)
    print(f"data: {len(x_train)} training and {len(x_test)} test reviews")

    # 2. The tuner (`build_tuner`): an `ImdbLstmHyperModel`, which declares
    # "units" (stage 1) and "learning_rate" (stage 2), in a `TwoStageTuner`
    # that tunes the architecture first, then the learning rate.
    tuner = run_search(build_tuner(settings), settings, x_train, y_train)

    # 3. What each stage did. Every trial's values carry its stage.
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

    # 4. The chosen model (best stage-2 checkpoint), tested once.
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
