"""Small synthetic learning-curve tables with a known optimum, for replay tests.

Every curve rises towards a quality `quality(units, learning_rate)` that is
best at units=16 and learning rate 0.0025 and falls linearly in
|log2(units / 16)| and |log2(learning_rate / 0.0025)|; seed 1 is a little
better than seed 0, and the test accuracy sits slightly below the
validation accuracy. Because the quality is linear in log(learning rate) on
each side of 0.0025 (a recorded rate), interpolated curves are exactly the
formula's.
"""

import math

from kt_twostage.tabular.table import append_rows

UNITS = (8, 16, 32)
RATES = tuple(sorted({0.02 * 2.0**-k for k in range(7)} | {0.001}))
SEEDS = (0, 1)
EPOCHS = 9
BEST_UNITS = 16
BEST_RATE = 0.0025
SEED_OFFSET = 0.004
TEST_OFFSET = -0.01


def quality(units, learning_rate):
    return (
        0.9
        - 0.05 * abs(math.log2(units / BEST_UNITS))
        - 0.02 * abs(math.log2(learning_rate / BEST_RATE))
    )


def val_accuracy(units, learning_rate, seed, epoch):
    return quality(units, learning_rate) * (1 - 0.5**epoch) + SEED_OFFSET * seed


def rows(units=UNITS, rates=RATES, seeds=SEEDS, epochs=EPOCHS, skip=()):
    """Table rows; `skip`: `(units, rate, seed)` runs left out."""
    out = []
    for u in units:
        for rate in rates:
            for seed in seeds:
                if (u, rate, seed) in skip:
                    continue
                for epoch in range(1, epochs + 1):
                    val = val_accuracy(u, rate, seed, epoch)
                    out.append(
                        {
                            "units": u,
                            "learning_rate": rate,
                            "seed": seed,
                            "epoch": epoch,
                            "val_accuracy": val,
                            "val_loss": 1.0 - val,
                            "test_accuracy": val + TEST_OFFSET,
                            "test_loss": 1.0 - val - TEST_OFFSET,
                            "seconds": 1.0,
                        }
                    )
    return out


def write_table(path, **kwargs):
    append_rows(path, rows(**kwargs))
    return str(path)
