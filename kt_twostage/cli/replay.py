"""`kt-twostage replay`: run the tuners' real oracles against a learning-curve
table, hundreds of times, and summarize how each does per epoch budget."""

from __future__ import annotations

import hashlib
import os
import shlex
import sys

from kt_twostage import _environment
from kt_twostage.cli._common import UsageError, parse_list

DEFAULT_SEEDS = 200


def register(subparsers):
    # The registry and defaults are light to import (no TensorFlow): `--help`
    # answers at once.
    from kt_twostage.replay.settings import DEFAULT_BUDGETS
    from kt_twostage.replay.tuners import DEFAULT_TUNERS, TUNERS

    parser = subparsers.add_parser(
        "replay",
        help="replay two-stage, RandomSearch, BayesianOptimization and "
        "Hyperband against a learning-curve table (from `record`)",
        description="Run the tuners' real Keras Tuner oracles against a recorded "
        "table: each trial's curve is looked up (a drawn seed; learning rates "
        "between recorded ones interpolated in log space) instead of trained. "
        "Budgets are multiples of B, the two-stage schedule's epochs. Writes "
        "summary.json, replay.json, summary.md, searches.csv and regret.png.",
    )
    parser.add_argument("table", help="the CSV table written by `kt-twostage record`")
    parser.add_argument(
        "--tuners",
        default=",".join(DEFAULT_TUNERS),
        help=f"comma-separated, of {', '.join(TUNERS)} (default: "
        f"{','.join(DEFAULT_TUNERS)})",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help=f"searches per tuner and budget (default: {DEFAULT_SEEDS})",
    )
    parser.add_argument(
        "--budgets",
        default=",".join(f"{b:g}" for b in DEFAULT_BUDGETS),
        help="comma-separated multiples of B (default: %(default)s)",
    )
    parser.add_argument(
        "--out", help="output folder (default: kt_twostage_replay/TABLE-STEM)"
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="use only the table's complete seeds (a table still being recorded)",
    )
    parser.add_argument(
        "--workers", type=int, help="processes (default: the number of CPU cores)"
    )
    parser.add_argument(
        "--replay-seed",
        type=int,
        default=0,
        help="seed of the whole replay: the same seed gives the same results "
        "(default: 0)",
    )
    _add_schedule_arguments(parser)
    parser.set_defaults(func=run, check=prepare)


def _add_schedule_arguments(parser):
    group = parser.add_argument_group(
        "two-stage schedule (the reference rule; it fixes B), checked against the table"
    )
    group.add_argument("--stage1-epochs", type=int, default=1, help="default: 1")
    group.add_argument("--stage2-epochs", type=int, help="default: the table's epochs")
    group.add_argument("--stage2-trials", type=int, default=11, help="default: 11")
    group.add_argument("--stage1-learning-rate", type=float, help="default: 0.001")
    group.add_argument(
        "--max-learning-rate",
        type=float,
        help="default: the table's largest learning rate",
    )


def _check_flags(args) -> tuple:
    """`(tuners, budget multiples)`, the flags that need no table checked."""
    from kt_twostage.replay.tuners import check_tuner_names

    if not os.path.isfile(args.table):
        raise UsageError(
            f"the table {args.table!r} does not exist; pass a CSV written by "
            "`kt-twostage record`"
        )
    try:
        tuners = check_tuner_names(parse_list(args.tuners, str, "--tuners"))
    except ValueError as error:
        raise UsageError(f"--tuners: {error}") from None
    budgets = parse_list(args.budgets, float, "--budgets")
    for budget in budgets:
        if not budget > 0 or budget == float("inf"):
            raise UsageError(f"--budgets must be positive multiples of B, got {budget}")
    for flag, value in (("--seeds", args.seeds), ("--workers", args.workers)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    if args.replay_seed < 0:
        raise UsageError(f"--replay-seed must be at least 0, got {args.replay_seed}")
    return tuners, budgets


def prepare(args) -> dict:
    """Read the table and check every flag against it, before any search.

    Returns `{tuners, curves, settings, budgets, table_sha256}`. A bad flag is
    a `UsageError` naming it; a bad table is a `TableError` naming the line.
    """
    from kt_twostage.replay.settings import plan_budgets, resolve_settings
    from kt_twostage.tabular.table import read_table

    tuners, multiples = _check_flags(args)
    # Hashed before it is read: a table being recorded is replaced as it grows.
    table_sha256 = file_sha256(args.table)
    curves = read_table(args.table, seeds="complete" if args.partial else "all")
    try:
        settings = resolve_settings(
            curves,
            stage1_epochs=args.stage1_epochs,
            stage2_epochs=args.stage2_epochs,
            stage2_trials=args.stage2_trials,
            stage1_learning_rate=args.stage1_learning_rate,
            max_learning_rate=args.max_learning_rate,
        )
        budgets = plan_budgets(multiples, curves, settings)
    except ValueError as error:
        raise UsageError(_flag_words(str(error))) from None
    return {
        "tuners": tuners,
        "curves": curves,
        "settings": settings,
        "budgets": budgets,
        "table_sha256": table_sha256,
    }


def file_sha256(path) -> str:
    """The sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _flag_words(message):
    """The library names its arguments (`stage2_epochs`); the user typed
    flags (--stage2-epochs)."""
    for name in _SCHEDULE_FLAGS:
        message = message.replace(f"`{name}`", "--" + name.replace("_", "-"))
    return message


_SCHEDULE_FLAGS = (
    "stage1_epochs",
    "stage2_epochs",
    "stage2_trials",
    "stage1_learning_rate",
    "max_learning_rate",
)


def run(args):
    from kt_twostage.replay.outputs import write_outputs
    from kt_twostage.replay.run import run_replay

    prepared = prepare(args)
    curves, budgets = prepared["curves"], prepared["budgets"]
    out = args.out or os.path.join(
        "kt_twostage_replay", os.path.splitext(os.path.basename(args.table))[0]
    )
    print(
        f"table {args.table}: {len(curves.units)} units x "
        f"{len(curves.learning_rates)} learning rates x {len(curves.seeds)} seeds "
        f"x {curves.epochs} epochs; budgets "
        + ", ".join(f"{m:g}x = {e} epochs" for m, e in budgets),
        flush=True,
    )
    replay = run_replay(
        curves,
        prepared["settings"],
        tuners=prepared["tuners"],
        budgets=[multiple for multiple, _ in budgets],
        seeds=args.seeds,
        replay_seed=args.replay_seed,
        workers=args.workers,
        log=lambda line: print(line, flush=True),
    )
    paths = write_outputs(
        replay,
        out,
        table_sha256=prepared["table_sha256"],
        load_average=_environment.load_average(),
        command="kt-twostage " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    print(f"{len(replay.results)} searches in {replay.seconds:.0f} s; wrote {out}/")
    with open(paths["summary.md"], encoding="utf-8") as handle:
        print(handle.read())
    return 0
