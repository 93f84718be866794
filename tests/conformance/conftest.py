"""Fixtures of the Keras Tuner conformance tests."""

import pytest

from kt_twostage._gc import long_lived_objects_frozen


@pytest.fixture(autouse=True, scope="module")
def _imports_out_of_garbage_collection():
    """Keras Tuner's `Tuner` runs two full garbage collections per trial, each
    walking every object TensorFlow made at import (about a second per trial
    on 2 busy cores). Freezing the objects alive now takes them out of those
    walks; what the tests create is collected as usual. Nothing else changes
    (`TwoStageTuner` does the same during `search`)."""
    with long_lived_objects_frozen():
        yield
