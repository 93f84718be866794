"""What the examples share: `--directory`, `--small` and the tiny IMDB setting.

Not an example itself: the scripts beside it import it (`python
examples/NAME.py` puts this folder on `sys.path`).
"""

import argparse
import dataclasses
import os

from kt_twostage.imdb import search as imdb_search
from kt_twostage.imdb.settings import PRESETS

# The IMDB examples' `--small` setting: 2 architectures and 2 learning rates,
# 1 epoch each, on the first 400 training (and test) reviews, short ones.
SMALL = {
    "units_min": 4,
    "units_max": 8,
    "units_step": 4,
    "stage2_epochs": 1,
    "stage2_trials": 2,
    "num_words": 2000,
    "max_length": 50,
    "verbose": 0,
}
SMALL_REVIEWS = 400


def parser_for(doc):
    """An argument parser described by the first line of `doc`, with the
    `--directory` the projects are kept in."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--directory", default="kt_twostage_runs")
    return parser


def parse_example_args(parser):
    """Adds `--small` to `parser` and parses; KT_TWOSTAGE_EXAMPLE_SMALL=1 sets it."""
    parser.add_argument("--small", action="store_true", help="a tiny run (< 1 min)")
    args = parser.parse_args()
    args.small = args.small or os.environ.get("KT_TWOSTAGE_EXAMPLE_SMALL") == "1"
    return args


def example_settings(args, project_name, preset=None, small=SMALL, **changes):
    """`preset` (default: the `quick` one) in `args.directory` as `project_name`;
    with `--small`, changed by `small` and `_small` added to the name."""
    settings = dataclasses.replace(
        PRESETS["quick"] if preset is None else preset,
        directory=args.directory,
        project_name=project_name + ("_small" if args.small else ""),
        **changes,
    )
    if args.small:
        settings = dataclasses.replace(settings, **small)
    return settings


def load_reviews(settings, small):
    """`(x_train, y_train, x_test, y_test)` of `settings`; with `small`, the
    first `SMALL_REVIEWS` of each."""
    data = imdb_search.load_data(settings)
    arrays = (data.x_train, data.y_train, data.x_test, data.y_test)
    if small:
        arrays = tuple(array[:SMALL_REVIEWS] for array in arrays)
    return arrays
