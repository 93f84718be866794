"""Crash-safe file writes: a kill never leaves a half-written file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, binary: bool = False):
    """Open a temporary file beside `path` for writing; rename it to `path`.

    The rename happens when the block ends without an error, after the data
    is on disk. On an error the temporary file is removed and `path` is left
    as it was. Text is written as UTF-8; `binary=True` opens the file in
    binary mode.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temporary = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        # mkstemp creates the file private (0600); give it the usual mode.
        os.chmod(temporary, 0o666 & ~_current_umask())
        if binary:
            handle = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding="utf-8")
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it."""
    with atomic_file(path) as handle:
        handle.write(text)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | os.PathLike, obj) -> str:
    """Serialize `obj` as JSON and write it atomically; returns the text."""
    text = json.dumps(obj)
    atomic_write_text(path, text)
    return text
