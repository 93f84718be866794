"""`kt-twostage search`: run or resume the IMDB two-stage search."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import textwrap

from kt_twostage.cli import _distributed, _overrides, _worker_settings
from kt_twostage.cli._common import UsageError, add_backend_argument, check_data_path
from kt_twostage.imdb.sample import sample_path
from kt_twostage.imdb.settings import PRESETS, ImdbSearchSettings

SEARCH_FIELDS = _overrides.fields_of(ImdbSearchSettings)
# What the full data reaches, for the note after a search on the sample.
_FULL_DATA_NOTE = (
    "The full data (25,000 training and 25,000 test reviews) with the "
    "reference schedule is expected to reach about 0.85-0.88; a run on "
    "10,000 training reviews with a short schedule reached 0.84 "
    "(docs/BENCHMARKS.md)"
)


def register(subparsers):
    parser = subparsers.add_parser(
        "search",
        help="run or resume the two-stage search on IMDB",
        description="Run the two-stage search on the IMDB reviews. An existing "
        "project is resumed unless --overwrite is given. Ctrl-C stops at the "
        "end of the current batch and keeps the project: the same command "
        "resumes it.",
        epilog="exit status: 0 done, 1 a runtime error (data, project files), "
        "2 a bad flag, 130 interrupted (Ctrl-C)",
    )
    add_settings_arguments(parser)
    parser.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="write TensorBoard logs to DIR, one run per trial, with its units, "
        "learning rate and stage in the HParams view (`tensorboard --logdir "
        "DIR`; TensorFlow backend, one process: not with --workers)",
    )
    add_distributed_arguments(parser)
    parser.set_defaults(func=run, check=check_args)


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
        "(HOST defaults to 127.0.0.1; another address needs a token, "
        "--token-file, or --insecure; TLS with --tls-cert/--tls-key); workers "
        "join with `kt-twostage worker`",
    )
    group.add_argument(
        "--stage2-parallelism",
        type=int,
        metavar="P",
        help="stage-2 trials that workers may run at once, speculatively: same "
        "result, fewer rounds, some extra trials (default: 1, sequential)",
    )
    _distributed.add_chief_arguments(group)


def add_settings_arguments(parser):
    """The flags that define a search (shared with `kt-twostage worker`)."""
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
    parser.add_argument(
        "--directory",
        help=f"where projects are kept (default: {_preset_values('directory')})",
    )
    parser.add_argument(
        "--project-name",
        help=f"project folder name (default: {_preset_values('project_name')})",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an existing project of that name and start over",
    )
    _overrides.add_override_arguments(parser, SEARCH_FIELDS, presets=PRESETS)
    parser.add_argument(
        "--reinvest-stopped-epochs",
        action="store_true",
        help="with --stage2-patience: spend the epochs early stopping saves on "
        "more stage-2 trials (within --stage2-trials x --stage2-epochs)",
    )
    parser.add_argument(
        "--recommended-variant",
        action="store_true",
        help="the variant the benchmark suite recommends: --stage1-epochs 2 "
        "--stage2-rule scout --stage2-patience 2 --reinvest-stopped-epochs "
        "(a flag given explicitly wins); see the README's 'Does it pay?'",
    )
    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        help="build the models under Keras' mixed_float16 policy (for GPUs; "
        "the output layer stays float32)",
    )
    add_backend_argument(parser)


def _preset_values(field) -> str:
    """A field's value in the presets: `kt_twostage_runs`, or `quick: imdb_quick,
    seed: imdb` where they differ."""
    values = {name: getattr(settings, field) for name, settings in PRESETS.items()}
    if len(set(values.values())) == 1:
        return str(next(iter(values.values())))
    return ", ".join(f"{name}: {value}" for name, value in values.items())


def settings_from_args(args) -> ImdbSearchSettings:
    """The preset with the flags' overrides; a bad value is a `UsageError`."""
    overrides = _overrides.given_overrides(
        args, (*SEARCH_FIELDS, "data", "directory", "project_name")
    )
    # The command line prints one line per trial; Keras' progress bars only
    # with --verbose 1.
    overrides.setdefault("verbose", 0)
    if args.overwrite:
        overrides["overwrite"] = True
    if args.mixed_precision:
        overrides["mixed_precision"] = True
    if args.reinvest_stopped_epochs:
        overrides["reinvest_stopped_epochs"] = True
    add_recommended_variant(args, overrides)
    try:
        return dataclasses.replace(PRESETS[args.preset], **overrides)
    except ValueError as error:
        raise UsageError(_overrides.flag_words(str(error))) from error


def add_recommended_variant(args, overrides):
    """With `--recommended-variant`: the variant's settings
    (`RECOMMENDED_VARIANT`) into `overrides`, where no flag set them."""
    if not getattr(args, "recommended_variant", False):
        return
    from kt_twostage.schedule.compass import RECOMMENDED_VARIANT

    for field, value in RECOMMENDED_VARIANT.items():
        overrides.setdefault(field, value)


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
    chief += _distributed.chief_argv(args)
    worker = [*base, "worker", *settings_argv(args, chief=False)]
    return chief, worker


def _check_distributed_args(args):
    """The `--serve` address as `(host, port)`, or `None`; checks the flags."""
    from kt_twostage import distributed

    for name in ("workers", "stage2_parallelism"):
        value = getattr(args, name)
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be a positive integer, got {value}")
    _distributed.check_chief_args(args)
    if args.serve is None:
        return None
    try:
        return distributed.parse_address(args.serve)
    except ValueError as error:
        raise UsageError(f"--serve: {error}") from error


def check_args(args):
    """Every flag of `search`, checked before any data is loaded."""
    _check_distributed_args(args)
    if args.tensorboard is not None and args.workers:
        raise UsageError(
            "--tensorboard writes the logs of one process; leave out --workers "
            "(or pass a TensorBoard callback to each worker's search in Python)"
        )
    check_data_path(settings_from_args(args).data, source="preset's")


def run(args):
    from kt_twostage import distributed
    from kt_twostage.imdb.search import run_imdb_search

    address = _check_distributed_args(args)
    settings = settings_from_args(args)
    parallelism = args.stage2_parallelism or 1
    # The token and TLS reach the chief (and local workers) through these.
    os.environ.update(_distributed.security_environment(args))
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
    project = os.path.join(settings.directory, settings.project_name)
    print(f"project: {project} (an existing one is resumed)")
    if address is not None:
        os.environ.update(distributed.role_environment(distributed.CHIEF_ID, *address))
    # Workers read them from the project (`kt-twostage worker`).
    _worker_settings.publish_settings(settings)
    result = run_imdb_search(
        settings,
        callbacks=_tensorboard_callbacks(args.tensorboard),
        stage2_parallelism=parallelism,
        worker_timeout=args.worker_timeout,
    )
    print(
        f"chosen: units={result['units']} learning_rate={result['learning_rate']:.6g}"
        f" | validation {result['objective']}={result['validation_score']:.4f}"
        f" | test accuracy={result['test_accuracy']:.4f}"
    )
    print(f"result written to {result['path']}")
    for line in explain_result(result, settings):
        print(line)
    # Last, alone on its line: what scripts read.
    print(json.dumps({k: result[k] for k in ("units", "learning_rate")}))
    return 0


def _tensorboard_callbacks(log_dir) -> list:
    """`[keras.callbacks.TensorBoard(log_dir)]`, or none without a folder."""
    if log_dir is None:
        return []
    import keras

    return [keras.callbacks.TensorBoard(log_dir)]


def explain_result(result, settings) -> list[str]:
    """What the test accuracy of a search means: on which data, and, on the
    built-in sample, what the full data reaches and how to run it."""
    lines = [
        f"test accuracy: the chosen model, trained on {result['train_reviews']:,} "
        f"reviews ({settings.validation_split:.0%} of them held out for "
        f"selection), tested once on {result['test_reviews']:,} test reviews."
    ]
    if settings.data == sample_path():
        lines += [
            "This is the built-in sample, a smoke test: few reviews, a tiny "
            f"model (units {settings.units_min}-{settings.units_max}, a "
            f"{settings.num_words:,}-word vocabulary, reviews cut to "
            f"{settings.max_length} tokens) and a short schedule "
            f"({settings.stage2_trials} stage-2 trials of "
            f"{settings.stage2_epochs} epochs), so the accuracy is low. "
            f"{_FULL_DATA_NOTE}.",
            "The full run (downloads the data once; hours on a CPU): "
            "kt-twostage search --preset seed",
        ]
    return [textwrap.fill(line, 88, subsequent_indent="  ") for line in lines]
