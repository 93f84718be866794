"""Fixtures of the Keras Tuner conformance tests."""

import gc

import pytest


@pytest.fixture(autouse=True, scope="module")
def _imports_out_of_garbage_collection():
    """Keras Tuner's `Tuner` runs two full garbage collections per trial, each
    walking every object TensorFlow made at import (about a second per trial
    on 2 busy cores). Freezing the objects alive now takes them out of those
    walks; what the tests create is collected as usual. Nothing else changes
    (`TwoStageTuner` does the same during `search`)."""
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
