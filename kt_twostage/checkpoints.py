"""Best-epoch checkpoints: what they hold, and which ones can be deleted.

Keras Tuner writes the best epoch of every trial to
`trial_<id>/checkpoint.weights.h5` and never deletes one (keras-tuner #172,
#288, #481). `TwoStageTuner(keep_checkpoints=K)` deletes the checkpoints that
`get_best_models(num_models=K)` can never return again; the rule is
`checkpoints_to_delete`, pure and tested without TensorFlow.

Why the rule is safe: `get_best_trials` ranks the completed stage-2 trials
on the path first (by score, ties in step order), then the completed stage-1
trials, then every other trial. A completed trial's score never changes and
the trials of a search are only ever added to (a resume reruns only trials
that had not ended, and extending stage 2 adds trials), so a new trial can
push others down the ranking but never lifts one up, and a trial ranked ahead
of another stays ahead of it. A trial that has `K` completed trials ranked
ahead of it therefore stays out of the best `K` for the rest of the search.
The one trial that can rise is a completed speculative stage-2 trial whose
parent has not ended yet (role "pending", `stage2_parallelism > 1`): it waits
among the unranked trials and joins the ranked ones if it turns out to be on
the path. Such a trial is never deleted while it is pending.
"""

from __future__ import annotations

import dataclasses
import os

import keras
from keras.src.saving import saving_lib
from keras_tuner.src import backend as kt_backend
from keras_tuner.src.engine import trial as trial_module
from keras_tuner.src.engine import tuner_utils

from kt_twostage import _io
from kt_twostage._validation import check_positive_int
from kt_twostage.schedule.ranking import ROLE_PENDING


@dataclasses.dataclass(frozen=True)
class RankedTrial:
    """One trial as the retention rule sees it.

    Attributes:
        trial_id: String, the trial's id.
        completed: Bool, the trial completed with a score (it is ranked
            among the scored trials).
        ended: Bool, the trial ended for good: it is not running, not queued
            for a retry and will never train again.
        may_rise: Bool, the trial's place in the ranking is not final yet (a
            pending speculative trial): it is kept.
    """

    trial_id: str
    completed: bool
    ended: bool
    may_rise: bool = False


def check_keep_checkpoints(value):
    """`None` (keep every checkpoint) or a positive integer."""
    if value is None:
        return None
    return check_positive_int("keep_checkpoints", value)


def checkpoints_to_delete(ranked, keep):
    """Trial ids whose checkpoints can no longer be chosen.

    Args:
        ranked: Sequence of `RankedTrial`, every trial of the search in the
            order of `oracle.get_best_trials` (best first).
        keep: Positive integer, the number of best trials whose checkpoints
            are kept (`get_best_models(num_models=keep)` must keep working).

    Returns:
        List of trial ids, in ranking order: the trials that ended, cannot
        rise, and have at least `keep` completed trials ranked ahead of them.
        The best trial is never in it, nor a trial that is running or will
        run again.
    """
    keep = check_positive_int("keep", keep)
    doomed = []
    completed_ahead = 0
    for trial in ranked:
        if trial.ended and not trial.may_rise and completed_ahead >= keep:
            doomed.append(trial.trial_id)
        if trial.completed:
            completed_ahead += 1
    return doomed


def delete_file(path):
    """Delete `path`; return its size in bytes, or 0 if it was not there."""
    try:
        size = os.path.getsize(path)
        os.remove(path)
    except FileNotFoundError:
        # Already gone: deleted by an earlier pass or another process.
        return 0
    return size


def ranked_trials(oracle):
    """Every trial of a `TwoStageOracle` as a `RankedTrial`, best first."""
    ended = set(oracle.end_order) - oracle.unfinished_trial_ids()
    roles = oracle.trial_roles()
    return [
        RankedTrial(
            trial_id=trial.trial_id,
            completed=trial.status == trial_module.TrialStatus.COMPLETED,
            ended=trial.trial_id in ended,
            may_rise=roles.get(trial.trial_id) == ROLE_PENDING,
        )
        for trial in oracle.get_best_trials(len(oracle.trials))
    ]


def checkpoint_path(tuner, trial_id):
    """Where `tuner` keeps the best-epoch checkpoint of trial `trial_id`."""
    # The file name is Keras Tuner's (`_get_checkpoint_fname`, which also
    # creates the trial's folder if it is missing).
    return os.path.join(
        tuner.project_dir,
        f"trial_{trial_id}",
        os.path.basename(tuner._get_checkpoint_fname(trial_id)),
    )


def delete_unneeded(tuner):
    """Delete the checkpoints that `tuner.get_best_models` can no longer return.

    Does nothing without `keep_checkpoints`, or in a worker (the process that
    holds the oracle deletes).

    Returns:
        The ids of the trials whose checkpoint files were deleted.
    """
    if tuner.keep_checkpoints is None or tuner._is_worker():
        return []
    deleted = []
    for trial_id in checkpoints_to_delete(
        ranked_trials(tuner.oracle), tuner.keep_checkpoints
    ):
        if delete_file(checkpoint_path(tuner, trial_id)):
            deleted.append(trial_id)
    return deleted


def delete_when_trials_end(tuner):
    """Delete now, and after each trial the chief's oracle ends.

    The chief serves the oracle and runs no trial: it deletes the checkpoints
    when a worker's trial ends, in the server thread that ends it (Keras
    Tuner's server has one thread).
    """
    delete_unneeded(tuner)
    tuner.oracle.add_trial_end_callback(lambda trial: delete_unneeded(tuner))


def check_num_models(keep_checkpoints, num_models):
    """Refuse `get_best_models(num_models)` beyond the checkpoints kept."""
    if keep_checkpoints is None or num_models <= keep_checkpoints:
        return
    raise ValueError(
        f"Received num_models={num_models}, but this tuner keeps the "
        f"checkpoints of the best {keep_checkpoints} trials only "
        f"(`keep_checkpoints={keep_checkpoints}`): the others are "
        "deleted once they can no longer be among the best. Ask for at "
        f"most {keep_checkpoints} models, or use "
        f"`get_best_hyperparameters({num_models})` and train those "
        "models again. To keep every checkpoint, create the tuner with "
        "`keep_checkpoints=None` (the default) before searching."
    )


def check_checkpoint_exists(tuner, trial, error=None):
    """Raise a clear error if the checkpoint of `trial` is not on disk
    (`error`: the one loading it raised, kept as the cause)."""
    path = checkpoint_path(tuner, trial.trial_id)
    if os.path.exists(path):
        return
    raise FileNotFoundError(
        f"Cannot load the model of trial {trial.trial_id}: its checkpoint "
        f"{path} does not exist (status {trial.status}). With "
        "`keep_checkpoints=K`, only the best K trials keep theirs; a "
        "trial that failed before its first epoch ended has none. Use "
        "its hyperparameters (`trial.hyperparameters`) to train the "
        "model again."
    ) from error


class SaveBestWeights(tuner_utils.SaveBestEpoch):
    """Keras Tuner's `SaveBestEpoch`, without the optimizer's variables, atomic.

    `Tuner.load_model` builds a freshly compiled model, whose optimizer has
    no variables yet, and skips the optimizer's part of the checkpoint. So
    that part is never read, yet for RMSprop it is as large as the model
    (one slot per weight): writing only the model's weights halves the size
    and the write time of every checkpoint. A model whose class has its own
    `save_weights` is saved with it, as Keras Tuner does.

    The checkpoint is written to a temporary file beside it, which replaces
    it once complete: a kill or a full disk leaves the previous best epoch's
    checkpoint as it was; a full disk raises `kt_twostage._io.DiskFullError`.
    """

    def _save_model(self):
        if kt_backend.config.backend() == "tensorflow":
            # As `SaveBestEpoch`: non-chief workers of a multi-worker strategy
            # write to a temporary folder that is removed at once.
            strategy = self.model.distribute_strategy
            write_filepath = kt_backend.io.write_filepath(self.filepath, strategy)
            if write_filepath != self.filepath:
                self._write_weights(write_filepath)
                kt_backend.io.remove_temp_dir_with_filepath(write_filepath, strategy)
                return
        with _io.atomic_path(self.filepath, suffix=".weights.h5") as temporary:
            self._write_weights(temporary)

    def _write_weights(self, filepath):
        if type(self.model).save_weights is not keras.Model.save_weights:
            self.model.save_weights(filepath)
            return
        optimizer = getattr(self.model, "optimizer", None)
        skip = [optimizer] if optimizer is not None else None
        saving_lib.save_weights_only(self.model, filepath, objects_to_skip=skip)
