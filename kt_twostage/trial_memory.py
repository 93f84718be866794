"""Memory that a trial leaves behind in TensorFlow or JAX, released after it.

Keras Tuner clears the Keras session and collects garbage before it builds
each model, yet a process that runs many trials grows by a few MB per trial
(keras-tuner #395, #873, #1031), because two caches outlive the model:

- TensorFlow: every trace of a train step that goes through
  `tf.custom_gradient` in graph mode registers its gradient function under a
  new name (`CustomGradient-<uid>`) in TensorFlow's global gradient registry,
  which never forgets one. Each such function holds the traced graph, hence
  the model's whole train-step graph, through its closure: about 3 MB per
  trial of a small model.
- JAX: `jax.jit` keeps each trial's traced and compiled train step in its
  caches.

`released_after_trial()` forgets the gradient functions registered while the
block ran (they belong to graphs traced in it, which no later trial uses),
and clears JAX's caches. The next trial's own `clear_session()` and
`gc.collect()` then free the model's graph.
"""

from __future__ import annotations

import contextlib

import keras

_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


@contextlib.contextmanager
def released_after_trial():
    """Release, when the block ends, what the trials run in it left behind."""
    known = _custom_gradient_names()
    try:
        yield
    finally:
        release_trial_memory(known)


def release_trial_memory(known_custom_gradients=frozenset()):
    """Forget the custom gradients registered since `known_custom_gradients`
    was taken (TensorFlow) and clear JAX's compilation caches (JAX)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        registry = _gradient_registry()
        for name in _custom_gradient_names() - set(known_custom_gradients):
            registry.pop(name, None)
    elif backend == "jax":
        import jax

        jax.clear_caches()


def _gradient_registry():
    from tensorflow.python.framework import ops

    return ops._gradient_registry._registry


def _custom_gradient_names():
    if keras.backend.backend() != "tensorflow":
        return frozenset()
    return frozenset(
        name
        for name in _gradient_registry()
        if name.startswith(_CUSTOM_GRADIENT_PREFIX)
    )
