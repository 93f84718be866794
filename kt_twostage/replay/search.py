"""One search of one tuner against a learning-curve table.

`replay_search` drives a real Keras Tuner oracle by hand, as a Tuner does
(`update_space`, `create_trial`, `update_trial`, `end_trial`), and answers
each trial from the table instead of training:

- **Budget.** A trial starts only if its epochs still fit in the budget:
  `tuner/epochs - tuner/initial_epoch` when the oracle sets them (Hyperband,
  the two-stage stages), else `stage2_epochs` (RandomSearch,
  BayesianOptimization). The first trial that does not fit ends the search
  (it is not run); so does the oracle saying STOPPED. A trial that early
  stopping ends (the two-stage rule's patience, or `SEARCH_PATIENCE` for a
  tuner run with Keras' `EarlyStopping`) is charged the epochs it trained.
- **Optuna.** A tuner whose factory returns an `OptunaSearch` is driven by
  ask and tell instead (`kt_twostage.replay.optuna_search`), under the same
  budget, lookup and scoring rules.
- **Lookup.** A new trial draws one of the table's seeds from the search's
  own random stream and gets that seed's curves, interpolated in
  log(learning rate) between recorded rates (`CurveLookup`). A continued
  trial (Hyperband's `tuner/trial_id` names its parent) continues its
  parent's curve, same seed, scoring epochs `initial_epoch + 1 ..
  tuner/epochs`.
- **Scoring.** A trial reports the best `val_accuracy` of the epochs it
  trained (Keras Tuner's objective semantics). The outcome is the
  `test_accuracy` at the best epoch of the trial the oracle ranks first
  (`get_best_trials(1)`).
- **Seeds.** Every (tuner, seed index) has its own stream,
  `numpy.random.SeedSequence([replay_seed, stable_hash(tuner), seed_index])`,
  the same at every budget; it gives the oracle seed and the table-seed
  draws. No two tuners share a stream.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import shutil
import tempfile
import time
import warnings

import numpy as np
from keras_tuner.engine import trial as trial_module

from kt_twostage.replay.lookup import CurveLookup
from kt_twostage.replay.settings import (
    LEARNING_RATE_HP,
    OBJECTIVE,
    UNITS_HP,
    ReplaySettings,
    SearchSpace,
)
from kt_twostage.replay.tuners import SEARCH_PATIENCE, TUNERS
from kt_twostage.schedule.config import PATIENCE_KEY

RUNNING = trial_module.TrialStatus.RUNNING
STOPPED = trial_module.TrialStatus.STOPPED
COMPLETED = trial_module.TrialStatus.COMPLETED
# Why a search ended.
ENDED_BY_BUDGET = "budget"
ENDED_BY_ORACLE = "oracle"
# Keras Tuner samples the k-th value of a search with `random.Random(seed +
# k)` and treats seed 0 as "draw one": oracle seeds are drawn in
# [_LOWEST_ORACLE_SEED, _HIGHEST_ORACLE_SEED), far from 0 and below 2**32
# (BayesianOptimization seeds numpy's RandomState with it).
_LOWEST_ORACLE_SEED = 2**20
_HIGHEST_ORACLE_SEED = 2**32 - 2**20


@dataclasses.dataclass(frozen=True)
class Search:
    """Which search to run: a tuner, a budget and a seed index.

    Attributes:
        tuner: String, a name in `TUNERS`.
        budget_multiple: Float, the budget as a multiple of B.
        budget_epochs: Integer, the budget in epochs.
        seed_index: Integer, which of the tuner's searches (0, 1, ...); the
            searches of one seed index are paired across tuners.
    """

    tuner: str
    budget_multiple: float
    budget_epochs: int
    seed_index: int


@dataclasses.dataclass(frozen=True)
class TrialLog:
    """One trial of a replayed search (`Trained` fields, plus where from)."""

    trial_id: str
    units: object
    learning_rate: float
    table_seed_index: int
    parent_id: str | None
    first_epoch: int
    last_epoch: int
    best_epoch: int
    val_accuracy: float
    test_accuracy: float


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """What one replayed search did and found.

    Attributes:
        search: The `Search`.
        oracle_seed: Integer, the seed given to the oracle.
        test_accuracy: Float, the outcome: `test_accuracy` at the chosen
            trial's best epoch.
        val_accuracy: Float, the chosen trial's score.
        units, learning_rate, best_epoch: The chosen trial's.
        chosen_trial_id: String.
        epochs_used: Integer, epochs trained by the trials that ran.
        trials: Tuple of `TrialLog`, in the order they ran.
        ended_by: `"budget"` (the next trial did not fit) or `"oracle"` (it
            said STOPPED).
        incumbents: Tuple of `(epochs_used, test_accuracy)` after each trial:
            the outcome had the search stopped there.
        seconds: Float, wall time of the search.
    """

    search: Search
    oracle_seed: int
    test_accuracy: float
    val_accuracy: float
    units: object
    learning_rate: float
    best_epoch: int
    chosen_trial_id: str
    epochs_used: int
    trials: tuple
    ended_by: str
    incumbents: tuple
    seconds: float


def stable_hash(name: str) -> int:
    """A 64-bit hash of `name`, the same in every process and release
    (Python's `hash` of a string changes per process)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def search_streams(replay_seed, tuner, seed_index) -> tuple[int, np.random.Generator]:
    """`(oracle_seed, table_seed_rng)` of one (tuner, seed index).

    Independent of the budget, so a tuner's searches at two budgets start
    alike where their settings agree.
    """
    sequence = np.random.SeedSequence(
        [int(replay_seed), stable_hash(tuner), seed_index]
    )
    oracle_child, table_child = sequence.spawn(2)
    span = _HIGHEST_ORACLE_SEED - _LOWEST_ORACLE_SEED
    draw = int(oracle_child.generate_state(1, dtype=np.uint64)[0])
    oracle_seed = _LOWEST_ORACLE_SEED + draw % span
    return oracle_seed, np.random.default_rng(table_child)


def one_blas_thread():
    """A context in which numpy's BLAS (and OpenMP) use one thread.

    BayesianOptimization's Gaussian process works on a few dozen points,
    where BLAS threads cost far more than they save (measured: 2.4 s instead
    of 13.9 s for one 1x search on 2 busy cores). One thread also keeps the
    floating-point results the same however many processes run searches.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn installs it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def trial_span(values, settings: ReplaySettings) -> tuple[int, int]:
    """`(initial_epoch, last_epoch)` of a trial from its values."""
    last = values.get("tuner/epochs", settings.stage2_epochs)
    initial = values.get("tuner/initial_epoch", 0)
    return int(initial), int(last)


def replay_search(
    lookup: CurveLookup,
    space: SearchSpace,
    settings: ReplaySettings,
    search: Search,
    replay_seed=0,
    directory=None,
) -> SearchResult:
    """Run one search against the table.

    Args:
        lookup: The table's `CurveLookup`.
        space: The `SearchSpace`.
        settings: The `ReplaySettings`.
        search: The `Search` to run.
        replay_seed: Integer, the seed of the whole replay.
        directory: Where the oracle's project files go (a fresh folder is
            made inside and removed after). Defaults to `None`: the system's
            temporary folder.
    """
    start = time.perf_counter()
    oracle_seed, rng = search_streams(replay_seed, search.tuner, search.seed_index)
    oracle = TUNERS[search.tuner](space, search.budget_epochs, oracle_seed, settings)
    if hasattr(oracle, "run_trials"):
        # Not a Keras Tuner oracle: an `OptunaSearch`.
        trials, chosen_id, incumbents, ended_by = oracle.run_trials(
            lookup, settings, search.budget_epochs, rng
        )
        return _result(
            search, oracle_seed, trials, chosen_id, incumbents, ended_by, start
        )
    patience = SEARCH_PATIENCE.get(search.tuner)
    # As `Tuner.search(verbose=0)`: the oracle prints nothing.
    oracle.verbose = 0
    project_root = tempfile.mkdtemp(prefix="kt-replay-", dir=directory)
    try:
        oracle._set_project_dir(project_root, "project")
        oracle.update_space(space.hyperparameters())
        with warnings.catch_warnings(), one_blas_thread():
            # scikit-learn warns when its Gaussian process's length scale
            # hits a bound: a message per fit, not an error.
            warnings.simplefilter("ignore", UserWarning)
            trials, incumbents, ended_by = _run_trials(
                oracle, lookup, settings, search.budget_epochs, rng, patience
            )
        chosen_id = oracle.get_best_trials(1)[0].trial_id
    finally:
        shutil.rmtree(project_root, ignore_errors=True)
    return _result(search, oracle_seed, trials, chosen_id, incumbents, ended_by, start)


def _result(search, oracle_seed, trials, chosen_id, incumbents, ended_by, start):
    """The `SearchResult` of a search's `{trial_id: TrialLog}`."""
    chosen = trials[chosen_id]
    return SearchResult(
        search=search,
        oracle_seed=oracle_seed,
        test_accuracy=chosen.test_accuracy,
        val_accuracy=chosen.val_accuracy,
        units=chosen.units,
        learning_rate=chosen.learning_rate,
        best_epoch=chosen.best_epoch,
        chosen_trial_id=chosen.trial_id,
        epochs_used=sum(t.last_epoch - t.first_epoch + 1 for t in trials.values()),
        trials=tuple(trials.values()),
        ended_by=ended_by,
        incumbents=tuple(incumbents),
        seconds=time.perf_counter() - start,
    )


def _run_trials(oracle, lookup, settings, budget, rng, patience=None):
    """Trials until the budget or the oracle ends the search.

    `patience`: Keras' `EarlyStopping` patience of every trial, where the
    oracle sets none itself.

    Returns `({trial_id: TrialLog}, incumbents, ended_by)`.
    """
    trials, incumbents, used = {}, [], 0
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status == STOPPED:
            ended_by = ENDED_BY_ORACLE
            break
        if trial.status != RUNNING:
            # One trial at a time: nothing runs that the oracle could wait for.
            raise RuntimeError(
                f"The oracle {type(oracle).__name__} answered {trial.status} "
                "with no trial running; a replay runs one trial at a time."
            )
        initial, last = trial_span(trial.hyperparameters.values, settings)
        if used + last - initial > budget:
            ended_by = ENDED_BY_BUDGET
            break
        log = _look_up(trial, trials, lookup, rng, initial, last, patience)
        # As Keras Tuner reports a History: the best epoch's index in the fit.
        step = log.best_epoch - log.first_epoch
        oracle.update_trial(trial.trial_id, {OBJECTIVE: log.val_accuracy}, step=step)
        trial.status = COMPLETED
        oracle.end_trial(trial)
        trials[log.trial_id] = log
        # Early stopping may end a trial before its last epoch.
        used += log.last_epoch - initial
        best_id = oracle.get_best_trials(1)[0].trial_id
        incumbents.append((used, trials[best_id].test_accuracy))
    if not trials:
        raise RuntimeError(
            f"The oracle {type(oracle).__name__} ran no trial within a budget of "
            f"{budget} epochs."
        )
    return trials, incumbents, ended_by


def _look_up(trial, trials, lookup, rng, initial, last, patience) -> TrialLog:
    values = trial.hyperparameters.values
    parent_id = values.get("tuner/trial_id")
    if parent_id is None:
        table_seed_index = int(rng.integers(lookup.num_seeds))
    else:
        # Continued from the parent's checkpoint: the same training run.
        table_seed_index = trials[parent_id].table_seed_index
    units = values[UNITS_HP]
    learning_rate = float(values[LEARNING_RATE_HP])
    trained = lookup.train(
        units,
        learning_rate,
        table_seed_index,
        initial + 1,
        last,
        patience=values.get(PATIENCE_KEY, patience),
    )
    return TrialLog(
        trial_id=trial.trial_id,
        units=units,
        learning_rate=learning_rate,
        table_seed_index=table_seed_index,
        parent_id=parent_id,
        **dataclasses.asdict(trained),
    )
