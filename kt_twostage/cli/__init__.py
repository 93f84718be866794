"""The `kt-twostage` command line: parses arguments and calls the library.

Each subcommand lives in its own module with `register(subparsers)`, which
adds its parser and sets `func` (taking the parsed arguments, returning an
exit status) and, optionally, `check` (raising `UsageError` on a bad flag)
and `uses_keras=False`. `main` checks the flags, picks the Keras backend and
imports Keras, in that order, before it calls `func`: a bad flag is reported
before anything heavy is loaded. The subcommand modules import nothing heavy
themselves, so that `--help` answers at once.
"""

from __future__ import annotations

import os
import sys

from kt_twostage.cli import compare, record, replay, report, search, worker
from kt_twostage.cli._common import (
    LOG_LEVEL_ENV,
    ArgumentParser,
    UsageError,
    cli_words,
    import_keras_quietly,
    select_backend,
)

COMMANDS = (search, worker, compare, report, record, replay)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="kt-twostage",
        description="Two-stage hyperparameter search (architecture, then "
        "learning rate) on Keras Tuner.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv=None) -> int:
    """The `kt-twostage` command; returns the exit status (2: a bad flag)."""
    # TensorFlow reads it once, when it loads: no C++ log lines unless the
    # user asks for them.
    os.environ.setdefault(LOG_LEVEL_ENV, "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (RecursionError, NotImplementedError):
        raise  # a bug, not bad input: keep the traceback
    except (ValueError, RuntimeError, OSError) as error:
        # Bad input is the user's to fix: one line, no traceback.
        message = cli_words(" ".join(str(error).split()))
        print(f"kt-twostage {args.command}: error: {message}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1


def _run(args) -> int:
    check = getattr(args, "check", None)
    if check is not None:
        check(args)
    select_backend(getattr(args, "backend", None))
    if getattr(args, "uses_keras", True):
        import_keras_quietly()
    return args.func(args) or 0
