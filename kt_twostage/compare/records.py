"""What one finished run records: a row per trial, and its best-so-far score.

Reads the trials of a recording tuner (see `kt_twostage.compare.tuners`) in
the order they ended.
"""

from __future__ import annotations

from keras_tuner.engine import trial as trial_module

from kt_twostage.compare import baselines
from kt_twostage.schedule import LEARNING_RATE_STAGE, STAGE_KEY, TrialRecord, ranking


def collect_run(tuner, name, seed, plan) -> dict:
    """The run dict of a finished search: its trials, one row each.

    Each row carries the epochs the trial trained, its timing, the epochs
    trained so far (`cumulative_epochs`) and the score of the trial the
    tuner would return if stopped there (`best_so_far`).
    """
    oracle = tuner.oracle
    rows = []
    cumulative = 0
    for trial_id in [t for t in oracle.end_order if t in tuner.trial_log]:
        trial = oracle.trials[trial_id]
        log = tuner.trial_log[trial_id]
        values = trial.hyperparameters.values
        cumulative += log["epochs"]
        completed = trial.status == trial_module.TrialStatus.COMPLETED
        rows.append(
            {
                "tuner": name,
                "seed": seed,
                "trial_id": trial_id,
                "status": trial.status,
                "stage": values.get(STAGE_KEY),
                "units": values.get(plan.units_hp),
                "learning_rate": values.get(plan.learning_rate_hp),
                "epochs": log["epochs"],
                "score": trial.score if completed else None,
                "seconds": log["seconds"],
                "start_seconds": log["start"],
                "end_seconds": log["end"],
                "cumulative_epochs": cumulative,
            }
        )
    for index, row in enumerate(rows):
        row["best_so_far"] = incumbent_score(rows[: index + 1], name, plan.direction)
    return {
        "tuner": name,
        "seed": seed,
        "trials": len(rows),
        "epochs": cumulative,
        "trial_rows": rows,
    }


def incumbent_score(rows, name, direction):
    """Score of the trial the tuner would return if stopped after `rows`.

    For the two-stage tuner, the trial the schedule's ranking chooses (what
    `TwoStageOracle.get_best_trials` returns: the best stage-2 trial on the
    path once there is one); for the others, the best scored trial.
    """
    two_stage = baselines.is_two_stage(name)
    records = [
        TrialRecord(
            stage=row["stage"] if two_stage else None,
            units=row.get("units"),
            learning_rate=row.get("learning_rate"),
            score=row["score"],
        )
        for row in rows
    ]
    # Comparison runs are sequential: every stage-2 trial is on the path.
    stage2 = sum(1 for record in records if record.stage == LEARNING_RATE_STAGE)
    chosen = ranking.chosen_index(records, max(1, stage2), direction)
    return None if chosen is None else rows[chosen]["score"]
