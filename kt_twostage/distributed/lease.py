"""Leases: a trial whose worker has gone silent goes back to the schedule.

Keras Tuner keeps each running trial assigned to the tuner id that asked for
it, with no time limit: a worker that is lost for good leaves its trial, and
so the search, waiting forever. Here every call a worker makes is a
heartbeat (a `TwoStageTuner` worker also sends one every few seconds while
it trains, `kt_twostage.distributed.client`); a worker silent for longer
than the *worker timeout* loses its trial, which goes back to the schedule
through Keras Tuner's retry queue, and the next worker that asks gets it.

The worker timeout is `worker_timeout` when given; otherwise
`max(DEFAULT_FLOOR_SECONDS, SILENCE_MULTIPLE x the longest silence seen from a
worker that came back in time)`: 5 minutes, more for workers whose calls are
far apart (a plain Keras Tuner worker calls only between trials).

This module holds the clock-keeping only; `ResilientOracle` applies it to
its trials.
"""

from __future__ import annotations

import time

DEFAULT_FLOOR_SECONDS = 300.0
SILENCE_MULTIPLE = 10.0
# A worker beats at a quarter of the timeout, at most this often apart.
LONGEST_BEAT_SECONDS = 10.0


def check_worker_timeout(value):
    """`None` (the default rule) or a positive number of seconds, as a float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(
            "Received an invalid value for argument `worker_timeout`, expected "
            f"a positive number of seconds or None, got {value!r}."
        )
    return float(value)


def default_timeout(longest_silence) -> float:
    """The worker timeout when none is given (see the module docstring)."""
    return max(DEFAULT_FLOOR_SECONDS, SILENCE_MULTIPLE * longest_silence)


def beat_seconds(timeout) -> float:
    """How often a worker beats, given the chief's worker timeout."""
    return max(0.05, min(LONGEST_BEAT_SECONDS, timeout / 4))


class Leases:
    """When each tuner was last heard from, and who has been silent too long.

    Args:
        timeout: Float or `None`, the worker timeout in seconds. Defaults to
            `None`: the default rule.
        clock: Callable returning seconds (tests pass a fake one).
    """

    def __init__(self, timeout=None, clock=time.monotonic):
        self.timeout = check_worker_timeout(timeout)
        self._clock = clock
        self._last_heard = {}
        self.longest_silence = 0.0

    def effective_timeout(self) -> float:
        if self.timeout is not None:
            return self.timeout
        return default_timeout(self.longest_silence)

    def heard(self, tuner_id):
        """A call from `tuner_id` arrived now."""
        now = self._clock()
        last = self._last_heard.get(tuner_id)
        if last is not None:
            self.longest_silence = max(self.longest_silence, now - last)
        self._last_heard[tuner_id] = now

    def silent(self) -> list:
        """`(tuner_id, seconds)` of the tuners silent for longer than the timeout."""
        now, timeout = self._clock(), self.effective_timeout()
        return [
            (tuner_id, now - last)
            for tuner_id, last in sorted(self._last_heard.items())
            if now - last > timeout
        ]

    def forget(self, tuner_id):
        self._last_heard.pop(tuner_id, None)
