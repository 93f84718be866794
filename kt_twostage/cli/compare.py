"""`kt-twostage compare`: the two-stage schedule against the built-in tuners."""

from __future__ import annotations

import dataclasses
import datetime
import os
import shlex

from kt_twostage import _environment
from kt_twostage.cli import _overrides
from kt_twostage.cli._common import UsageError, add_backend_argument, check_data_path
from kt_twostage.compare.baselines import DEFAULT_TUNERS, TUNERS
from kt_twostage.imdb.settings import PROFILES, ImdbCompareSettings

COMPARE_FIELDS = _overrides.fields_of(ImdbCompareSettings)


def register(subparsers):
    parser = subparsers.add_parser(
        "compare",
        help="compare the two-stage schedule with Random, Bayesian, Hyperband "
        "and a reference grid on IMDB",
        description="Run TwoStageTuner, RandomSearch, BayesianOptimization "
        "and Hyperband with the same epoch budget, and a reference grid "
        "(every units value x a few learning rates; not exhaustive), on the "
        "same IMDB data, search space and validation "
        "split, for several seeds. Writes trials.csv, runs.csv, summary.md, "
        "summary.json and PNG plots. Finished runs are reused when the same "
        "command is started again.",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="tiny",
        help="'seed': the reference schedule on all the data (days on a CPU); "
        "'cpu': all of IMDB's test reviews, 10,000 training reviews and a "
        "short schedule (30-45 min for 3 seeds on 2 CPU cores); 'tiny': the "
        "built-in sample, about a minute per seed (default)",
    )
    parser.add_argument(
        "--data",
        help="aclImdb folder or .tar.gz (default: the profile's; for 'seed' "
        "and 'cpu', $KT_TWOSTAGE_IMDB or a download)",
    )
    parser.add_argument(
        "--seeds", type=int, default=3, help="number of seeds (0..N-1), default 3"
    )
    parser.add_argument(
        "--tuners",
        default=",".join(DEFAULT_TUNERS),
        help=f"comma-separated subset of {','.join(TUNERS)} (default: "
        f"{','.join(DEFAULT_TUNERS)})",
    )
    parser.add_argument(
        "--stage2-patience",
        type=int,
        help="also run TwoStageTuner with early stopping in stage 2 (stop a "
        "stage-2 trial after N epochs without improvement), on the same "
        "seeds, reported beside the plain run (default: off)",
    )
    parser.add_argument(
        "--no-determinism",
        action="store_true",
        help="do not ask the backend for deterministic kernels (default: "
        "TensorFlow op determinism / PyTorch deterministic algorithms on; "
        "JAX on the CPU is deterministic anyway)",
    )
    _add_output_arguments(parser)
    _overrides.add_override_arguments(parser, COMPARE_FIELDS)
    add_backend_argument(parser)
    parser.set_defaults(func=run, check=check_args)


def _add_output_arguments(parser):
    """Where the comparison is written, and how its work folder is used."""
    parser.add_argument(
        "--output",
        help="folder for the tables and plots (default: kt_twostage_compare/PROFILE)",
    )
    parser.add_argument(
        "--work-dir",
        help="folder for the Keras Tuner projects and finished runs "
        "(default: OUTPUT/work)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the finished runs in the work folder and start over",
    )
    parser.add_argument(
        "--verbose", type=int, default=0, help="Keras verbosity (default 0)"
    )
    parser.add_argument(
        "--collect-only",
        action="store_true",
        help="train nothing: write the tables and plots of the runs finished "
        "so far (e.g. while a long comparison runs in another process)",
    )


def settings_from_args(args) -> ImdbCompareSettings:
    """The profile with the flags' overrides; a bad value is a `UsageError`."""
    overrides = _overrides.given_overrides(args, (*COMPARE_FIELDS, "data"))
    try:
        return dataclasses.replace(PROFILES[args.profile], **overrides)
    except ValueError as error:
        raise UsageError(str(error)) from error


def tuners_from_args(args) -> list[str]:
    """The `--tuners` names; an unknown one is a `UsageError`."""
    tuners = [name.strip() for name in args.tuners.split(",") if name.strip()]
    unknown = sorted(set(tuners) - set(TUNERS))
    if unknown or not tuners:
        raise UsageError(
            f"Unknown tuner(s) {unknown} in --tuners; expected some of "
            f"{','.join(TUNERS)}."
        )
    return tuners


def check_args(args):
    """Every flag of `compare`, checked before any data is loaded."""
    settings = settings_from_args(args)
    tuners_from_args(args)
    if args.seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {args.seeds}.")
    if args.stage2_patience is not None and args.stage2_patience < 1:
        raise UsageError(
            f"--stage2-patience must be at least 1, got {args.stage2_patience}."
        )
    if args.verbose not in (0, 1, 2):
        raise UsageError(f"--verbose must be 0, 1 or 2, got {args.verbose}.")
    check_data_path(settings.data)


def command_line(args) -> str:
    """The command, rebuilt from the parsed arguments (defaults included)."""
    words = ["kt-twostage", "compare", "--profile", args.profile]
    for flag in (
        "data",
        "seeds",
        "tuners",
        "stage2_patience",
        "output",
        "work_dir",
        "verbose",
        "backend",
    ):
        value = getattr(args, flag)
        if value is not None:
            words += ["--" + flag.replace("_", "-"), str(value)]
    if args.overwrite:
        words.append("--overwrite")
    if args.no_determinism:
        words.append("--no-determinism")
    for name, value in _overrides.given_overrides(args, COMPARE_FIELDS).items():
        words += [_overrides.flag(name), str(value)]
    return " ".join(shlex.quote(word) for word in words)


def run(args):
    from kt_twostage.compare import run_imdb_compare

    output = args.output or os.path.join("kt_twostage_compare", args.profile)
    description = {
        "command": command_line(args),
        "profile": args.profile,
        "machine": _environment.machine_line(),
        "date": datetime.date.today().isoformat(),
    }
    summary = run_imdb_compare(
        settings_from_args(args),
        output,
        seeds=args.seeds,
        tuners=tuners_from_args(args),
        stage2_patience=args.stage2_patience,
        work_dir=args.work_dir,
        overwrite=args.overwrite,
        verbose=args.verbose,
        description=description,
        run_missing=not args.collect_only,
        deterministic=not args.no_determinism,
        log=lambda line: print(line, flush=True),
    )
    markdown = summary["markdown"]
    start = markdown.index("## Summary")
    end = markdown.index("## Every run")
    print()
    print(markdown[start:end].rstrip())
    print()
    print(f"written to {output}: " + ", ".join(sorted(summary["files"].values())))
    return 0
