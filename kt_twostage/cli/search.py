"""`kt-twostage search`: run or resume the IMDB two-stage search."""

from __future__ import annotations

import dataclasses
import json

from kt_twostage.cli._common import UsageError

# flag -> (type, help). Each defaults to the preset's value.
_OVERRIDES = {
    "units_min": (int, "smallest units value of the stage-1 grid"),
    "units_max": (int, "largest units value of the stage-1 grid"),
    "units_step": (int, "step of the stage-1 grid"),
    "stage1_epochs": (int, "epochs of each stage-1 trial"),
    "stage2_epochs": (int, "epochs of each stage-2 trial"),
    "stage2_trials": (int, "number of stage-2 trials"),
    "max_learning_rate": (float, "first stage-2 learning rate (the maximum)"),
    "stage1_learning_rate": (float, "learning rate of stage 1"),
    "num_words": (int, "vocabulary size, including padding and OOV ids"),
    "max_length": (int, "tokens kept per review"),
    "batch_size": (int, "training batch size"),
    "validation_split": (float, "fraction of training data used for selection"),
    "seed": (int, "random seed (Keras' global seed is set per trial)"),
    "verbose": (int, "Keras verbosity: 0 silent, 1 progress bars, 2 one line"),
    "stage2_patience": (
        int,
        "stop a stage-2 trial after this many epochs without improvement "
        "(default: off, every trial trains all its epochs)",
    ),
    "keep_checkpoints": (
        int,
        "keep the best-epoch checkpoints of the best N trials only, deleting "
        "the others once they can no longer be chosen (default: keep all)",
    ),
}


def register(subparsers):
    from kt_twostage.imdb_search import PRESETS

    parser = subparsers.add_parser(
        "search",
        help="run or resume the two-stage search on IMDB",
        description="Run the two-stage search on the IMDB reviews. An existing "
        "project is resumed unless --overwrite is given.",
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="quick",
        help="'seed': the reference schedule on the full data; 'quick': the "
        "built-in sample with a short schedule (default)",
    )
    parser.add_argument(
        "--data",
        help="aclImdb folder or .tar.gz (default: the preset's; for 'seed', "
        "$KT_TWOSTAGE_IMDB or a download)",
    )
    parser.add_argument("--directory", help="where projects are kept")
    parser.add_argument("--project-name", help="project folder name")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an existing project of that name and start over",
    )
    for name, (kind, text) in _OVERRIDES.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind, help=text)
    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        help="build the models under Keras' mixed_float16 policy (for GPUs; "
        "the output layer stays float32)",
    )
    parser.set_defaults(func=run)


def settings_from_args(args):
    from kt_twostage.imdb_search import PRESETS

    overrides = {
        name: getattr(args, name)
        for name in (*_OVERRIDES, "data", "directory", "project_name")
        if getattr(args, name) is not None
    }
    if args.overwrite:
        overrides["overwrite"] = True
    if args.mixed_precision:
        overrides["mixed_precision"] = True
    try:
        return dataclasses.replace(PRESETS[args.preset], **overrides)
    except ValueError as error:
        raise UsageError(str(error)) from error


def run(args):
    from kt_twostage.imdb_search import run_imdb_search

    settings = settings_from_args(args)
    result = run_imdb_search(settings)
    print(
        f"chosen: units={result['units']} learning_rate={result['learning_rate']:.6g}"
        f" | validation {result['objective']}={result['validation_score']:.4f}"
        f" | test accuracy={result['test_accuracy']:.4f}"
    )
    print(f"result written to {result['path']}")
    print(json.dumps({k: result[k] for k in ("units", "learning_rate")}))
    return 0
