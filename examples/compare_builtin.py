"""The two-stage tuner beside Keras Tuner's built-in tuners, on one budget.

Runs `kt_twostage.compare.compare_tuners` on the IMDB LSTM hypermodel and the
built-in IMDB sample: `TwoStageTuner`, `RandomSearch`, `BayesianOptimization`
and `Hyperband` get the same search space, the same training and validation
data and the same budget in epochs (the two-stage schedule's), and a small
reference grid (every units value x a few learning rates, one seed; not
exhaustive, not an upper bound) is trained beside them. Each tuner's chosen model is
evaluated once on the test reviews. It prints the summary and writes tables
(`trials.csv`, `runs.csv`, `summary.md`, `summary.json`) and plots to
`--directory`.

Pass your own hypermodel and `(x, y)` tuples to `compare_tuners` the same way;
`kt-twostage compare` is the IMDB comparison as a command.

Run it from the repository root:

    python examples/compare_builtin.py            # 3 seeds: tens of minutes on a CPU
    python examples/compare_builtin.py --small    # 1 seed, under a minute (also:
                                                  # KT_TWOSTAGE_EXAMPLE_SMALL=1)

Finished runs are kept in `--directory` and reused when the script runs again
(`--overwrite` starts over).
"""

import argparse
import os

from kt_twostage import ImdbLstmHyperModel, load_imdb, sample_path
from kt_twostage.compare import compare_tuners

# The schedule (and so every tuner's budget) and the data of each setting.
DEFAULT = {
    "units": (8, 32, 8),
    "stage2_epochs": 3,
    "stage2_trials": 4,
    "num_words": 10000,
    "max_length": 120,
    "seeds": (0, 1, 2),
    "grid_learning_rates": 5,
    "reviews": None,  # all of the sample's: 1,000 training, 1,000 test
}
SMALL = {
    "units": (8, 16, 8),
    "stage2_epochs": 2,
    "stage2_trials": 2,
    "num_words": 2000,
    "max_length": 50,
    "seeds": (0,),
    "grid_learning_rates": 2,
    "reviews": 400,
}
MAX_LEARNING_RATE = 0.02  # the first stage-2 learning rate
STAGE1_LEARNING_RATE = 0.001


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", default="kt_twostage_compare/example")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--small", action="store_true", help="a tiny run (< 1 min)")
    args = parser.parse_args()
    args.small = args.small or os.environ.get("KT_TWOSTAGE_EXAMPLE_SMALL") == "1"
    return args


def main():
    args = parse_args()
    setting = SMALL if args.small else DEFAULT

    data = load_imdb(
        sample_path(), num_words=setting["num_words"], max_length=setting["max_length"]
    )
    x, y = data.x_train[: setting["reviews"]], data.y_train[: setting["reviews"]]
    # Selection on the last 20% of the training reviews, for every tuner.
    split = int(len(x) * 0.8)
    train = (x[:split], y[:split])
    validation = (x[split:], y[split:])
    test = (data.x_test[: setting["reviews"]], data.y_test[: setting["reviews"]])

    hypermodel = ImdbLstmHyperModel(
        num_words=setting["num_words"],
        units=setting["units"],
        max_learning_rate=MAX_LEARNING_RATE,
        default_learning_rate=STAGE1_LEARNING_RATE,
        # Only the learning rates the two-stage schedule can reach (stage 2
        # halves at most once per trial): the other tuners search that range.
        min_learning_rate=min(
            STAGE1_LEARNING_RATE,
            MAX_LEARNING_RATE / 2 ** (setting["stage2_trials"] - 1),
        ),
    )
    summary = compare_tuners(
        hypermodel,
        train,
        validation,
        test,
        args.directory,
        stage1_epochs=1,
        stage2_epochs=setting["stage2_epochs"],
        stage2_trials=setting["stage2_trials"],
        objective="val_accuracy",
        seeds=setting["seeds"],
        grid_learning_rates=setting["grid_learning_rates"],
        tuners=("twostage", "random", "bayesian", "hyperband", "grid"),
        overwrite=args.overwrite,
    )

    print(f"\nbudget: {summary['settings']['budget_epochs']} epochs per tuner")
    print(f"{'tuner':<22} {'epochs':>6} {'val_accuracy':>12} {'test accuracy':>13}")
    for row in summary["summary"]:
        print(
            f"{row['label']:<22} {row['epochs']['mean']:>6.0f}"
            f" {row['validation_score']['mean']:>12.4f}"
            f" {row['test_score']['mean']:>13.4f}"
        )
    print(f"(means over {len(setting['seeds'])} seed(s); the grid is the reference)")
    print(
        f"written to {args.directory}: {', '.join(sorted(summary['files'].values()))}"
    )


if __name__ == "__main__":
    main()
