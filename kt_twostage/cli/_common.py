"""Pieces shared by the subcommands."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile

BACKENDS = ("tensorflow", "jax", "torch")
LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
# The library's words for its arguments, and the flags that set them: an error
# raised by the library names the flag on the command line.
_CLI_WORDS = (
    ("`overwrite=True`", "`--overwrite`"),
    ("a new `project_name`", "a new `--project-name`"),
    ("another `work_dir`", "another `--work-dir`"),
)
# A line of TensorFlow's C++ log (absl's format: severity, date, time, thread,
# file:line]), and absl's notice that it logs before it is set up.
_NATIVE_LOG_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [^ \]]+:\d+\]")
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"
# On a machine without CUDA drivers TensorFlow says so (an info line), then
# logs its probe for a GPU as an error: that error is the expected answer.
_NO_CUDA_DRIVER = "Could not find cuda drivers on your machine"
_CUDA_PROBE_ERROR = "failed call to cuInit"
# Whether TensorFlow said so, in this process (it says it once, when it loads,
# and the probe may come in a later block).
_seen = {"no_cuda_driver": False}


class UsageError(ValueError):
    """A bad flag or flag combination, reported in one line (exit status 2)."""


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors take one line, as the others.

    argparse prints the usage before its error: for `search` that is a dozen
    lines in which the error is lost. `--help` still shows it.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def cli_words(message) -> str:
    """`message` with the library's argument words replaced by the flags."""
    for library, flag in _CLI_WORDS:
        message = message.replace(library, flag)
    return message


def add_backend_argument(parser):
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="the Keras backend (default: $KERAS_BACKEND, else tensorflow); set "
        "before Keras is imported",
    )


def select_backend(backend):
    """Set `KERAS_BACKEND` before Keras is imported.

    Raises:
        UsageError: Keras is already imported with another backend.
    """
    if backend is None:
        return
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != backend:
            raise UsageError(
                f"--backend {backend}: Keras was already imported with the "
                f"{keras.backend.backend()} backend"
            )
        return
    os.environ["KERAS_BACKEND"] = backend


def import_keras_quietly():
    """Import Keras and its backend without TensorFlow's loading log lines
    (`native_logs_filtered`), and look for devices, as TensorFlow's first
    operation would, inside the filter too."""
    with native_logs_filtered():
        import keras  # noqa: F401

        _look_for_devices()


@contextlib.contextmanager
def native_logs_filtered():
    """Filter TensorFlow's loading log lines out of the standard error.

    `TF_CPP_MIN_LOG_LEVEL` silences TensorFlow's C++ log, but TensorFlow
    2.21 writes a few lines (oneDNN, CUDA drivers) while its libraries load,
    before it reads the level. What the block writes to the standard error
    is captured and passed on at its end without the lines the level hides.
    On a machine without CUDA drivers, the `failed call to cuInit` error of
    TensorFlow's first look for devices is the expected answer and is left
    out too; with drivers, it shows. With the level unset or 0 (the user
    asked for every line), nothing is captured.
    """
    level = os.environ.get(LOG_LEVEL_ENV, "0").strip()
    hidden = {"1": "I", "2": "IW", "3": "IWE"}.get(level, "")
    if not hidden:
        yield
        return
    with tempfile.TemporaryFile() as capture:
        try:
            with _stderr_to(capture):
                yield
        finally:
            capture.seek(0)
            _pass_on(capture.read().decode("utf-8", "replace"), hidden)


@contextlib.contextmanager
def _stderr_to(file):
    """Point the standard error's file descriptor (C++ code writes there
    directly) at `file` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _look_for_devices():
    """TensorFlow's first look for devices (with the TensorFlow backend)."""
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None:
        tensorflow.config.list_physical_devices()


def _pass_on(text, hidden):
    """Write `text` to the standard error, less the log lines of the
    severities in `hidden` (and absl's notice about them), and less the
    CUDA probe's error on a machine without CUDA drivers."""
    if _NO_CUDA_DRIVER in text:
        _seen["no_cuda_driver"] = True
    no_driver = _seen["no_cuda_driver"]
    for line in text.splitlines(keepends=True):
        match = _NATIVE_LOG_LINE.match(line)
        if line.startswith(_ABSL_NOTICE) or (match and match.group(1) in hidden):
            continue
        if no_driver and match and _CUDA_PROBE_ERROR in line:
            continue
        sys.stderr.write(line)


def check_data_path(path, source="default"):
    """Raise if `path` (the IMDB data given in `--data`) does not exist.

    `None` (the environment variable, else a download) is checked when the
    data is loaded. `source` says whose default data `--data` replaces
    ("preset's" for `search`).
    """
    if path is not None and not os.path.exists(os.path.expanduser(path)):
        raise FileNotFoundError(
            f"No IMDB reviews at '{path}' (--data). Expected an aclImdb folder "
            "or .tar.gz in the official layout, or leave --data out to use the "
            f"{source} data."
        )


def parse_list(text, kind, flag, what="values") -> tuple:
    """Comma-separated values of `kind`; a bad one is a `UsageError` that
    says the flag expects comma-separated `what`."""
    try:
        values = tuple(kind(word.strip()) for word in text.split(",") if word.strip())
    except ValueError:
        raise UsageError(
            f"{flag} expects comma-separated {what}, got {text!r}"
        ) from None
    if not values:
        raise UsageError(f"{flag} expects at least one value, got {text!r}")
    return values
