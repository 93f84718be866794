"""What a result was measured with: the machine, the libraries, the backend.

Written beside benchmark results (tables, comparisons) so that a number can
always be traced to where it came from. Keras is imported only when asked.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

_LIBRARIES = ("kt-twostage", "keras", "keras-tuner", "tensorflow", "jax", "torch")


def library_versions() -> dict:
    """`{name: version}` of Python and the libraries installed (None: absent)."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def keras_backend() -> str:
    """The Keras backend in use (imports Keras)."""
    import keras

    return keras.backend.backend()


def describe_machine() -> dict:
    """CPU cores, memory, accelerators and platform of this machine."""
    memory = None
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpu_cores": os.cpu_count(),
        "memory_gib": None if memory is None else round(memory, 1),
        "gpus": _gpu_count(),
        "platform": platform.platform(),
        "processor": platform.machine(),
    }


def machine_line() -> str:
    """The machine and the versions in one line, e.g. `2 CPU cores, 24 GiB
    memory, no GPU; Python 3.11.7, TensorFlow 2.21.0, Keras 3.15.1, Keras Tuner
    1.4.8` (imports Keras)."""
    machine = describe_machine()
    versions = library_versions()
    parts = [f"{machine['cpu_cores']} CPU cores"]
    if machine["memory_gib"] is not None:
        parts.append(f"{machine['memory_gib']:.0f} GiB memory")
    parts.append(f"{machine['gpus']} GPU(s)" if machine["gpus"] else "no GPU")
    backend = keras_backend()
    name = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}[backend]
    return (
        ", ".join(parts)
        + f"; Python {versions['python']}, {name} {versions[backend]}, Keras "
        f"{versions['keras']}, Keras Tuner {versions['keras-tuner']}"
    )


def load_average():
    """The 1-, 5- and 15-minute load averages (None where the OS has none)."""
    try:
        return list(os.getloadavg())
    except (OSError, AttributeError):  # pragma: no cover - not on every OS
        return None


def _gpu_count() -> int:
    """GPUs the Keras backend sees (0 when it sees none or cannot tell)."""
    if "keras" not in sys.modules:
        return 0
    backend = keras_backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return len(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return len([d for d in jax.devices() if d.platform == "gpu"])
        if backend == "torch":
            import torch

            return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - a probe must never fail the caller
        return 0
    return 0
