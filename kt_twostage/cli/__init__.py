"""The `kt-twostage` command line: parses arguments and calls the library.

Each subcommand lives in its own module with `register(subparsers)`, which
adds its parser and sets `func` (taking the parsed arguments, returning an
exit status) and, optionally, `check` (raising `UsageError` on a bad flag)
and `uses_keras=False`. `main` picks the Keras backend, checks the flags and
imports Keras, in that order, before it calls `func`: a bad flag is reported
before Keras is loaded. SIGINT (Ctrl-C) is handled for the whole command
(`kt_twostage.interrupt`): exit status 130, one line, no traceback. The
subcommand modules import nothing heavy themselves, so that `--help` answers
at once.
"""

from __future__ import annotations

import os
import sys

from kt_twostage import interrupt
from kt_twostage.cli import compare, record, replay, report, search, worker
from kt_twostage.cli._common import (
    LOG_LEVEL_ENV,
    ArgumentParser,
    UsageError,
    cli_words,
    import_keras_quietly,
    native_logs_filtered,
    select_backend,
)
from kt_twostage.cli._overrides import flag_words

COMMANDS = (search, worker, compare, report, record, replay)
# The commands that take the search settings' flags (`kt_twostage.cli._overrides`).
SETTINGS_COMMANDS = ("search", "worker", "compare")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="kt-twostage",
        description="Two-stage hyperparameter search (architecture, then "
        "learning rate) on Keras Tuner.",
        epilog="exit status: 0 done, 1 a runtime error, 2 a bad flag, "
        "130 interrupted (Ctrl-C)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv=None) -> int:
    """The `kt-twostage` command; returns the exit status: 0 done, 1 a
    runtime error, 2 a bad flag, 130 interrupted (Ctrl-C)."""
    # TensorFlow reads it once, when it loads: no C++ log lines unless the
    # user asks for them.
    os.environ.setdefault(LOG_LEVEL_ENV, "2")
    # A subcommand's module should not load TensorFlow, but if one does,
    # its loading log lines are filtered too.
    with native_logs_filtered():
        parser = build_parser()
    args = parser.parse_args(argv)
    with interrupt.command_line_handler():
        return _run_reporting_errors(args)


def _run_reporting_errors(args) -> int:
    try:
        return _run(args)
    except interrupt.SearchInterrupted as error:
        print(
            f"interrupted: {error}; run the same command again to resume",
            file=sys.stderr,
        )
        return interrupt.EXIT_STATUS
    except KeyboardInterrupt:
        print(f"kt-twostage {args.command}: interrupted", file=sys.stderr)
        return interrupt.EXIT_STATUS
    except (RecursionError, NotImplementedError):
        raise  # a bug, not bad input: keep the traceback
    except (ValueError, RuntimeError, OSError) as error:
        # Bad input is the user's to fix: one line, no traceback.
        message = cli_words(" ".join(str(error).split()))
        if args.command in SETTINGS_COMMANDS:
            # Their settings fields have flags; other commands' messages
            # (a table's `seed=1`) mean something else by the same words.
            message = flag_words(message)
        print(f"kt-twostage {args.command}: error: {message}", file=sys.stderr)
        return 2 if isinstance(error, UsageError) else 1


def _run(args) -> int:
    select_backend(getattr(args, "backend", None))
    uses_keras = getattr(args, "uses_keras", True)
    check = getattr(args, "check", None)
    # A check may load TensorFlow (the distributed code does): its loading
    # log lines are filtered as the import's.
    with native_logs_filtered():
        if check is not None:
            check(args)
        if uses_keras:
            import_keras_quietly()
    if not uses_keras:
        return args.func(args) or 0
    from kt_twostage import console

    with console.retracing_warnings_hidden():
        return args.func(args) or 0
