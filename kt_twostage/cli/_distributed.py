"""The flags of a distributed search that are not settings: lease, token, TLS.

`search --serve`/`--workers` (the chief) and `worker` share the token and TLS
flags; they reach the library through its environment variables
(`kt_twostage.distributed.security`), which local workers inherit.
"""

from __future__ import annotations

import os

from kt_twostage.cli._common import UsageError


def add_token_argument(group):
    group.add_argument(
        "--token-file",
        metavar="PATH",
        help="a file holding the token shared by the chief and its workers "
        "(default: $KT_TWOSTAGE_TOKEN); the chief refuses any call without it",
    )


def add_chief_arguments(group):
    """`--worker-timeout`, `--token-file`, `--insecure`, `--tls-cert/--tls-key`."""
    group.add_argument(
        "--worker-timeout",
        type=float,
        metavar="SECONDS",
        help="a worker silent for this long loses its trial to the next worker "
        "that asks (default: 300, or 10 x the longest silence seen if longer)",
    )
    add_token_argument(group)
    group.add_argument(
        "--insecure",
        action="store_true",
        help="serve on an address other machines reach without a token (refused "
        "otherwise: anyone reaching the port could change the result)",
    )
    group.add_argument(
        "--tls-cert", metavar="PEM", help="the chief's TLS certificate (with --tls-key)"
    )
    group.add_argument(
        "--tls-key", metavar="PEM", help="the key of --tls-cert (TLS for the channel)"
    )


def add_worker_arguments(group):
    """`--token-file` and `--tls-ca`."""
    add_token_argument(group)
    group.add_argument(
        "--tls-ca",
        metavar="PEM",
        help="connect over TLS, trusting the chief's certificate if signed by "
        "this one (a self-signed chief's: its own certificate)",
    )


def _readable(flag, path):
    if path is not None and not os.path.isfile(path):
        raise UsageError(f"{flag}: no such file: {path!r}")


def check_chief_args(args):
    if args.worker_timeout is not None and not args.worker_timeout > 0:
        raise UsageError(
            f"--worker-timeout must be a positive number of seconds, got "
            f"{args.worker_timeout:g}"
        )
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together: give both")
    for flag in ("token_file", "tls_cert", "tls_key"):
        _readable("--" + flag.replace("_", "-"), getattr(args, flag))
    if args.serve is not None:
        _check_exposure(args)


def check_worker_args(args):
    for flag in ("token_file", "tls_ca"):
        _readable("--" + flag.replace("_", "-"), getattr(args, flag))


def security_environment(args) -> dict:
    """The environment variables that the token and TLS flags set."""
    from kt_twostage.distributed import security

    environment = {}
    if args.token_file is not None:
        environment[security.TOKEN_ENV] = security.read_token_file(args.token_file)
    flags = {
        "tls_cert": security.TLS_CERT_ENV,
        "tls_key": security.TLS_KEY_ENV,
        "tls_ca": security.TLS_CA_ENV,
    }
    for flag, variable in flags.items():
        path = getattr(args, flag, None)
        if path is not None:
            environment[variable] = os.path.abspath(path)
    if getattr(args, "insecure", False):
        environment[security.INSECURE_ENV] = "1"
    if security.TLS_CERT_ENV in environment and not os.environ.get(security.TLS_CA_ENV):
        # Local workers (--workers) trust the chief's own certificate.
        environment[security.TLS_CA_ENV] = environment[security.TLS_CERT_ENV]
    return environment


def chief_argv(args) -> list:
    """The chief-only flags, for the chief's command line of `--workers`."""
    if args.worker_timeout is None:
        return []
    return ["--worker-timeout", f"{args.worker_timeout:g}"]


def _check_exposure(args):
    """Refuse a chief on an address other machines reach without a token,
    unless --insecure."""
    from kt_twostage.distributed import parse_address, security

    try:
        host, _ = parse_address(args.serve)
    except ValueError:
        return  # reported with the other --serve errors
    token = args.token_file is not None or security.token_from_environment()
    try:
        security.exposure_warning(host, token, args.tls_cert, args.insecure)
    except ValueError as error:
        raise UsageError(str(error)) from error
