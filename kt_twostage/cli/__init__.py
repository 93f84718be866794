"""The `kt-twostage` command line: parses arguments and calls the library.

Each subcommand lives in its own module with `register(subparsers)`, which
adds its parser and sets `func` (taking the parsed arguments, returning an
exit status).
"""

from __future__ import annotations

import argparse
import sys

from kt_twostage.cli import compare, record, report, search, worker
from kt_twostage.cli._common import UsageError

COMMANDS = (search, worker, compare, report, record)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kt-twostage",
        description="Two-stage hyperparameter search (architecture, then "
        "learning rate) on Keras Tuner.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except (RecursionError, NotImplementedError):
        raise  # a bug, not bad input: keep the traceback
    except (ValueError, RuntimeError, OSError) as error:
        # Bad input is the user's to fix: one line, no traceback.
        message = " ".join(str(error).split())
        print(f"kt-twostage {args.command}: error: {message}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1
