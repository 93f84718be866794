"""Garbage collection that skips the objects alive when a search starts."""

from __future__ import annotations

import contextlib
import gc


@contextlib.contextmanager
def long_lived_objects_frozen():
    """Leave the objects alive now out of garbage collections, for a while.

    Keras Tuner runs two full garbage collections before every trial
    (`clear_session()` and `gc.collect()` in `Tuner._try_build`), and Python
    runs more while a model is traced. Each walks every object TensorFlow and
    Keras made at import (about 400,000): 0.2 to 0.4 s each on 2 CPU cores, a
    few percent of a short trial. `gc.freeze()` moves the objects alive now out
    of those walks; whatever the trials create is collected as before, so
    memory stays flat. `gc.unfreeze()` at the end puts them back. If the
    process froze objects itself, it is left alone.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
