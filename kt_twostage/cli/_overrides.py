"""The flags that override one field of the IMDB settings, in one table.

`search` (and `worker`) override `ImdbSearchSettings`, `compare` overrides
`ImdbCompareSettings`; each offers the flags of the fields its settings
class has (`fields_of`). A flag left out keeps the preset's (or profile's)
value.
"""

from __future__ import annotations

import dataclasses
import re

from kt_twostage.schedule.compass import STAGE2_RULES

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
    "verbose": (
        int,
        "0: one line per trial; 1: Keras' progress bars too; 2: a line per "
        "epoch too (default: 0)",
    ),
    "stage2_patience": (
        int,
        "stop a stage-2 trial after this many epochs without improvement "
        "(default: off, every trial trains all its epochs)",
    ),
    "stage2_rule": (
        str,
        "how stage 2 moves the learning rate: 'reference' (halve after an "
        "improvement, else halfway back to the maximum), 'compass' (a line "
        "search from the stage-1 learning rate; see the README), 'scout' (5 "
        "learning rates across the range, both ends included, then the "
        "compass search) or 'compass-two-starts'",
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


# Fields whose flag accepts a fixed set of values.
CHOICES = {"stage2_rule": STAGE2_RULES}
_METAVARS = {int: "N", float: "X"}
# Fields whose default the help states itself (the command line's own).
_OWN_DEFAULT = ("verbose",)


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


def add_override_arguments(parser, fields, presets=None):
    """One flag per field of `fields`, defaulting to `None` (not given).

    With `presets` (`{name: settings}`), each flag's help ends with the
    presets' values of its field, the defaults when the flag is left out.
    """
    for field in fields:
        kind, text = OVERRIDES[field]
        if presets and field not in _OWN_DEFAULT:
            text += _preset_defaults(presets, field)
        parser.add_argument(
            flag(field),
            type=kind,
            choices=CHOICES.get(field),
            metavar=None if field in CHOICES else _METAVARS.get(kind),
            help=text,
        )


def _preset_defaults(presets, field) -> str:
    values = {name: getattr(settings, field) for name, settings in presets.items()}
    if all(value is None for value in values.values()):
        return ""
    if len(set(values.values())) == 1:
        return f" (default: {next(iter(values.values()))})"
    listed = ", ".join(f"{name}: {value}" for name, value in values.items())
    return f" (default: the preset's; {listed})"


# Settings fields that are flags of their own (not overrides).
_OTHER_FLAGS = ("directory", "project_name", "work_dir")


def flag_words(message, fields=(*OVERRIDES, *_OTHER_FLAGS)) -> str:
    """`message` with the settings fields it names (`stage2_trials`,
    `units_min=40`, units_min) written as their flags (`--stage2-trials`,
    `--units-min 40`, --units-min); one-word fields only in the first two
    forms."""
    for field in sorted(fields, key=len, reverse=True):
        message = re.sub(rf"argument `{field}`", f"`{flag(field)}`", message)
        message = re.sub(rf"`{field}`", f"`{flag(field)}`", message)
        message = re.sub(rf"\b{field}=", f"{flag(field)} ", message)
        if "_" in field:  # a bare word like `seed` may mean something else
            message = re.sub(rf"\b{field}\b", flag(field), message)
    return message


def given_overrides(args, fields) -> dict:
    """The fields of `fields` whose flag was given: `{field: value}`."""
    return {
        field: getattr(args, field)
        for field in fields
        if getattr(args, field) is not None
    }
