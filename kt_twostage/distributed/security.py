"""Who may talk to the chief: a shared token, and TLS.

Keras Tuner's gRPC channel has no authentication and no encryption. Here:

- **A shared token.** The chief and its workers read it from
  `KT_TWOSTAGE_TOKEN` (`kt-twostage ... --token-file PATH` sets it). Every
  call a worker makes carries it as call metadata; the chief refuses any
  call without it with gRPC `UNAUTHENTICATED`, before the oracle sees it,
  comparing in constant time (`hmac.compare_digest`).
- **TLS.** With `KT_TWOSTAGE_TLS_CERT` and `KT_TWOSTAGE_TLS_KEY` (PEM files)
  the chief serves over TLS; a worker with `KT_TWOSTAGE_TLS_CA` (the PEM
  certificate that signed the chief's, or the chief's own if self-signed)
  connects over TLS and checks the chief's certificate.

gRPC is imported on first use only.
"""

from __future__ import annotations

import hmac
import os

TOKEN_ENV = "KT_TWOSTAGE_TOKEN"
TLS_CERT_ENV = "KT_TWOSTAGE_TLS_CERT"
TLS_KEY_ENV = "KT_TWOSTAGE_TLS_KEY"
TLS_CA_ENV = "KT_TWOSTAGE_TLS_CA"
# gRPC metadata keys are lower case.
TOKEN_KEY = "kt-twostage-token"
REFUSED_MESSAGE = "the token does not match the chief's"


def read_token_file(path) -> str:
    """The token in `path` (surrounding whitespace removed).

    Raises:
        ValueError: if the file cannot be read or holds no token.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError as error:
        raise ValueError(
            f"Cannot read the token file {path!r} ({error.strerror}): give a "
            "readable file that holds the shared token."
        ) from error
    if not token:
        raise ValueError(
            f"The token file {path!r} is empty: write the shared token in it "
            "(for example `python -c 'import secrets; print(secrets.token_hex(32))'"
            f" > {path}`)."
        )
    return token


def token_from_environment():
    """`KT_TWOSTAGE_TOKEN`, or None when unset or empty."""
    return os.environ.get(TOKEN_ENV) or None


def token_matches(given, expected) -> bool:
    """Constant-time comparison of two tokens (strings or None)."""
    return hmac.compare_digest(
        (given or "").encode("utf-8"), (expected or "").encode("utf-8")
    )


def token_interceptor(token):
    """A gRPC server interceptor that refuses every call without `token`."""
    import grpc

    def refuse(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSED_MESSAGE)

    refusal = grpc.unary_unary_rpc_method_handler(refuse)

    class TokenInterceptor(grpc.ServerInterceptor):
        def intercept_service(self, continuation, handler_call_details):
            metadata = dict(handler_call_details.invocation_metadata or ())
            if token_matches(metadata.get(TOKEN_KEY), token):
                return continuation(handler_call_details)
            return refusal

    return TokenInterceptor()


def _read_pem(path, what, variable):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ValueError(
            f"Cannot read the TLS {what} {path!r} ({error.strerror}): set "
            f"{variable} (or its flag) to a readable PEM file."
        ) from error


def server_credentials():
    """gRPC server credentials from `KT_TWOSTAGE_TLS_CERT`/`_KEY`, or None."""
    cert, key = os.environ.get(TLS_CERT_ENV), os.environ.get(TLS_KEY_ENV)
    if not cert and not key:
        return None
    if not (cert and key):
        raise ValueError(
            "TLS needs both a certificate and its key: set both "
            f"{TLS_CERT_ENV} and {TLS_KEY_ENV} (--tls-cert and --tls-key)."
        )
    import grpc

    pair = (
        _read_pem(key, "key", TLS_KEY_ENV),
        _read_pem(cert, "certificate", TLS_CERT_ENV),
    )
    return grpc.ssl_server_credentials([pair])


def open_channel(address):
    """A gRPC channel to the chief: TLS when `KT_TWOSTAGE_TLS_CA` is set."""
    import grpc

    authority = os.environ.get(TLS_CA_ENV)
    if not authority:
        return grpc.insecure_channel(address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read_pem(authority, "CA certificate", TLS_CA_ENV)
    )
    return grpc.secure_channel(address, credentials)


INSECURE_ENV = "KT_TWOSTAGE_INSECURE"


def exposure_warning(host, token, tls, insecure):
    """Refuse, or warn about, a chief that strangers can reach.

    Returns a warning line (or None). Raises `ValueError` for a non-loopback
    address without a token, unless `insecure`.
    """
    from kt_twostage.distributed.addresses import is_loopback

    if is_loopback(host) or (token and tls):
        return None
    if not token and not insecure:
        raise ValueError(
            f"Refusing to serve the oracle on {host} without a token: anyone who "
            "reaches the port could read the trials and feed the chief fake "
            f"scores. Set {TOKEN_ENV} (or --token-file PATH) on the chief and "
            "its workers, or give --insecure on a network you trust "
            "(docs/distributed.md)."
        )
    if not token:
        return (
            f"warning: the chief listens on {host} with no token (--insecure): "
            "anyone who reaches the port can read the trials and change the result"
        )
    return (
        f"warning: the chief listens on {host} without TLS: the token and the "
        "scores cross the network in clear text (--tls-cert/--tls-key)"
    )
