"""The GPU fast path, checked without a GPU: cuDNN conditions, mixed precision,
and a smoke run of benchmarks/gpu_check.py."""

import importlib.util
import json
import pathlib

import keras
import keras_tuner
import numpy as np
import pytest

from kt_twostage import ImdbLstmHyperModel, TwoStageTuner

ROOT = pathlib.Path(__file__).resolve().parents[1]


def build(hypermodel, units=8):
    hp = keras_tuner.HyperParameters()
    hp.Fixed("units", units)
    return hypermodel.build(hp)


def test_lstm_meets_the_cudnn_conditions():
    # keras/src/layers/rnn/lstm.py (LSTM.inner_loop) and
    # keras/src/backend/tensorflow/rnn.py (cudnn_ok, _cudnn_lstm).
    model = build(ImdbLstmHyperModel(num_words=50))
    embedding, lstm, _ = model.layers
    assert lstm.use_cudnn in ("auto", True)
    assert lstm.activation is keras.activations.tanh
    assert lstm.recurrent_activation is keras.activations.sigmoid
    assert lstm.recurrent_dropout == 0
    assert lstm.unroll is False
    assert lstm.use_bias is True
    assert lstm.go_backwards is False
    # No mask at all (a mask would have to be right-padded; ours is left).
    assert embedding.mask_zero is False
    assert embedding.compute_mask(np.zeros((1, 3), "int32")) is None


def test_mixed_precision_keeps_the_output_in_float32():
    previous = keras.config.dtype_policy().name
    model = build(ImdbLstmHyperModel(num_words=50, mixed_precision=True))
    embedding, lstm, dense = model.layers
    assert lstm.compute_dtype == "float16"
    assert lstm.variable_dtype == "float32"
    assert dense.dtype_policy.name == "float32"
    assert dense.compute_dtype == "float32"
    output = model(np.zeros((2, 3), "int32"))
    assert keras.backend.standardize_dtype(output.dtype) == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    # The policy was set for the build only.
    assert keras.config.dtype_policy().name == previous


def test_default_precision_is_float32():
    model = build(ImdbLstmHyperModel(num_words=50))
    assert {layer.compute_dtype for layer in model.layers} == {"float32"}
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_mixed_precision_survives_keras_tuners_clear_session(tmp_path):
    """Keras Tuner clears the session (and a global policy) before each trial."""
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            layers = self.model.layers
            seen.append((layers[1].compute_dtype, layers[-1].compute_dtype))

    hp = keras_tuner.HyperParameters()
    hp.Choice("units", [4])
    tuner = TwoStageTuner(
        ImdbLstmHyperModel(num_words=30, mixed_precision=True),
        hyperparameters=hp,
        stage2_trials=1,
        stage2_epochs=1,
        directory=str(tmp_path),
    )
    rng = np.random.default_rng(0)
    x = rng.integers(0, 30, size=(16, 5)).astype("int32")
    y = rng.integers(0, 2, size=(16,)).astype("float32")
    tuner.search(x, y, validation_split=0.25, verbose=0, callbacks=[Record()])
    assert seen == [("float16", "float32")] * 2


def test_gpu_check_quick_runs_on_cpu(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "gpu_check", ROOT / "benchmarks" / "gpu_check.py"
    )
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    report = gpu_check.main(["--quick", "--output", str(tmp_path)])
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["quick"] is True
    assert [row["units"] for row in saved["rows"]] == [10, 100, 190]
    assert all(row["train_samples_per_s"] > 0 for row in saved["rows"])
    assert all(saved["cudnn_conditions"].values())
    projection = report["projection"]["float32"]
    assert set(projection["total_s_by_winner"]) == {"10", "100", "190"}
    assert "Projected reference schedule" in (tmp_path / "gpu_check.md").read_text()


@pytest.mark.parametrize("flag", [[], ["--mixed-precision"]])
def test_cli_mixed_precision_flag(flag):
    import argparse

    from kt_twostage.cli.search import register, settings_from_args

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    settings = settings_from_args(parser.parse_args(["search", *flag]))
    assert settings.mixed_precision is bool(flag)
