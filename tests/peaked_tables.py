"""Synthetic tables for the replay's baselines, bootstrap and suite tests.

Curves peak at `PEAK_EPOCH` and then fall, so that `EarlyStopping` and a
pruner have something to stop; the quality is `replay_tables.quality` (best
at units=16 and learning rate 0.0025). `seed_spread` sets how much the
recorded seeds disagree: seed `s` adds `seed_spread * SEED_SIGNS[s]` to
every value of every configuration but the optimum's neighbours, whose
order it flips when it is large.
"""

from replay_tables import RATES, UNITS, quality

from kt_twostage.tabular.table import append_rows

PEAK_EPOCH = 3
EPOCHS = 9
SEED_SIGNS = (-1.0, 1.0, -0.5, 0.5)


def val_accuracy(units, rate, seed, epoch, seed_spread=0.0, flip=None):
    shape = -0.01 * abs(epoch - PEAK_EPOCH)
    noise = seed_spread * SEED_SIGNS[seed]
    if flip is not None and (units, rate) == flip:
        # This configuration's seeds disagree in sign: one seed puts it
        # above the optimum, the other below.
        noise *= 4.0
    return quality(units, rate) + shape + noise


def rows(seeds=(0, 1), seed_spread=0.0, flip=None, units=UNITS, rates=RATES):
    out = []
    for u in units:
        for rate in rates:
            for seed in seeds:
                for epoch in range(1, EPOCHS + 1):
                    val = val_accuracy(u, rate, seed, epoch, seed_spread, flip)
                    out.append(
                        {
                            "units": u,
                            "learning_rate": rate,
                            "seed": seed,
                            "epoch": epoch,
                            "val_accuracy": val,
                            "val_loss": 1.0 - val,
                            "test_accuracy": val - 0.01,
                            "test_loss": 1.01 - val,
                            "seconds": 1.0,
                        }
                    )
    return out


def write_table(path, **kwargs):
    append_rows(path, rows(**kwargs))
    return str(path)
