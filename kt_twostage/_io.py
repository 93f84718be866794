"""Crash-safe file writes: a kill or a full disk never leaves a half-written file."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile

# The errors of a full disk, or of a user's quota that is used up.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """A file could not be written because the disk (or the quota) is full.

    Raised by the atomic writes of this module in place of the `OSError`
    (`ENOSPC` or `EDQUOT`) that the write met; `filename` is the file that
    was being written, left as it was.
    """

    def __str__(self):
        # The message names the file already.
        return self.strerror


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, binary: bool = False):
    """Open a temporary file beside `path` for writing; rename it to `path`.

    The rename happens when the block ends without an error, after the data
    is on disk. On an error the temporary file is removed and `path` is left
    as it was; a full disk raises `DiskFullError`, which names `path`. Text
    is written as UTF-8; `binary=True` opens the file in binary mode.
    """
    with atomic_path(path) as temporary:
        if binary:
            handle = open(temporary, "wb")
        else:
            handle = open(temporary, "w", encoding="utf-8")
        with handle:
            yield handle


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside `path`; rename it to `path` at the end.

    For writers that open the file by name (h5py, `save_weights`). The
    temporary name ends with `suffix` (for writers that check the
    extension, e.g. `".weights.h5"`). When the block ends without an error
    the file is flushed to disk and renamed to `path`; on an error it is
    removed and `path` is left as it was; a full disk raises
    `DiskFullError`, which names `path`.
    """
    directory = os.path.dirname(os.path.abspath(path))
    with _disk_full_named(path):
        os.makedirs(directory, exist_ok=True)
        fd, temporary = tempfile.mkstemp(
            dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp" + suffix
        )
        os.close(fd)
        try:
            # mkstemp creates the file private (0600); give it the usual mode.
            os.chmod(temporary, 0o666 & ~_current_umask())
            yield temporary
            _fsync_file(temporary)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise


@contextlib.contextmanager
def _disk_full_named(path):
    """Turn a full disk's `OSError` into a `DiskFullError` that names `path`."""
    try:
        yield
    except DiskFullError:
        raise
    except OSError as error:
        if error.errno not in DISK_FULL_ERRNOS:
            raise
        raise disk_full_error(path, error) from error


def disk_full_error(path, error: OSError) -> DiskFullError:
    """The `DiskFullError` for `path`, from the `OSError` a write raised."""
    directory = os.path.dirname(os.path.abspath(path))
    return DiskFullError(
        error.errno,
        f"Cannot write {path}: the disk is full ({os.strerror(error.errno)}). "
        "The file was left as it was. Free some space on the disk that holds "
        f"{directory}, then resume: run the same search again with "
        "`overwrite=False` (the default); it goes on from the last trial "
        "that was saved.",
        os.fspath(path),
    )


def _fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
