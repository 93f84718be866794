"""`kt-twostage worker`: a worker of a distributed IMDB search."""

from __future__ import annotations

import os

from kt_twostage.cli import _distributed, _worker_settings, search
from kt_twostage.cli._common import UsageError, check_data_path


def register(subparsers):
    parser = subparsers.add_parser(
        "worker",
        help="train trials for the chief of a distributed search",
        description="Join a distributed two-stage search as a worker: ask the "
        "chief (`kt-twostage search --serve`) for trials and train them until "
        "it says the search is over. The settings are the chief's, read from "
        "the project (--directory and --project-name, the chief's: a shared "
        "filesystem when the worker runs on another machine); settings flags "
        "given here must agree with them. A worker that is restarted with the "
        "same --tuner-id gets back the trial it was running. See "
        "docs/distributed.md.",
    )
    group = parser.add_argument_group("distributed tuning")
    group.add_argument(
        "--chief",
        metavar="HOST:PORT",
        help="the chief's address (default: $KERASTUNER_ORACLE_IP and "
        "$KERASTUNER_ORACLE_PORT)",
    )
    group.add_argument(
        "--tuner-id",
        help="this worker's id, unique among the workers, e.g. worker0 "
        "(default: $KERASTUNER_TUNER_ID)",
    )
    _distributed.add_worker_arguments(group)
    search.add_settings_arguments(parser)
    # No preset unless given: the settings are the chief's.
    parser.set_defaults(func=run, check=check_args, preset=None)


def role_from_args(args):
    """`(tuner_id, host, port)` from the flags, else the environment."""
    from kt_twostage import distributed

    if args.chief is not None:
        try:
            host, port = distributed.parse_address(args.chief)
        except ValueError as error:
            raise UsageError(f"--chief: {error}") from error
    else:
        host = os.environ.get(distributed.ORACLE_IP_ENV)
        port = os.environ.get(distributed.ORACLE_PORT_ENV)
        if not host or not port:
            raise UsageError(
                "no chief to join: give --chief HOST:PORT, or set "
                f"{distributed.ORACLE_IP_ENV} and {distributed.ORACLE_PORT_ENV}"
            )
    tuner_id = args.tuner_id or os.environ.get(distributed.TUNER_ID_ENV)
    if not tuner_id:
        raise UsageError(
            "no worker id: give --tuner-id (e.g. worker0), or set "
            f"{distributed.TUNER_ID_ENV}"
        )
    try:
        distributed.check_worker_id(tuner_id)
    except ValueError as error:
        raise UsageError(str(error)) from error
    return tuner_id, host, port


def check_args(args):
    """Every flag of `worker`, checked before any data is loaded."""
    if args.overwrite:
        raise UsageError(
            "--overwrite is for the chief only (a worker never deletes the "
            "project it shares with the chief)"
        )
    role_from_args(args)
    _distributed.check_worker_args(args)
    settings = _worker_settings.check_explicit_flags(args)
    if args.data is not None or args.preset is not None:
        check_data_path(settings.data)


def run(args):
    from kt_twostage import distributed

    tuner_id, host, port = role_from_args(args)
    os.environ.update(distributed.role_environment(tuner_id, host, port))
    os.environ.update(_distributed.security_environment(args))
    settings = _worker_settings.worker_settings(args)
    check_data_path(settings.data)

    from kt_twostage.imdb import search as imdb_search

    # As `run_imdb_search`, without the final test: that is the chief's.
    data = imdb_search.load_data(settings)
    tuner = imdb_search.build_tuner(settings)
    print(f"{tuner_id}: joining the chief on {distributed.format_address(host, port)}")
    imdb_search.run_search(tuner, settings, data.x_train, data.y_train)
    print(f"{tuner_id}: the chief says the search is over")
    return 0
