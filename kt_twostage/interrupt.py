"""Ctrl-C during a search: stop at the next safe point, keep it resumable.

Python's default SIGINT handler raises `KeyboardInterrupt` wherever the
main thread happens to be: in the middle of a file write, inside TensorFlow,
or in a garbage-collection callback, where Python prints "Exception ignored"
and goes on. During `TwoStageTuner.search` the first SIGINT only sets a
flag instead; the search stops at the next safe point:

- during training, at the end of the current batch (`stop_at_interrupt`, a
  Keras callback): the trial is left unfinished, neither completed nor
  failed, so a resumed search runs it again;
- between trials, before the next one is created.

The search then saves the project and raises `SearchInterrupted` (a
`KeyboardInterrupt`). A second SIGINT does not wait: it raises
`KeyboardInterrupt` at once, or, on the command line, exits with status 130.
Outside a search the handler acts as Python's default.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading

EXIT_STATUS = 130  # 128 + SIGINT, what shells report for Ctrl-C
_requested = threading.Event()
_state = {"searches": 0, "exit_at_once": False}


class SearchInterrupted(KeyboardInterrupt):
    """Raised by `TwoStageTuner.search` after Ctrl-C, once the project is
    saved. Its message says how far the search got and where it is kept."""


def requested() -> bool:
    """Whether a SIGINT asked the running search to stop."""
    return _requested.is_set()


def request_stop():
    """Ask the running search to stop at its next safe point (what the first
    SIGINT does)."""
    _requested.set()


def raise_if_requested():
    """Raise `KeyboardInterrupt` if a stop was requested: a safe point."""
    if _requested.is_set():
        raise KeyboardInterrupt


def _say(text):
    # `os.write`, not `print`: a signal handler may run while `sys.stderr`
    # is in the middle of a write, and its buffer refuses a reentrant one.
    os.write(2, text.encode() + b"\n")


def _handle_sigint(signum, frame):
    if _state["searches"] == 0:
        raise KeyboardInterrupt
    if not _requested.is_set():
        _requested.set()
        _say(
            "stopping after the current batch (the trial will run again on "
            "resume); press Ctrl-C again to stop at once"
        )
        return
    if _state["exit_at_once"]:
        _say("interrupted again: exiting at once")
        os._exit(EXIT_STATUS)
    raise KeyboardInterrupt


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _handler_installed():
    if not _in_main_thread() or signal.getsignal(signal.SIGINT) is _handle_sigint:
        yield
        return
    previous = signal.signal(signal.SIGINT, _handle_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def command_line_handler():
    """For a command-line program: SIGINT handled here for the whole block,
    and a second SIGINT during a search exits at once (status 130)."""
    saved = _state["exit_at_once"]
    _state["exit_at_once"] = True
    try:
        with _handler_installed():
            yield
    finally:
        _state["exit_at_once"] = saved


@contextlib.contextmanager
def stops_at_safe_points():
    """Inside the block (a search), the first SIGINT requests a stop instead
    of raising; the previous handler is restored afterwards. Only the main
    thread receives signals: elsewhere nothing changes."""
    _requested.clear()
    _state["searches"] += 1
    try:
        with _handler_installed():
            yield
    finally:
        _state["searches"] -= 1
        _requested.clear()


def stop_at_interrupt():
    """A Keras callback that ends `fit` (and its validation) at the end of
    the batch during which a stop was requested. The caller then raises
    (`raise_if_requested`): the cut-short trial must not count as trained.
    (Keras is imported here, not with the module, which the command line
    imports before it picks the Keras backend.)"""
    return _callback_class()()


@functools.cache
def _callback_class():
    import keras

    class StopAtInterrupt(keras.callbacks.Callback):
        # It only sets flags that Keras reads between batches: safe to call
        # from Keras' callback thread, so Keras need not wait for every batch.
        async_safe = True

        def on_train_batch_end(self, batch, logs=None):
            if _requested.is_set():
                self.model.stop_training = True

        def on_test_batch_end(self, batch, logs=None):
            if _requested.is_set():
                self.model.stop_evaluating = True

    return StopAtInterrupt
