"""The flags that override one field of the IMDB settings, in one table.

`search` (and `worker`) override `ImdbSearchSettings`, `compare` overrides
`ImdbCompareSettings`; each offers the flags of the fields its settings
class has (`fields_of`). A flag left out keeps the preset's (or profile's)
value.
"""

from __future__ import annotations

import dataclasses

# field -> (type, help). The flag is the field with dashes.
OVERRIDES = {
    "units_min": (int, "smallest units value of the stage-1 grid"),
    "units_max": (int, "largest units value of the stage-1 grid"),
    "units_step": (int, "step of the stage-1 grid"),
    "stage1_epochs": (int, "epochs of each stage-1 trial"),
    "stage2_epochs": (
        int,
        "epochs of each stage-2 trial (compare: also of each RandomSearch, "
        "BayesianOptimization and grid trial)",
    ),
    "stage2_trials": (int, "number of stage-2 trials"),
    "max_learning_rate": (float, "first stage-2 learning rate (the maximum)"),
    "stage1_learning_rate": (float, "learning rate of stage 1"),
    "num_words": (int, "vocabulary size, including padding and OOV ids"),
    "max_length": (int, "tokens kept per review"),
    "batch_size": (int, "training batch size"),
    "validation_split": (
        float,
        "fraction of the (kept) training reviews used for selection",
    ),
    # `ImdbSearchSettings` only.
    "seed": (int, "random seed (Keras' global seed is set per trial)"),
    "verbose": (int, "Keras verbosity: 0 silent, 1 progress bars, 2 one line"),
    "stage2_patience": (
        int,
        "stop a stage-2 trial after this many epochs without improvement "
        "(default: off, every trial trains all its epochs)",
    ),
    "stage2_rule": (
        str,
        "how stage 2 moves the learning rate: 'reference' (halve after an "
        "improvement, else halfway back to the maximum) or 'compass' (a line "
        "search from the stage-1 learning rate; see the README)",
    ),
    "keep_checkpoints": (
        int,
        "keep the best-epoch checkpoints of the best N trials only, deleting "
        "the others once they can no longer be chosen (default: keep all)",
    ),
    # `ImdbCompareSettings` only.
    "train_reviews": (int, "keep the first N training reviews (default: all)"),
    "test_reviews": (int, "keep the first N test reviews (default: all)"),
    "grid_learning_rates": (int, "learning rates of the reference grid"),
    "grid_seeds": (int, "seeds the reference grid runs (the first N)"),
    "min_learning_rate": (
        float,
        "low end of the learning-rate range every tuner searches (default: "
        "what the reference rule reaches, min(stage-1 rate, max / "
        "2**(stage2_trials - 1)))",
    ),
}


def fields_of(settings_class) -> tuple:
    """The fields of `settings_class` (a settings dataclass) that have a flag
    here, in the class's order: the flags its subcommand offers."""
    return tuple(
        field.name
        for field in dataclasses.fields(settings_class)
        if field.name in OVERRIDES
    )


def flag(field) -> str:
    """The command-line flag of a settings field."""
    return "--" + field.replace("_", "-")


def add_override_arguments(parser, fields):
    """One flag per field of `fields`, defaulting to `None` (not given)."""
    for field in fields:
        kind, text = OVERRIDES[field]
        parser.add_argument(flag(field), type=kind, help=text)


def given_overrides(args, fields) -> dict:
    """The fields of `fields` whose flag was given: `{field: value}`."""
    return {
        field: getattr(args, field)
        for field in fields
        if getattr(args, field) is not None
    }
