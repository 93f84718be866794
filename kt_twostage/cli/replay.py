"""`kt-twostage replay`: run the tuners' real oracles against learning-curve
tables, hundreds of times, and summarize how each does per epoch budget.

Each (table, stage-1 learning rate) is an entry. One entry writes its files
into `--out`, as a single replay always did; several write each entry's
files into `--out/<entry>/` and the suite's (`suite.json`, `suite.md`,
`suite.png`) into `--out`."""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
import time

from kt_twostage import _environment
from kt_twostage.cli._common import UsageError, parse_list

DEFAULT_SEEDS = 200


def register(subparsers):
    # The registry and defaults are light to import (no TensorFlow): `--help`
    # answers at once.
    from kt_twostage.replay.settings import DEFAULT_BUDGETS
    from kt_twostage.replay.suite_run import (
        DEFAULT_STAGE1_RATES,
        QUICK_SEEDS,
        UPPER_QUARTILE,
    )
    from kt_twostage.replay.tuners import ALL, DEFAULT_TUNERS, TUNERS

    parser = subparsers.add_parser(
        "replay",
        help="replay two-stage, RandomSearch, BayesianOptimization and "
        "Hyperband against a learning-curve table (from `record`)",
        description="Run the tuners' real Keras Tuner oracles against a recorded "
        "table: each trial's curve is looked up (a drawn seed; learning rates "
        "between recorded ones interpolated in log space) instead of trained. "
        "Budgets are multiples of B, the two-stage schedule's epochs. Writes "
        "summary.json, replay.json, summary.md, searches.csv and regret.png "
        "per (table, stage-1 learning rate); with several, each in its own "
        "folder, and suite.json, suite.md and suite.png: mean ranks, "
        "wins/ties/losses and normalised regret over them.",
    )
    parser.add_argument(
        "tables", nargs="+", help="CSV tables written by `kt-twostage record`"
    )
    parser.add_argument(
        "--tuners",
        default=",".join(DEFAULT_TUNERS),
        help=f"comma-separated, of {', '.join(TUNERS)}; or {ALL} (default: "
        f"{','.join(DEFAULT_TUNERS)})",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        help=f"searches per tuner and budget (default: {DEFAULT_SEEDS}; "
        f"{QUICK_SEEDS} with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_SEEDS} searches per tuner and budget, for design iterations",
    )
    parser.add_argument(
        "--defaults",
        help="stage-1 learning rates (the space's default), comma-separated "
        f"numbers or {UPPER_QUARTILE} (the table's upper geometric quartile); "
        "each is one entry of the suite (default: "
        f"{','.join(DEFAULT_STAGE1_RATES)}; --stage1-learning-rate R is "
        "--defaults R)",
    )
    parser.add_argument(
        "--budgets",
        default=",".join(f"{b:g}" for b in DEFAULT_BUDGETS),
        help="comma-separated multiples of B (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        help="output folder (default: kt_twostage_replay/TABLE-STEM, or "
        "kt_twostage_replay/suite for several tables)",
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
    group.add_argument(
        "--stage1-learning-rate", type=float, help="one rate: as --defaults RATE"
    )
    group.add_argument(
        "--max-learning-rate",
        type=float,
        help="default: the table's largest learning rate",
    )


def _check_flags(args) -> tuple:
    """`(tuners, budget multiples, seeds, rate specs)`, the flags that need no
    table, checked."""
    from kt_twostage.replay.suite_run import DEFAULT_STAGE1_RATES, QUICK_SEEDS
    from kt_twostage.replay.tuners import check_tuner_names

    for table in args.tables:
        if not os.path.isfile(table):
            raise UsageError(
                f"the table {table!r} does not exist; pass a CSV written by "
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
    if args.quick and args.seeds is not None:
        raise UsageError(
            f"--quick sets --seeds to {QUICK_SEEDS}; give one of them, not both"
        )
    seeds = args.seeds or (QUICK_SEEDS if args.quick else DEFAULT_SEEDS)
    if args.defaults is not None and args.stage1_learning_rate is not None:
        raise UsageError(
            "--stage1-learning-rate R is --defaults R; give one of them, not both"
        )
    if args.stage1_learning_rate is not None:
        specs = (str(args.stage1_learning_rate),)
    elif args.defaults is not None:
        specs = parse_list(args.defaults, str, "--defaults", "learning rates")
        if len(set(specs)) != len(specs):
            raise UsageError(f"--defaults names a rate twice: {args.defaults!r}")
    else:
        specs = DEFAULT_STAGE1_RATES
    return tuners, budgets, seeds, specs


def prepare(args) -> dict:
    """Read the tables and check every flag against each, before any search.

    Returns `{tuners, budgets, seeds, schedule, tables}`, `tables` a list of
    `{path, curves, table_sha256, rates}` (`rates`: the stage-1 learning
    rates, resolved on that table). A bad flag is a `UsageError` naming it;
    a bad table is a `TableError` naming the line.
    """
    from kt_twostage.replay.settings import plan_budgets, resolve_settings
    from kt_twostage.replay.suite_run import entry_name, stage1_rate
    from kt_twostage.tabular.table import read_table

    tuners, multiples, seeds, specs = _check_flags(args)
    schedule = {
        "stage1_epochs": args.stage1_epochs,
        "stage2_epochs": args.stage2_epochs,
        "stage2_trials": args.stage2_trials,
        "max_learning_rate": args.max_learning_rate,
    }
    tables, names = [], set()
    for path in args.tables:
        # Hashed before it is read: a table being recorded is replaced as it
        # grows.
        table_sha256 = file_sha256(path)
        curves = read_table(path, seeds="complete" if args.partial else "all")
        try:
            rates = tuple(stage1_rate(curves, spec) for spec in specs)
            for rate in rates:
                settings = resolve_settings(
                    curves, stage1_learning_rate=rate, **schedule
                )
                plan_budgets(multiples, curves, settings)
        except ValueError as error:
            message = _flag_words(str(error))
            if args.defaults is not None:
                message = message.replace("--stage1-learning-rate", "--defaults")
            raise UsageError(f"{path}: {message}") from None
        for rate in rates:
            name = entry_name(path, rate)
            if name in names:
                raise UsageError(
                    f"two entries are named {name!r}: give tables with "
                    "different file names, and different --defaults"
                )
            names.add(name)
        tables.append(
            {
                "path": path,
                "curves": curves,
                "table_sha256": table_sha256,
                "rates": rates,
            }
        )
    return {
        "tuners": tuners,
        "budgets": multiples,
        "seeds": seeds,
        "schedule": schedule,
        "tables": tables,
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
    from kt_twostage.replay.suite_run import entry_name, run_entries
    from kt_twostage.replay.table_noise import table_noise

    prepared = prepare(args)
    command = "kt-twostage " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    tables = prepared["tables"]
    single = len(tables) == 1 and len(tables[0]["rates"]) == 1
    stem = os.path.splitext(os.path.basename(tables[0]["path"]))[0]
    out = args.out or os.path.join(
        "kt_twostage_replay", stem if len(tables) == 1 else "suite"
    )
    start = time.perf_counter()
    entries, seconds = {}, {}
    for table in tables:
        curves = table["curves"]
        print(
            f"table {table['path']}: {len(curves.units)} units x "
            f"{len(curves.learning_rates)} learning rates x {len(curves.seeds)} "
            f"seeds x {curves.epochs} epochs; stage-1 learning rates "
            + ", ".join(f"{r:g}" for r in table["rates"]),
            flush=True,
        )
        replays = run_entries(
            curves,
            prepared["schedule"],
            table["rates"],
            tuners=prepared["tuners"],
            budgets=prepared["budgets"],
            seeds=prepared["seeds"],
            replay_seed=args.replay_seed,
            workers=args.workers,
            log=lambda line: print(line, flush=True),
        )
        for rate, replay, reused in replays:
            name = entry_name(table["path"], rate)
            folder = out if single else os.path.join(out, name)
            noise = table_noise(replay)
            paths = write_outputs(
                replay,
                folder,
                table_sha256=table["table_sha256"],
                load_average=_environment.load_average(),
                command=command,
                noise=noise,
            )
            entries[name] = (replay, noise)
            seconds[name] = replay.seconds
            shared = f" ({', '.join(reused)} from the first rate)" if reused else ""
            print(
                f"{name}: {len(replay.results)} searches in {replay.seconds:.0f} s"
                f"{shared}; wrote {folder}/",
                flush=True,
            )
    if single:
        with open(paths["summary.md"], encoding="utf-8") as handle:
            print(handle.read())
        return 0
    from kt_twostage.replay.suite import write_suite

    timings = {
        "entries": seconds,
        "total": time.perf_counter() - start,
        "load_average": _environment.load_average(),
    }
    suite_paths = write_suite(entries, out, seconds=timings, command=command)
    print(f"suite of {len(entries)} entries in {timings['total']:.0f} s; wrote {out}/")
    with open(suite_paths["suite.md"], encoding="utf-8") as handle:
        print(handle.read())
    return 0
