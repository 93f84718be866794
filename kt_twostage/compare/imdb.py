"""`compare_tuners` on the IMDB reviews with `ImdbLstmHyperModel`.

The settings (`ImdbCompareSettings`, `PROFILES`) are pure and live in
`kt_twostage.imdb.settings`; this module loads the data and runs.
"""

from __future__ import annotations

import dataclasses
import time

from kt_twostage.compare.baselines import DEFAULT_TUNERS
from kt_twostage.compare.runner import compare_tuners
from kt_twostage.imdb.data import load_imdb
from kt_twostage.imdb.hypermodel import ImdbLstmHyperModel
from kt_twostage.imdb.settings import ImdbCompareSettings


def run_imdb_compare(
    settings: ImdbCompareSettings,
    output_dir,
    *,
    seeds=3,
    tuners=DEFAULT_TUNERS,
    stage2_patience=None,
    work_dir=None,
    overwrite=False,
    verbose=0,
    description=None,
    run_missing=True,
    deterministic=False,
    log=print,
) -> dict:
    """`compare_tuners` on the IMDB reviews with `ImdbLstmHyperModel`.

    Args:
        settings: An `ImdbCompareSettings` (see `PROFILES`).
        output_dir: Where the tables and plots go.
        seeds: Integer (seeds `0..seeds-1`) or a sequence of seeds.
        tuners, stage2_patience, work_dir, overwrite, verbose, description,
        run_missing, deterministic, log: as in `compare_tuners`.
    """
    train, validation, test = _split_reviews(settings, log)
    seeds = list(range(seeds) if isinstance(seeds, int) else seeds)
    return compare_tuners(
        _hypermodel(settings),
        train,
        validation,
        test,
        output_dir,
        stage1_epochs=settings.stage1_epochs,
        stage2_epochs=settings.stage2_epochs,
        stage2_trials=settings.stage2_trials,
        max_learning_rate=settings.max_learning_rate,
        stage1_learning_rate=settings.stage1_learning_rate,
        seeds=seeds,
        grid_learning_rates=settings.grid_learning_rates,
        grid_seeds=seeds[: settings.grid_seeds],
        tuners=tuners,
        stage2_patience=stage2_patience,
        batch_size=settings.batch_size,
        work_dir=work_dir,
        overwrite=overwrite,
        verbose=verbose,
        problem={
            "data": settings.data or "$KT_TWOSTAGE_IMDB or the official archive",
            "imdb_settings": _recorded_settings(settings),
        },
        description=description,
        run_missing=run_missing,
        deterministic=deterministic,
        log=log,
    )


def _recorded_settings(settings) -> dict:
    """The settings as the work folder records them. `min_learning_rate` is
    left out while unset, so that folders made before it existed (where it
    was always unset) are still reused."""
    recorded = dataclasses.asdict(settings)
    if recorded["min_learning_rate"] is None:
        del recorded["min_learning_rate"]
    return recorded


def _split_reviews(settings, log):
    """`(train, validation, test)` `(x, y)` tuples of the settings' reviews:
    the validation data is the last `validation_split` of the kept training
    reviews, as `fit(validation_split=...)` takes it."""
    start = time.perf_counter()
    data = load_imdb(
        settings.data, num_words=settings.num_words, max_length=settings.max_length
    )
    x, y = (
        data.x_train[: settings.train_reviews],
        data.y_train[: settings.train_reviews],
    )
    x_test = data.x_test[: settings.test_reviews]
    y_test = data.y_test[: settings.test_reviews]
    split = int(len(x) * (1 - settings.validation_split))
    log(
        f"data: {len(x)} training reviews ({split} fit, {len(x) - split} "
        f"validation), {len(x_test)} test, loaded in "
        f"{time.perf_counter() - start:.0f} s"
    )
    return (x[:split], y[:split]), (x[split:], y[split:]), (x_test, y_test)


def _hypermodel(settings):
    return ImdbLstmHyperModel(
        num_words=settings.num_words,
        units=(settings.units_min, settings.units_max, settings.units_step),
        max_learning_rate=settings.max_learning_rate,
        default_learning_rate=settings.stage1_learning_rate,
        min_learning_rate=settings.lowest_learning_rate,
    )
