"""`kt-twostage search`: run or resume the IMDB two-stage search."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

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
    parser = subparsers.add_parser(
        "search",
        help="run or resume the two-stage search on IMDB",
        description="Run the two-stage search on the IMDB reviews. An existing "
        "project is resumed unless --overwrite is given.",
    )
    add_settings_arguments(parser)
    add_distributed_arguments(parser)
    parser.set_defaults(func=run)


def add_distributed_arguments(parser):
    """`--workers`, `--serve` and `--stage2-parallelism` (docs/distributed.md)."""
    group = parser.add_argument_group(
        "distributed tuning", "see docs/distributed.md; no flag: one process"
    )
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run a chief and N worker processes on this machine (the chief on "
        "127.0.0.1 and a free port, unless --serve says otherwise)",
    )
    group.add_argument(
        "--serve",
        metavar="[HOST:]PORT",
        help="be the chief of a distributed search, listening on HOST:PORT "
        "(HOST defaults to 127.0.0.1; give an address explicitly to accept "
        "workers from other machines: the channel has no encryption and no "
        "authentication); workers join with `kt-twostage worker`",
    )
    group.add_argument(
        "--stage2-parallelism",
        type=int,
        metavar="P",
        help="stage-2 trials that workers may run at once, speculatively: same "
        "result, fewer rounds, some extra trials (default: 1, sequential)",
    )


def add_settings_arguments(parser):
    """The flags that define a search (shared with `kt-twostage worker`)."""
    from kt_twostage.imdb.settings import PRESETS

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


def settings_from_args(args):
    from kt_twostage.imdb.settings import PRESETS

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


def settings_argv(args, chief=True):
    """The settings flags of `args`, as a command line (for child processes).

    `--overwrite` is kept for the chief only: a worker must never delete the
    project that the chief serves.
    """
    probe = argparse.ArgumentParser(add_help=False)
    add_settings_arguments(probe)
    argv = []
    for action in probe._actions:
        value = getattr(args, action.dest, None)
        if value is None or value is False or not action.option_strings:
            continue
        if action.dest == "overwrite" and not chief:
            continue
        flag = action.option_strings[-1]
        argv += [flag] if action.nargs == 0 else [flag, str(value)]
    return argv


def distributed_commands(args):
    """`(chief, worker)` command lines of `search --workers N`."""
    base = [sys.executable, "-m", "kt_twostage"]
    chief = [*base, "search", *settings_argv(args)]
    if args.stage2_parallelism is not None:
        chief += ["--stage2-parallelism", str(args.stage2_parallelism)]
    worker = [*base, "worker", *settings_argv(args, chief=False)]
    return chief, worker


def _check_distributed_args(args):
    from kt_twostage import distributed

    for name in ("workers", "stage2_parallelism"):
        value = getattr(args, name)
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be a positive integer, got {value}")
    if args.serve is None:
        return None
    try:
        return distributed.parse_address(args.serve)
    except ValueError as error:
        raise UsageError(f"--serve: {error}") from error


def run(args):
    from kt_twostage import distributed
    from kt_twostage.imdb.search import run_imdb_search

    address = _check_distributed_args(args)
    settings = settings_from_args(args)
    parallelism = args.stage2_parallelism or 1
    if args.workers:
        if parallelism == 1 and args.workers > 1:
            print(
                "note: stage 2 runs one trial at a time; --stage2-parallelism "
                f"{min(args.workers, 3)} lets the workers run the next steps' "
                "candidates at once (same result, fewer rounds, extra trials)"
            )
        host, port = address or (distributed.LOOPBACK, None)
        chief, worker = distributed_commands(args)
        return distributed.launch_local(
            chief, args.workers, worker_command=worker, host=host, port=port
        )
    if address is not None:
        os.environ.update(distributed.role_environment(distributed.CHIEF_ID, *address))
    result = run_imdb_search(settings, stage2_parallelism=parallelism)
    print(
        f"chosen: units={result['units']} learning_rate={result['learning_rate']:.6g}"
        f" | validation {result['objective']}={result['validation_score']:.4f}"
        f" | test accuracy={result['test_accuracy']:.4f}"
    )
    print(f"result written to {result['path']}")
    print(json.dumps({k: result[k] for k in ("units", "learning_rate")}))
    return 0
