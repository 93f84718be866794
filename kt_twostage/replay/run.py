"""Many replayed searches, on several processes: `run_replay`.

Each search is a pure function of (table, settings, tuner, budget, seed
index, replay seed) (see `kt_twostage.replay.search`), so the results do
not depend on how the searches are split between processes, nor on their
order. Speed comes from how the oracles are driven, never from a changed
algorithm:

- processes in parallel, over chunks of (budget, tuner, seed indices);
- one BLAS thread per search (`one_blas_thread`);
- the oracles' project files in memory (`/dev/shm`) where there is one;
- no printing.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import multiprocessing
import os
import tempfile
import time

from kt_twostage.replay.lookup import CurveLookup
from kt_twostage.replay.search import Search, replay_search
from kt_twostage.replay.settings import (
    ReplaySettings,
    plan_budgets,
    reference_budget,
    search_space,
)
from kt_twostage.replay.tuners import check_tuner_names
from kt_twostage.tabular.table import LearningCurves

_MEMORY_FOLDER = "/dev/shm"
# Searches per task: small enough that the processes finish together, large
# enough that handing out tasks costs nothing.
_MAX_CHUNK = 20
_TASKS_PER_WORKER = 4
_LOG_EVERY_SECONDS = 15.0
# Set in each worker process by `_init_worker`.
_WORKER_STATE = {}


@dataclasses.dataclass(frozen=True)
class ReplayRun:
    """The searches of a replay and what they were run with.

    Attributes:
        curves: The `LearningCurves`.
        settings: The `ReplaySettings`.
        tuners: Tuple of tuner names, in the order asked.
        budgets: Tuple of `(multiple, epochs)`, in the order asked.
        seeds: Integer, searches per tuner and budget.
        replay_seed: Integer.
        results: Tuple of `SearchResult`, sorted by budget (as asked), tuner
            (as asked) and seed index.
        workers: Integer, processes used.
        seconds: Float, wall time of all the searches.
    """

    curves: LearningCurves
    settings: ReplaySettings
    tuners: tuple
    budgets: tuple
    seeds: int
    replay_seed: int
    results: tuple
    workers: int
    seconds: float

    @property
    def reference_budget(self) -> int:
        return reference_budget(self.settings, search_space(self.curves, self.settings))


def run_replay(
    curves: LearningCurves,
    settings: ReplaySettings,
    *,
    tuners,
    budgets,
    seeds=200,
    replay_seed=0,
    workers=None,
    log=None,
) -> ReplayRun:
    """Replay every tuner `seeds` times at every budget.

    Args:
        curves: The table (`read_table`).
        settings: The `ReplaySettings` (`resolve_settings`).
        tuners: Names in `TUNERS`.
        budgets: Budget multiples of B (e.g. `(0.25, 0.5, 1, 2)`).
        seeds: Integer, searches per tuner and budget (seed indices
            `0..seeds-1`).
        replay_seed: Non-negative integer; the same seed gives the same
            results.
        workers: Integer, processes. Defaults to `None`: `os.cpu_count()`.
            `1` runs in this process.
        log: Optional function called with progress lines.
    """
    tuners = check_tuner_names(tuners)
    planned = plan_budgets(budgets, curves, settings)
    seeds = _check_count("seeds", seeds, 1)
    replay_seed = _check_count("replay_seed", replay_seed, 0)
    if workers is None:
        workers = os.cpu_count() or 1
    workers = _check_count("workers", workers, 1)
    tasks = _plan_tasks(tuners, planned, seeds, workers)
    start = time.perf_counter()
    progress = _Progress(seeds * len(tuners) * len(planned), log)
    context = (curves, settings, replay_seed)
    if workers == 1:
        results = _run_here(tasks, context, progress)
    else:
        results = _run_in_processes(tasks, context, workers, progress)
    order = {name: i for i, name in enumerate(tuners)}
    budget_order = {multiple: i for i, (multiple, _) in enumerate(planned)}
    results.sort(
        key=lambda r: (
            budget_order[r.search.budget_multiple],
            order[r.search.tuner],
            r.search.seed_index,
        )
    )
    return ReplayRun(
        curves=curves,
        settings=settings,
        tuners=tuners,
        budgets=planned,
        seeds=seeds,
        replay_seed=replay_seed,
        results=tuple(results),
        workers=workers,
        seconds=time.perf_counter() - start,
    )


def _check_count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer of at least {minimum}, got {value!r}."
        )
    return value


def _plan_tasks(tuners, budgets, seeds, workers):
    """Chunks of searches, the largest budgets first (they take longest)."""
    total = seeds * len(tuners) * len(budgets)
    chunk = max(1, min(_MAX_CHUNK, math.ceil(total / (workers * _TASKS_PER_WORKER))))
    chunk = min(chunk, seeds)
    tasks = []
    for multiple, epochs in sorted(budgets, key=lambda b: -b[1]):
        for tuner in tuners:
            for first in range(0, seeds, chunk):
                tasks.append(
                    tuple(
                        Search(tuner, multiple, epochs, index)
                        for index in range(first, min(first + chunk, seeds))
                    )
                )
    return tasks


def _run_here(tasks, context, progress):
    _init_worker(*context)
    results = []
    for task in tasks:
        done = _run_task(task)
        results += done
        progress.add(len(done))
    return results


def _run_in_processes(tasks, context, workers, progress):
    methods = multiprocessing.get_all_start_methods()
    # fork shares the already imported Keras Tuner; spawn would import it
    # (and TensorFlow) again in every process.
    method = "fork" if "fork" in methods else None
    results = []
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=context,
    ) as pool:
        futures = [pool.submit(_run_task, task) for task in tasks]
        for future in concurrent.futures.as_completed(futures):
            done = future.result()
            results += done
            progress.add(len(done))
    return results


def _init_worker(curves, settings, replay_seed):
    _WORKER_STATE.update(
        lookup=CurveLookup(curves),
        space=search_space(curves, settings),
        settings=settings,
        replay_seed=replay_seed,
        directory=_project_folder(),
    )


def _run_task(searches):
    state = _WORKER_STATE
    return [
        replay_search(
            state["lookup"],
            state["space"],
            state["settings"],
            search,
            replay_seed=state["replay_seed"],
            directory=state["directory"],
        )
        for search in searches
    ]


def _project_folder():
    """`/dev/shm` (memory) if writable, else the system's temporary folder."""
    if os.path.isdir(_MEMORY_FOLDER) and os.access(_MEMORY_FOLDER, os.W_OK):
        return _MEMORY_FOLDER
    return tempfile.gettempdir()


class _Progress:
    """Calls `log` with searches done, elapsed time and an estimate of the
    rest, at most every `_LOG_EVERY_SECONDS`."""

    def __init__(self, total, log):
        self.total, self.log, self.done = total, log, 0
        self.start = self.last = time.perf_counter()

    def add(self, count):
        self.done += count
        now = time.perf_counter()
        if self.log is None:
            return
        if now - self.last < _LOG_EVERY_SECONDS and self.done < self.total:
            return
        self.last = now
        elapsed = now - self.start
        left = elapsed / self.done * (self.total - self.done)
        self.log(
            f"{self.done}/{self.total} searches, {elapsed:.0f} s, about "
            f"{left:.0f} s left"
        )
