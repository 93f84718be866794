"""The shared token and TLS, with real processes (the script of
tests/test_distributed.py as the chief, `kt-twostage worker` as intruders)."""

import dataclasses
import hashlib
import json
import os
import subprocess
import sys

import pytest
from test_distributed import (
    final,
    finish_all,
    outputs,
    read_events,
    reference,
    start,
    wait_for,
)

from kt_twostage import distributed
from kt_twostage.cli._worker_settings import SETTINGS_FILE
from kt_twostage.distributed import security
from kt_twostage.imdb.settings import PRESETS

pytestmark = pytest.mark.heavy

TOKEN = "a7f3c1d9e2b84f60a1c5d7e9f0b2c4d6"


def snapshot(directory):
    """Every file under `directory` -> the SHA-256 of its bytes."""
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                files[os.path.relpath(path, directory)] = hashlib.sha256(
                    handle.read()
                ).hexdigest()
    return files


def chief_is_serving(directory):
    path = os.path.join(directory, "chief.out")
    return os.path.exists(path) and "serving the oracle" in open(path).read()


def intruder(tmp_path, port, name, token_file=None):
    """`kt-twostage worker` against the chief, from a folder of its own, with
    the settings of the `quick` preset."""
    env = {k: v for k, v in os.environ.items() if k != security.TOKEN_ENV}
    settings = dataclasses.replace(PRESETS["quick"], directory=str(tmp_path / name))
    project = tmp_path / name / settings.project_name
    project.mkdir(parents=True)
    (project / SETTINGS_FILE).write_text(json.dumps(dataclasses.asdict(settings)))
    command = [
        *(sys.executable, "-m", "kt_twostage", "worker"),
        *("--chief", f"127.0.0.1:{port}", "--tuner-id", name),
        *("--directory", settings.directory),
    ]
    if token_file is not None:
        command += ["--token-file", str(token_file)]
    return subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_wrong_or_missing_token_is_refused_and_changes_nothing(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    port = distributed.free_port()
    extra = ("--sleep", 0.2, "--stage2-trials", 2, "--workers", 1)
    monkeypatch.setenv(security.TOKEN_ENV, TOKEN)
    chief = start(run, "chief", port, *extra)
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token\n")
    processes = [chief]
    try:
        wait_for(lambda: chief_is_serving(run), 180, "the chief to serve")
        before = snapshot(run / "project")
        intruders = [
            intruder(tmp_path, port, "intruder0"),
            intruder(tmp_path, port, "intruder1", token_file=wrong),
        ]
        for process in intruders:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 1, err
            last = err.strip().splitlines()[-1]
            assert last == (
                "kt-twostage worker: error: the chief refused this worker: the "
                "token does not match the chief's (set KT_TWOSTAGE_TOKEN or "
                "--token-file to the chief's token)"
            ), err
        assert snapshot(run / "project") == before
        assert not [e for e in read_events(run) if e["event"] == "create"]
        # The right token completes the search.
        processes.append(start(run, "worker0", port, *extra))
        finish_all(processes, 180)
    except BaseException:
        print(outputs(run))
        raise
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    path, chosen = reference(tmp_path, 2)
    assert (final(run)["path"], final(run)["best"]) == (path, chosen)
    assert "with a token" in open(run / "chief.out").read()


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1, made with `openssl`."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "1"),
            *("-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_with_a_self_signed_certificate(tmp_path, monkeypatch):
    cert, key = make_certificate(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    port = distributed.free_port()
    extra = ("--sleep", 0.2, "--stage2-trials", 2, "--workers", 1)
    monkeypatch.setenv(security.TOKEN_ENV, TOKEN)
    monkeypatch.setenv(security.TLS_CERT_ENV, str(cert))
    monkeypatch.setenv(security.TLS_KEY_ENV, str(key))
    monkeypatch.setenv(security.TLS_CA_ENV, str(cert))
    processes = [start(run, name, port, *extra) for name in ("chief", "worker0")]
    try:
        finish_all(processes, 300)
    except BaseException:
        print(outputs(run))
        raise
    assert "with a token and TLS" in open(run / "chief.out").read()
    path, chosen = reference(tmp_path, 2)
    assert (final(run)["path"], final(run)["best"]) == (path, chosen)
