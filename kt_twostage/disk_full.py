"""A full disk stops a search, with an error that says which file and what to do.

Keras Tuner counts any error raised while a trial trains as the trial's
failure and goes on with the next trial, on the same full disk. The project's
state files are written atomically (`kt_twostage._io`), so a write that fails
leaves them as they were; `stop_search_when_disk_full` turns the error into
a `keras_tuner.errors.FatalError`, which stops the search, and a later resume
goes on from the last state that was saved.
"""

from __future__ import annotations

import contextlib

import keras_tuner

from kt_twostage import _io


class SearchDiskFullError(keras_tuner.errors.FatalError, _io.DiskFullError):
    """The disk filled up during a search; the search stopped.

    An `OSError` (`ENOSPC` or `EDQUOT`) and a `keras_tuner.errors.FatalError`.
    """


@contextlib.contextmanager
def stop_search_when_disk_full():
    """Raise `SearchDiskFullError` for a full disk met inside the block."""
    try:
        yield
    except SearchDiskFullError:
        raise
    except OSError as error:
        if error.errno not in _io.DISK_FULL_ERRNOS:
            raise
        if not isinstance(error, _io.DiskFullError):
            path = error.filename or "a file of the search"
            error = _io.disk_full_error(path, error)
        raise SearchDiskFullError(
            error.errno, error.strerror, error.filename
        ) from error
