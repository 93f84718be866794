"""The IMDB reference problem: raw-text reviews, the LSTM hypermodel, settings
and the one-call search.

`data` (the loader) and `hypermodel` know nothing of tuning; `settings` holds
the search presets and comparison profiles (pure, no Keras); `search` joins
them to `TwoStageTuner`.
"""

from kt_twostage.imdb.sample import sample_path

__all__ = ["sample_path"]
