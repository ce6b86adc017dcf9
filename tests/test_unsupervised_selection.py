"""The label-free selection score and the callback that keeps the best-scoring weights."""

import json

import keras
import numpy as np
import pytest

from kerasda import runner
from kerasda.callbacks import UnsupervisedModelSelection
from kerasda.evaluation.unsupervised_selection import information_maximization, softmax


def test_confident_balanced_predictions_score_log_k():
    scores = information_maximization(np.eye(10)[np.arange(50) % 10])
    assert scores["information_maximization"] == pytest.approx(np.log(10))
    assert scores["conditional_entropy"] == pytest.approx(0.0, abs=1e-9)


def test_collapse_and_uncertainty_each_score_lower():
    balanced = information_maximization(np.eye(10)[np.arange(50) % 10])["information_maximization"]
    collapsed = information_maximization(np.eye(10)[np.zeros(50, int)])  # every image called "0"
    uniform = information_maximization(np.full((50, 10), 0.1))  # no confidence at all
    assert collapsed["marginal_entropy"] == pytest.approx(0.0, abs=1e-9)
    assert uniform["information_maximization"] == pytest.approx(0.0, abs=1e-9)
    assert collapsed["information_maximization"] < balanced
    assert uniform["information_maximization"] < balanced


def test_softmax_rows_sum_to_one_and_refuses_empty_input():
    probabilities = softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0)
    np.testing.assert_allclose(probabilities[1], [0.5, 0.5])
    with pytest.raises(ValueError, match="N > 0"):
        information_maximization(np.zeros((0, 10)))


def _model(bias):
    """images -> 2 logits; the bias decides how balanced and confident the predictions are."""
    inputs = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(2, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(bias))(flat)
    return keras.Model(inputs, logits)


def test_callback_keeps_the_best_scoring_weights_across_a_resume(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (8, 4, 4, 1), dtype=np.uint8)
    run = runner.Run(runner.RunConfig("selection", output_dir=str(tmp_path)))
    model = _model([0.0, 0.0])  # uniform predictions: score 0
    selection = UnsupervisedModelSelection(run, model, images, model)
    selection.on_train_begin()
    # Confident and balanced: half the images -> class 0, half -> class 1 (score log 2).
    dense = model.layers[-1]
    kernel = np.zeros((16, 2), np.float32)
    kernel[0] = [20.0, -20.0]
    dense.set_weights([kernel, np.zeros(2, np.float32)])
    balanced_images = images.copy()
    balanced_images[:4, 0, 0, 0], balanced_images[4:, 0, 0, 0] = 255, 0
    selection.images = balanced_images
    selection.on_evaluate(10)
    kept = dense.get_weights()
    # Confident but collapsed (every image -> class 0): worse, not kept.
    dense.set_weights([np.zeros((16, 2), np.float32), np.array([20.0, -20.0], np.float32)])
    selection.on_evaluate(20)

    record = json.loads((tmp_path / "selection" / "selection.json").read_text())
    assert record["step"] == 10 and record["score"] == pytest.approx(np.log(2), rel=1e-3)
    assert [p.name for p in (tmp_path / "selection").glob("*.weights.h5")] == ["best-step10.weights.h5"]
    # A new process (a resume) reads the record and restores the kept weights.
    resumed = UnsupervisedModelSelection(run, model, balanced_images, model)
    resumed.on_train_begin()  # not a fresh run: no step-0 candidate is added
    assert resumed.restore_best()["step"] == 10
    for restored, expected in zip(dense.get_weights(), kept):
        np.testing.assert_array_equal(restored, expected)
    scored_steps = [r["step"] for r in run.read_history() if "selection/information_maximization" in r]
    assert scored_steps == [0, 10, 20]
