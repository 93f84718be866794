"""Deterministic training where the Keras backend allows it.

`keras.utils.set_random_seed` fixes the random draws (initial weights, the
order of the batches, dropout) but not the order in which a backend sums
floats in parallel. `enable_determinism()` asks the backend for that too:

- TensorFlow: `tf.config.experimental.enable_op_determinism()`. Some ops
  have no deterministic kernel and then raise instead of running.
- JAX: XLA on the CPU is deterministic already; on a GPU, the flag
  `--xla_gpu_deterministic_ops=true` must be in `XLA_FLAGS` before JAX
  starts, which a running process cannot do (this says so).
- PyTorch: `torch.use_deterministic_algorithms(True)`.
"""

from __future__ import annotations

import os
import zlib


def enable_determinism() -> str:
    """Ask the Keras backend for deterministic kernels.

    Returns:
        One line saying what was done, and where determinism is not assured.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        return "TensorFlow op determinism enabled"
    if backend == "jax":
        import jax

        if any(device.platform == "gpu" for device in jax.devices()):
            if "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", ""):
                return "JAX on GPU with --xla_gpu_deterministic_ops=true"
            return (
                "JAX on GPU: not deterministic (set XLA_FLAGS="
                "--xla_gpu_deterministic_ops=true before starting)"
            )
        return "JAX on CPU: deterministic"
    if backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
        return "PyTorch deterministic algorithms enabled (warn only)"
    return f"{backend}: determinism not configured"


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the Keras backend (`keras.utils.set_random_seed`)."""
    import keras

    keras.utils.set_random_seed(int(seed))


def trial_seed(seed: int, trial_id) -> int:
    """The seed of one trial: `seed` plus the trial's number.

    Keras Tuner numbers trials `"00"`, `"01"`, ...; an id that is not a number
    gets a stable number from its text (crc32), so every trial of a search
    trains with its own seed and a rerun repeats it.
    """
    try:
        number = int(trial_id)
    except ValueError:
        number = zlib.crc32(str(trial_id).encode("utf-8"))
    return int(seed) + number
