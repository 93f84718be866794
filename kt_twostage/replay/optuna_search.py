"""Optuna's TPE, with or without its Hyperband pruner, driven against a table.

`OptunaSearch.run_trials` runs one study by ask and tell, as a user's loop
around `study.ask()` runs it, and answers each trial from the table:

- **Space.** `units` by `suggest_categorical` over the table's units, the
  learning rate by `suggest_float(log=True)` over the table's range (the
  `SearchSpace`). Optuna's distributions have no default value, and TPE's
  first trials are random, so the stage-1 rate plays no part.
- **Trials.** A trial draws one of the table's seeds (from the search's own
  stream) and trains epoch by epoch up to `stage2_epochs`: after each epoch
  it reports that epoch's `val_accuracy` (`trial.report`) and asks
  `trial.should_prune()`. A pruned trial is told `PRUNED`, a finished one
  `COMPLETE` with its best `val_accuracy` (Keras Tuner's objective
  semantics). A trial is charged the epochs it trained.
- **Budget.** A trial starts only while a whole `stage2_epochs` trial still
  fits in the budget; the first that does not ends the search.
- **Outcome.** The chosen trial is `study.best_trial` (the best complete
  trial); if every trial was pruned, the one with the best reported score.
  The outcome is its `test_accuracy` at its best-validation epoch.
- **Quiet and repeatable.** Optuna's per-trial log lines are silenced; the
  study's name (which seeds Hyperband's bracket of each trial) comes from
  the search's seed, and the sampler gets that seed.
"""

from __future__ import annotations

import warnings

from kt_twostage.replay.search import ENDED_BY_BUDGET, TrialLog
from kt_twostage.replay.settings import (
    LEARNING_RATE_HP,
    OBJECTIVE,
    TEST_METRIC,
    UNITS_HP,
)

PRUNERS = ("none", "hyperband")
HYPERBAND_REDUCTION_FACTOR = 3


def _optuna():
    try:
        import optuna
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "The Optuna tuners need optuna: `pip install 'kt-twostage[compare]'`."
        ) from error
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class OptunaSearch:
    """One Optuna study of a replay (see the module's docstring).

    Args:
        space: The `SearchSpace`.
        seed: Integer, the `TPESampler` seed.
        pruner: `"none"` (Optuna's `NopPruner`) or `"hyperband"`
            (`HyperbandPruner(min_resource=1, max_resource=max_resource,
            reduction_factor=3)`).
        max_resource: Integer, the Hyperband pruner's `max_resource`: the
            epochs of a whole trial. Only with `pruner="hyperband"`.
    """

    def __init__(self, space, seed, pruner="none", max_resource=None):
        if pruner not in PRUNERS:
            raise ValueError(
                f"Received an invalid value for argument `pruner`, expected one "
                f"of {PRUNERS}, got {pruner!r}."
            )
        if pruner == "hyperband" and not (
            isinstance(max_resource, int) and max_resource >= 1
        ):
            raise ValueError(
                "Received an invalid value for argument `max_resource`, expected "
                f"a positive integer with the Hyperband pruner, got {max_resource!r}."
            )
        self.space = space
        self.seed = int(seed)
        self.pruner = pruner
        self.max_resource = max_resource

    def make_study(self):
        """The Optuna study, in memory."""
        optuna = _optuna()
        with warnings.catch_warnings():
            # `multivariate` is marked experimental.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(multivariate=True, seed=self.seed)
        if self.pruner == "hyperband":
            pruner = optuna.pruners.HyperbandPruner(
                min_resource=1,
                max_resource=self.max_resource,
                reduction_factor=HYPERBAND_REDUCTION_FACTOR,
            )
        else:
            pruner = optuna.pruners.NopPruner()
        return optuna.create_study(
            study_name=f"replay-{self.seed}",
            direction="maximize",
            sampler=sampler,
            pruner=pruner,
        )

    def run_trials(self, lookup, settings, budget, rng):
        """Trials until a whole trial no longer fits in `budget` epochs.

        Returns `({trial_id: TrialLog}, chosen trial_id, incumbents,
        ended_by)`, as the Keras Tuner driver does.
        """
        optuna = _optuna()
        study = self.make_study()
        epochs = settings.stage2_epochs
        trials, incumbents, used, best_pruned = {}, [], 0, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            while used + epochs <= budget:
                trial = study.ask()
                units = trial.suggest_categorical(UNITS_HP, list(self.space.units))
                learning_rate = trial.suggest_float(
                    LEARNING_RATE_HP,
                    self.space.min_learning_rate,
                    self.space.max_learning_rate,
                    log=True,
                )
                seed_index = int(rng.integers(lookup.num_seeds))
                val = lookup.curve(OBJECTIVE, units, learning_rate, seed_index)
                test = lookup.curve(TEST_METRIC, units, learning_rate, seed_index)
                last, pruned = self._train(trial, val, epochs)
                best = 1 + int(val[:last].argmax())
                log = TrialLog(
                    trial_id=str(trial.number),
                    units=units,
                    learning_rate=float(learning_rate),
                    table_seed_index=seed_index,
                    parent_id=None,
                    first_epoch=1,
                    last_epoch=last,
                    best_epoch=best,
                    val_accuracy=float(val[best - 1]),
                    test_accuracy=float(test[best - 1]),
                )
                trials[log.trial_id] = log
                used += last
                if pruned:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    if best_pruned is None or log.val_accuracy > (
                        trials[best_pruned].val_accuracy
                    ):
                        best_pruned = log.trial_id
                else:
                    study.tell(trial, log.val_accuracy)
                chosen = _chosen(study, best_pruned)
                incumbents.append((used, trials[chosen].test_accuracy))
        if not trials:
            raise RuntimeError(
                f"No {epochs}-epoch trial fits in a budget of {budget} epochs."
            )
        return trials, _chosen(study, best_pruned), incumbents, ENDED_BY_BUDGET

    @staticmethod
    def _train(trial, val, epochs):
        """`(last epoch trained, pruned)`: report each epoch, ask the pruner."""
        for epoch in range(1, epochs + 1):
            trial.report(float(val[epoch - 1]), epoch)
            if trial.should_prune():
                return epoch, True
        return epochs, False


def _chosen(study, best_pruned) -> str:
    """`study.best_trial`'s id, or the best pruned trial's if none completed."""
    completed = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not completed:
        return best_pruned
    return str(study.best_trial.number)
