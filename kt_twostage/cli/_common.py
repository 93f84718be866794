"""Pieces shared by the subcommands."""

from __future__ import annotations

import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")


class UsageError(ValueError):
    """A bad flag or flag combination, reported in one line (exit status 2)."""


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
