"""`kt-twostage record`: train a grid of IMDB runs into a learning-curve table."""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys

from kt_twostage.cli._common import (
    UsageError,
    add_backend_argument,
    parse_list,
    select_backend,
)
from kt_twostage.tabular.profiles import TABLE_PROFILES, TableProfile


def register(subparsers):
    parser = subparsers.add_parser(
        "record",
        help="train a grid of (units, learning rate, seed) runs on IMDB and "
        "write their learning curves to a table (for `replay`)",
        description="Train every (units, learning rate, seed) run of a profile "
        "for its epochs, evaluating the validation and test reviews after every "
        "epoch, and write one CSV row per epoch (units,learning_rate,seed,epoch,"
        "val_accuracy,val_loss,test_accuracy,test_loss,seconds) plus a JSON "
        "sidecar. Finished runs are kept: run the same command again to resume.",
    )
    parser.add_argument(
        "--profile",
        choices=sorted(TABLE_PROFILES),
        default="imdb-cpu",
        help="; ".join(
            f"'{name}': {profile.description}"
            for name, profile in TABLE_PROFILES.items()
        ),
    )
    parser.add_argument(
        "--data",
        help="aclImdb folder or .tar.gz (default: $KT_TWOSTAGE_IMDB or a download)",
    )
    parser.add_argument(
        "--out",
        help="the CSV table to write or resume (default: "
        "kt_twostage_tables/PROFILE.csv)",
    )
    parser.add_argument("--epochs", type=int, help="epochs of every run")
    parser.add_argument(
        "--train-reviews", type=int, help="keep the first N training reviews"
    )
    parser.add_argument(
        "--test-reviews", type=int, help="keep the first N test reviews"
    )
    parser.add_argument("--max-length", type=int, help="tokens kept per review")
    parser.add_argument(
        "--num-words", type=int, help="vocabulary size, including padding and OOV"
    )
    parser.add_argument(
        "--seeds", type=int, help="number of seeds (0..N-1; default: the profile's)"
    )
    parser.add_argument(
        "--units", help="comma-separated units values (default: the profile's)"
    )
    parser.add_argument(
        "--learning-rates",
        help="comma-separated learning rates (default: the profile's)",
    )
    parser.add_argument(
        "--no-determinism",
        action="store_true",
        help="do not ask the backend for deterministic kernels",
    )
    add_backend_argument(parser)
    parser.set_defaults(func=run, check=profile_from_args)


def profile_from_args(args) -> TableProfile:
    """The profile with the flags' overrides; a bad value is a `UsageError`."""
    overrides = {}
    if args.data is not None:
        overrides["data"] = args.data
    for name in ("epochs", "train_reviews", "test_reviews", "max_length", "num_words"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.seeds is not None:
        if args.seeds < 1:
            raise UsageError(f"--seeds must be at least 1, got {args.seeds}")
        overrides["seeds"] = tuple(range(args.seeds))
    if args.units is not None:
        overrides["units"] = parse_list(args.units, int, "--units", "numbers")
    if args.learning_rates is not None:
        overrides["learning_rates"] = parse_list(
            args.learning_rates, float, "--learning-rates", "numbers"
        )
    if overrides:
        changed = ", ".join(f"{key}={value}" for key, value in overrides.items())
        overrides["description"] = f"the '{args.profile}' profile with {changed}"
    try:
        return dataclasses.replace(TABLE_PROFILES[args.profile], **overrides)
    except ValueError as error:
        raise UsageError(str(error)) from error


def run(args):
    profile = profile_from_args(args)
    select_backend(args.backend)
    from kt_twostage.tabular.record import record_table

    out = args.out or os.path.join("kt_twostage_tables", f"{args.profile}.csv")
    sidecar = record_table(
        profile,
        out,
        profile_name=args.profile,
        command="kt-twostage " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        deterministic=not args.no_determinism,
        log=lambda line: print(line, flush=True),
    )
    print(
        f"table {out}: {sidecar['runs_done']} of {sidecar['grid']['runs']} runs "
        f"recorded; sidecar {os.path.splitext(out)[0]}.json"
    )
    return 0
