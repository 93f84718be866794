"""Epoch budgets, Hyperband bracket arithmetic, grids and oracle seeds.

Pure arithmetic, no TensorFlow: the numbers `kt_twostage.compare` gives each
tuner so that all of them train the same number of epochs.
"""

from __future__ import annotations

import math

# See `oracle_seed`: a search samples far fewer values than this.
ORACLE_SEED_SPACING = 10_000
# See `train_seed`: a search runs far fewer trials than this.
TRAIN_SEED_SPACING = 1000
_HYPERBAND_FACTORS = (2, 3, 4, 5, 6)
_MAX_HYPERBAND_ITERATIONS = 1000


def two_stage_budget(num_units, stage1_epochs, stage2_epochs, stage2_trials) -> int:
    """Epochs the two-stage schedule trains: the budget of every other tuner."""
    return num_units * stage1_epochs + stage2_trials * stage2_epochs


def reinvested_stage2_trials(budget, num_units, stage1_epochs, stage2_epochs) -> int:
    """`stage2_trials` of a two-stage variant that reinvests the epochs early
    stopping saves: the whole stage-2 trials that fit in what `budget` leaves
    after its stage 1, at least one."""
    return max(1, (budget - num_units * stage1_epochs) // stage2_epochs)


def random_search_trials(budget, stage2_epochs) -> int:
    """`max_trials` of RandomSearch and BayesianOptimization at `budget`.

    Trials of `stage2_epochs` epochs that fit in the budget, at least one.
    """
    return max(1, budget // stage2_epochs)


def bayesian_initial_points(max_trials) -> int:
    """BayesianOptimization's `num_initial_points` for `max_trials` trials.

    Keras Tuner's default for two hyperparameters (3 each), capped at half
    of the trials, so that the Gaussian process gets to choose some of them
    within the budget.
    """
    return max(1, min(3 * 2, max_trials // 2))


def hyperband_epochs(max_epochs, factor, iterations=1) -> tuple[int, int]:
    """Epochs and trials of `iterations` full Hyperband iterations.

    Follows keras_tuner's `HyperbandOracle` (1.4): bracket `b` (from the most
    aggressive down to 0) starts `size(b, 0)` random trials of
    `epochs(b, 0)` epochs; round `r` continues the best `size(b, r)` of them
    from epoch `epochs(b, r - 1)` to `epochs(b, r)`.
    """
    num_brackets = 0
    epochs = max_epochs
    while epochs >= 1:
        epochs /= factor
        num_brackets += 1
    end_size = math.ceil(1 + math.log(max_epochs, factor))

    def size(bracket, round_num):
        return math.ceil(end_size / (bracket + 1) * factor ** (bracket - round_num))

    def round_epochs(bracket, round_num):
        return math.ceil(max_epochs / factor ** (bracket - round_num))

    total_epochs = total_trials = 0
    for bracket in range(num_brackets):
        for round_num in range(bracket + 1):
            start = round_epochs(bracket, round_num - 1) if round_num else 0
            total_trials += size(bracket, round_num)
            total_epochs += size(bracket, round_num) * (
                round_epochs(bracket, round_num) - start
            )
    return total_epochs * iterations, total_trials * iterations


def plan_hyperband(budget, max_epochs, factors=_HYPERBAND_FACTORS) -> dict:
    """The Hyperband `factor` and `hyperband_iterations` closest to `budget`.

    Picks the smallest total at or above the budget (ties: factor 3, the
    keras_tuner default, then the smaller factor); the run is then stopped
    once its started trials reach the budget, so it never trains more than
    one trial beyond it and never stops short of it by a whole trial.
    """
    best = None
    for factor in factors:
        per_iteration, _ = hyperband_epochs(max_epochs, factor)
        iterations = max(1, math.ceil(budget / per_iteration))
        iterations = min(iterations, _MAX_HYPERBAND_ITERATIONS)
        total, trials = hyperband_epochs(max_epochs, factor, iterations)
        key = (total < budget, abs(total - budget), factor != 3, factor)
        if best is None or key < best[0]:
            best = (key, factor, iterations, total, trials)
    _, factor, iterations, total, trials = best
    return {
        "max_epochs": max_epochs,
        "factor": factor,
        "hyperband_iterations": iterations,
        "nominal_epochs": total,
        "nominal_trials": trials,
        "epoch_budget": budget,
    }


def log_grid(low, high, count) -> list[float]:
    """`count` log-spaced values from `low` to `high` (both included)."""
    if count < 1:
        raise ValueError(f"Expected at least one grid value, got {count}.")
    if count == 1:
        return [float(high)]
    ratio = math.log(high / low)
    return [
        float(f"{low * math.exp(ratio * i / (count - 1)):.6g}") for i in range(count)
    ]


def train_seed(seed):
    """Keras' global seed base of comparison seed `seed`.

    Every tuner seeds Keras with `train_seed(seed) + trial number` before each
    trial, so the runs of one seed start their trials alike.
    """
    return TRAIN_SEED_SPACING * seed


def oracle_seed(seed):
    """The keras_tuner oracle seed of comparison seed `seed`.

    keras_tuner's `Oracle` draws a random seed for `seed=0` (`seed or
    random.randint(...)`), and samples the k-th hyperparameter value of a
    search with `random.Random(seed + k)`: the searches of seeds 1 and 3
    would share all but their first values. Seeds far apart keep them
    independent (and repeatable).
    """
    return 1 + ORACLE_SEED_SPACING * seed
