"""What keeps a trial cheap: frozen long-lived objects, no per-batch hook."""

import gc

import keras_tuner
import pytest
import tiny_model

from kt_twostage import TwoStageTuner
from kt_twostage._gc import long_lived_objects_frozen as _long_lived_objects_frozen


def test_objects_are_frozen_during_the_block_only():
    assert gc.get_freeze_count() == 0
    with _long_lived_objects_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_process_that_froze_objects_itself_is_left_alone():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with _long_lived_objects_frozen():
            pass
        # Neither unfrozen (0) nor frozen again (more). Frozen objects that
        # another thread frees meanwhile (a test worker's background threads)
        # leave the count, so it may drop a little.
        assert 0.99 * frozen < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()


def build_model(hp):
    return tiny_model.build_model(
        hp, widths=(2,), units_hp="units", learning_rate_hp="learning_rate"
    )


class Spy(TwoStageTuner):
    """Records what each `fit` of a trial is given."""

    def _build_and_fit_model(self, trial, *args, **kwargs):
        names = [type(callback).__name__ for callback in kwargs["callbacks"]]
        self.seen = [*getattr(self, "seen", []), (gc.get_freeze_count() > 0, names)]
        return super()._build_and_fit_model(trial, *args, **kwargs)


class HookedSpy(Spy):
    def on_epoch_end(self, trial, model, epoch, logs=None):
        super().on_epoch_end(trial, model, epoch, logs=logs)


def run_search(tuner_class, directory, hypermodel=build_model):
    x, y = tiny_model.tiny_data(samples=32, label_features=1)
    tuner = tuner_class(
        hypermodel,
        stage2_trials=1,
        stage2_epochs=1,
        directory=str(directory),
        project_name="speed",
    )
    tuner.search(x, y, validation_split=0.25, verbose=0)
    return tuner


def test_search_freezes_and_skips_the_per_batch_hook(tmp_path):
    tuner = run_search(Spy, tmp_path)
    assert not tuner._uses_tuner_hooks()
    assert len(tuner.seen) == 2
    for frozen, names in tuner.seen:
        assert frozen
        # StopAtInterrupt: Ctrl-C stops the trial at the end of a batch.
        assert names == ["SaveBestWeights", "StopAtInterrupt"]
    assert gc.get_freeze_count() == 0


def test_a_subclass_with_hooks_gets_them_called(tmp_path):
    tuner = run_search(HookedSpy, tmp_path)
    assert tuner._uses_tuner_hooks()
    for _, names in tuner.seen:
        assert names == ["TunerCallback", "SaveBestWeights", "StopAtInterrupt"]


def test_search_unfreezes_after_an_error(tmp_path):
    def broken(hp):
        model = build_model(hp)
        if "tuner/stage" in hp.values:  # a trial, not the initial declaration
            raise keras_tuner.errors.FatalError("stop")
        return model

    with pytest.raises(keras_tuner.errors.FatalError):
        run_search(TwoStageTuner, tmp_path, hypermodel=broken)
    assert gc.get_freeze_count() == 0
