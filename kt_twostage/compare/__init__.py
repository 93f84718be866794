"""`TwoStageTuner` against Keras Tuner's built-in tuners, side by side.

See `kt_twostage.compare.runner` for what a comparison runs.
"""

from kt_twostage.compare.runner import *  # noqa: F403
from kt_twostage.compare.runner import (  # noqa: F401
    __all__,  # noqa: F401
    _incumbent,
    _oracle_seed,
)
