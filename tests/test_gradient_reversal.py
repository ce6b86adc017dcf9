"""GradientReversal: identity forward, gradient times -lambda backward, serialisable."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda.layers.gradient_reversal import (
    GradientReversal,
    find_gradient_reversal_layers,
)


def _input_gradient(layer, x, weights):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(weights * tf.square(layer(x)))
    return tape.gradient(loss, x).numpy()


def test_forward_pass_is_identity():
    x = np.random.default_rng(0).normal(size=(4, 7)).astype("float32")
    np.testing.assert_array_equal(GradientReversal(lambda_=0.7)(x).numpy(), x)


@pytest.mark.parametrize("lambda_", [0.25, 2.0])
def test_gradient_reversal_negates_and_scales_gradient(lambda_):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 5)).astype("float32")
    weights = rng.normal(size=(4, 5)).astype("float32")
    gradient = _input_gradient(GradientReversal(lambda_=lambda_), x, weights)
    # d/dx sum(w * x^2) = 2 w x, by hand; reversed and scaled by lambda.
    np.testing.assert_allclose(gradient, -lambda_ * 2.0 * weights * x, rtol=1e-6)
    # ... and against a numerical (central difference) derivative of the identity.
    eps = 1e-2
    numeric = (weights * ((x + eps) ** 2 - (x - eps) ** 2)) / (2 * eps)
    np.testing.assert_allclose(gradient, -lambda_ * numeric, rtol=1e-3, atol=1e-4)


def test_zero_lambda_blocks_the_gradient():
    x = np.ones((2, 3), np.float32)
    gradient = _input_gradient(GradientReversal(lambda_=0.0), x, np.ones_like(x))
    np.testing.assert_array_equal(gradient, np.zeros_like(x))


def test_set_lambda_takes_effect_inside_a_traced_function_without_retracing():
    layer = GradientReversal(lambda_=1.0)
    traces = []

    @tf.function
    def gradient(x):
        traces.append(1)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(layer(x))
        return tape.gradient(y, x)

    x = tf.ones((2, 2))
    np.testing.assert_allclose(gradient(x).numpy(), -1.0)
    layer.set_lambda(0.3)
    np.testing.assert_allclose(gradient(x).numpy(), -0.3, rtol=1e-6)
    assert len(traces) == 1


def test_only_layers_before_the_reversal_get_reversed_gradients():
    """Weights after the GRL learn normally; weights before it get the negated gradient."""
    inputs = keras.Input((3,))
    before = keras.layers.Dense(4, name="before")
    after = keras.layers.Dense(1, name="after")
    plain = keras.Model(inputs, after(before(inputs)))
    reversed_model = keras.Model(inputs, after(GradientReversal(lambda_=0.5)(before(inputs))))
    x = np.random.default_rng(2).normal(size=(8, 3)).astype("float32")

    def gradients(model):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x)))
        return dict(zip([v.path for v in model.trainable_variables], tape.gradient(loss, model.trainable_variables)))

    g_plain, g_reversed = gradients(plain), gradients(reversed_model)
    for path, value in g_plain.items():
        expected = -0.5 * value if path.startswith("before") else value
        np.testing.assert_allclose(g_reversed[path].numpy(), expected.numpy(), rtol=1e-5, atol=1e-7)


def test_lambda_is_a_non_trainable_weight():
    layer = GradientReversal(lambda_=0.4)
    assert layer.trainable_weights == []
    assert [w.name for w in layer.non_trainable_weights] == ["lambda"]
    assert float(layer.lambda_.numpy()) == pytest.approx(0.4)


def test_negative_lambda_is_rejected_with_its_value():
    with pytest.raises(ValueError, match="-1"):
        GradientReversal(lambda_=-1.0)
    with pytest.raises(ValueError, match="-0.5"):
        GradientReversal().set_lambda(-0.5)


def test_get_config_round_trip():
    layer = GradientReversal(lambda_=0.8, name="grl")
    clone = GradientReversal.from_config(layer.get_config())
    assert clone.name == "grl"
    assert float(clone.lambda_.numpy()) == pytest.approx(0.8)


def test_saved_model_with_gradient_reversal_reloads_with_current_lambda(tmp_path):
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1)(GradientReversal(lambda_=0.0, name="grl")(inputs))
    model = keras.Model(inputs, outputs)
    model.get_layer("grl").set_lambda(0.6)  # the schedule's value at save time
    path = tmp_path / "model.keras"
    model.save(path)

    loaded = keras.models.load_model(path)
    layer = loaded.get_layer("grl")
    assert isinstance(layer, GradientReversal)
    assert float(layer.lambda_.numpy()) == pytest.approx(0.6)
    x = np.random.default_rng(3).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(loaded(x))
    kernel = loaded.layers[-1].kernel.numpy()[:, 0]
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), -0.6 * np.tile(kernel, (5, 1)), rtol=1e-5)


def test_find_gradient_reversal_layers_searches_nested_models():
    inner_in = keras.Input((2,))
    inner = keras.Model(inner_in, GradientReversal(name="inner_grl")(inner_in))
    outer_in = keras.Input((2,))
    outer = keras.Model(outer_in, inner(GradientReversal(name="outer_grl")(outer_in)))
    assert sorted(layer.name for layer in find_gradient_reversal_layers(outer)) == ["inner_grl", "outer_grl"]
