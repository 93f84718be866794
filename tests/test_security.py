"""The token and TLS settings, and the flags that set them (no processes)."""

import pytest

from kt_twostage.cli import main as cli_main
from kt_twostage.distributed import security

TOKEN = "a7f3c1d9e2b84f60a1c5d7e9f0b2c4d6"


@pytest.mark.parametrize(
    "host, token, tls, insecure, expected",
    [
        ("127.0.0.1", None, None, False, None),
        ("::1", None, None, False, None),
        ("localhost", None, None, False, None),
        ("10.0.0.5", TOKEN, "cert.pem", False, None),
        ("10.0.0.5", TOKEN, None, False, "without TLS"),
        ("0.0.0.0", None, None, True, "with no token (--insecure)"),
    ],
)
def test_exposure_warning(host, token, tls, insecure, expected):
    warning = security.exposure_warning(host, token, tls, insecure)
    assert (warning is None) if expected is None else (expected in warning)


def test_a_non_loopback_chief_without_a_token_is_refused():
    with pytest.raises(ValueError, match="Refusing to serve the oracle on 0.0.0.0"):
        security.exposure_warning("0.0.0.0", None, None, False)


def test_tokens_compare_exactly():
    assert security.token_matches(TOKEN, TOKEN)
    assert not security.token_matches(TOKEN[:-1], TOKEN)
    assert not security.token_matches(None, TOKEN)
    assert not security.token_matches("", TOKEN)


def test_token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(f"  {TOKEN}\n")
    assert security.read_token_file(path) == TOKEN
    path.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        security.read_token_file(path)
    with pytest.raises(ValueError, match="Cannot read the token file"):
        security.read_token_file(tmp_path / "missing")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--serve", "0.0.0.0:8000"], "Refusing to serve the oracle on 0.0.0.0"),
        (["--worker-timeout", "0"], "--worker-timeout must be a positive"),
        (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
        (["--token-file", "/no/such/file"], "--token-file: no such file"),
    ],
)
def test_bad_chief_flags_are_usage_errors(flags, message, capsys, monkeypatch):
    monkeypatch.delenv(security.TOKEN_ENV, raising=False)
    assert cli_main(["search", *flags]) == 2
    assert message in capsys.readouterr().err


def test_worker_tls_ca_must_exist(capsys):
    flags = ["--chief", "127.0.0.1:5000", "--tuner-id", "worker0"]
    assert cli_main(["worker", *flags, "--tls-ca", "/no/such.pem"]) == 2
    assert "--tls-ca: no such file" in capsys.readouterr().err


def test_flags_set_the_environment(tmp_path, monkeypatch):
    from kt_twostage.cli import build_parser
    from kt_twostage.cli._distributed import security_environment

    monkeypatch.delenv(security.TLS_CA_ENV, raising=False)
    token, cert, key = tmp_path / "token", tmp_path / "cert.pem", tmp_path / "key.pem"
    token.write_text(TOKEN + "\n")
    flags = ["--token-file", str(token), "--tls-cert", str(cert), "--tls-key", str(key)]
    args = build_parser().parse_args(["search", "--workers", "2", *flags])
    environment = security_environment(args)
    assert environment[security.TOKEN_ENV] == TOKEN
    assert environment[security.TLS_CERT_ENV] == str(cert)
    assert environment[security.TLS_KEY_ENV] == str(key)
    # Local workers trust the chief's own certificate.
    assert environment[security.TLS_CA_ENV] == str(cert)
    assert security.INSECURE_ENV not in environment
