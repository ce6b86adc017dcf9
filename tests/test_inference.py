"""`kerasda.evaluation.inference.predict`: model.predict for models and plain functions."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda.data import pipeline
from kerasda.evaluation import inference, metrics


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 3))
    outputs = keras.layers.Dense(5)(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


def test_predict_of_a_model_equals_calling_it_on_every_row():
    model = _model()
    x = np.random.default_rng(0).uniform(-1, 1, (7, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(inference.predict(model, x, batch_size=3), model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_predict_of_a_function_with_dict_outputs_concatenates_each_output():
    calls = []

    def scores(images):
        calls.append(images.shape[0])
        total = tf.reduce_sum(images, axis=[1, 2, 3])
        return {"sum": total, "double": 2.0 * total}

    x = np.arange(5 * 2 * 2 * 1, dtype=np.float32).reshape(5, 2, 2, 1)
    out = inference.predict(scores, x, batch_size=2)
    np.testing.assert_allclose(out["sum"], x.sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(out["double"], 2 * x.sum(axis=(1, 2, 3)))
    assert inference.as_model(scores) is inference.as_model(scores)  # one wrapper (and trace) per function
    with pytest.raises(ValueError, match="at least one"):
        inference.predict(scores, x[:0])


def test_predict_logits_scales_uint8_batches_like_to_model_range():
    model = _model()
    x = np.random.default_rng(1).integers(0, 256, (9, 4, 4, 3), dtype=np.uint8)
    expected = model(pipeline.to_model_range(x, (0.0, 1.0))).numpy()
    logits = metrics.predict_logits(model, x, batch_size=4, value_range=(0.0, 1.0))
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(
        metrics.predict_classes(lambda images: model(images), x, 4, (0.0, 1.0)), expected.argmax(-1)
    )
