"""Deterministic kernels for the length of a comparison, and what it said.

`compare_tuners(deterministic=True)` trains every run under
`reproducibility.enable_determinism()` (TensorFlow op determinism, PyTorch's
deterministic algorithms; JAX on the CPU is deterministic already) and
afterwards puts the backend's setting back, so that a process that goes on
(a notebook, a test suite) is left as it was. What the backend said is
recorded with every run the comparison trains, and summed up in
`summary.json`'s description.
"""

from __future__ import annotations

import contextlib

from kt_twostage import reproducibility

NOT_REQUESTED = "off (not requested)"
NOT_RECORDED = "not recorded"


@contextlib.contextmanager
def deterministic_kernels(enabled):
    """Within the block, the backend's deterministic kernels when `enabled`.

    Yields the line that says what was done (`NOT_REQUESTED` when not
    `enabled`).
    """
    if not enabled:
        yield NOT_REQUESTED
        return
    restore = _setting_restorer()
    try:
        yield reproducibility.enable_determinism()
    finally:
        restore()


def _setting_restorer():
    """A function that puts the backend's determinism setting back as it is now."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        from tensorflow.python.framework import config

        if config.is_op_determinism_enabled():
            return lambda: None
        return config.disable_op_determinism
    if backend == "torch":
        import torch

        enabled = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        return lambda: torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    return lambda: None  # JAX: enable_determinism changes nothing.


def summary_line(runs, note) -> str:
    """The description's determinism line: what this invocation's training
    ran under (`note`), and under what the reused runs were trained, when
    that differs."""
    others = {}
    for run in runs:
        recorded = run.get("determinism", NOT_RECORDED)
        if recorded != note:
            others[recorded] = others.get(recorded, 0) + 1
    if not others:
        return note
    reused = ", ".join(f"{count} run(s) {text}" for text, count in others.items())
    return f"{note} (runs trained now); reused from the work folder: {reused}"
