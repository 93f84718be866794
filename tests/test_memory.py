"""`kt_twostage.trial_memory`: what a trial leaves in TensorFlow's and JAX's
caches is released after it (the memory benchmark is
benchmarks/bench_memory.py; RSS is too noisy on a shared machine for a test)."""

from __future__ import annotations

import keras
import pytest
import tiny_model

from kt_twostage import trial_memory


@pytest.fixture
def gradient_registry():
    pytest.importorskip("tensorflow")
    from tensorflow.python.framework import ops

    return ops._gradient_registry._registry


def test_custom_gradients_registered_in_the_block_are_forgotten(
    gradient_registry, monkeypatch
):
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    before = "CustomGradient-registered-before"
    during = "CustomGradient-registered-during"
    gradient_registry[before] = object()
    try:
        with trial_memory.released_after_trial():
            gradient_registry[during] = object()
        assert during not in gradient_registry
        assert before in gradient_registry
    finally:
        gradient_registry.pop(before, None)
        gradient_registry.pop(during, None)


def test_released_after_an_error_too(gradient_registry, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    name = "CustomGradient-registered-before-an-error"
    with pytest.raises(RuntimeError, match="trial failed"):
        with trial_memory.released_after_trial():
            gradient_registry[name] = object()
            raise RuntimeError("trial failed")
    assert name not in gradient_registry


def test_jax_caches_are_cleared(monkeypatch):
    jax = pytest.importorskip("jax")
    calls = []
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    monkeypatch.setattr(jax, "clear_caches", lambda: calls.append(1))
    with trial_memory.released_after_trial():
        pass
    assert calls == [1]


class GradientCounter(tiny_model.TwoStageTuner):
    """Counts the custom gradients alive right after each trial's `fit`."""

    def run_trial(self, trial, *args, **kwargs):
        results = super().run_trial(trial, *args, **kwargs)
        self.after_fit.append(trial_memory._custom_gradient_names())
        return results


def test_a_search_leaves_no_custom_gradient_behind(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's gradient registry: KERAS_BACKEND=tensorflow only")
    before = trial_memory._custom_gradient_names()
    tuner = tiny_model.make_tuner(tmp_path, tuner_class=GradientCounter)
    tuner.after_fit = []
    x, y = tiny_model.tiny_data()
    tuner.search(x, y, validation_split=0.25, verbose=0)
    # Every trial traced its train step with custom gradients (the leak) ...
    assert all(names - before for names in tuner.after_fit)
    assert len(tuner.after_fit) == 5
    # ... and none of them is left after the trial.
    assert trial_memory._custom_gradient_names() == before
