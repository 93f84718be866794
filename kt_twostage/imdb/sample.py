"""The built-in sample of the IMDB reviews (no Keras needed to find it)."""

import os


def sample_path():
    """Returns the path of the built-in sample of the IMDB reviews.

    A `.tar.gz` with 1,000 training and 1,000 test reviews (balanced) drawn
    from the full dataset by `tools/make_sample_data.py`; small enough for
    demos and tests, far too small for meaningful accuracy.
    """
    return os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "sample_data",
        "aclImdb_sample.tar.gz",
    )
