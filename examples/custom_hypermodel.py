"""The two-stage tuner on your own model and data: nothing here is IMDB.

A small GRU classifier on generated sequences (no download): each sequence has
two channels of noise and the label says which channel has the larger sum. The
hypermodel is a plain `build_model(hp)` function whose hyperparameters have
their own names: the architecture is `width` (a `Choice`), the learning rate
`lr` (a `Float`). `TwoStageTuner` is told those names (`units_hp`,
`learning_rate_hp`), tunes a loss (`val_loss`, minimized) rather than an
accuracy, and validates on explicit `validation_data`.

Run it from the repository root:

    python examples/custom_hypermodel.py            # about a minute or two on a CPU
    python examples/custom_hypermodel.py --small    # under a minute (also:
                                                    # KT_TWOSTAGE_EXAMPLE_SMALL=1)
"""

import keras
import numpy as np
from _common import parse_example_args, parser_for

from kt_twostage import TwoStageTuner

TIMESTEPS = 20


def build_model(hp):
    width = hp.Choice("width", [8, 16, 32])  # stage 1 trains each, in order
    lr = hp.Float("lr", 1e-4, 0.05, sampling="log", default=0.005)  # stage 2
    model = keras.Sequential(
        [
            keras.Input(shape=(TIMESTEPS, 2)),
            keras.layers.GRU(width),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def make_sequences(count, seed):
    """`count` sequences of 2 noise channels; label 1 if channel 0 sums higher."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, TIMESTEPS, 2)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) > x[:, :, 1].sum(axis=1)).astype("float32")
    return x, y


def parse_args():
    parser = parser_for(__doc__)
    parser.add_argument("--overwrite", action="store_true")
    return parse_example_args(parser)


def main():
    args = parse_args()
    count = 300 if args.small else 3000
    x_train, y_train = make_sequences(count, seed=0)
    x_val, y_val = make_sequences(count // 4, seed=1)
    x_test, y_test = make_sequences(count // 4, seed=2)

    tuner = TwoStageTuner(
        build_model,
        objective="val_loss",  # a loss: lower is better
        units_hp="width",
        learning_rate_hp="lr",
        stage1_epochs=1,
        stage2_epochs=1 if args.small else 5,
        stage2_trials=2 if args.small else 5,
        # max_learning_rate defaults to lr's max_value (0.05), and
        # stage1_learning_rate to lr's default (0.005).
        seed=0,
        directory=args.directory,
        project_name="custom_gru" + ("_small" if args.small else ""),
        overwrite=args.overwrite,
    )
    tuner.search(
        x_train, y_train, validation_data=(x_val, y_val), batch_size=32, verbose=0
    )

    print("trial  stage  width        lr  val_loss")
    for trial in sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id):
        values = trial.hyperparameters.values
        score = "failed" if trial.score is None else f"{trial.score:.4f}"
        print(
            f"{trial.trial_id:>5}  {values['tuner/stage']:>5}  {values['width']:>5}"
            f"  {values['lr']:8.4g}  {score}"
        )

    best_hp = tuner.get_best_hyperparameters(1)[0]
    best_model = tuner.get_best_models(1)[0]
    _, test_accuracy = best_model.evaluate(x_test, y_test, verbose=0)
    print(f"chosen: width={best_hp['width']} lr={best_hp['lr']:.4g}")
    print(f"test accuracy={test_accuracy:.4f}")


if __name__ == "__main__":
    main()
