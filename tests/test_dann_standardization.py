"""DANN's input standardisations (per image, per channel, principal colour) and its feature extractor."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda.data.uci_digits import load_uci_digits
from kerasda.layers.standardization import PerImageStandardization, PrincipalColourStandardization
from kerasda.models.builders import build_digits_dann
from kerasda.networks.digits import build_feature_extractor


def test_each_image_gets_zero_mean_and_unit_std():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(3, 8, 8, 3)) * [[[[0.1, 0.5, 2.0]]]] + [[[[3.0, -1.0, 0.0]]]]
    out = PerImageStandardization()(images.astype("float32")).numpy()
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1.0, rtol=1e-4)
    per_channel = PerImageStandardization(over="channel")(images.astype("float32")).numpy()
    np.testing.assert_allclose(per_channel.std(axis=(1, 2)), 1.0, rtol=1e-4)


def test_brightness_and_contrast_changes_are_removed():
    image = np.random.default_rng(1).uniform(-1, 1, (1, 6, 6, 3)).astype("float32")
    layer = PerImageStandardization()
    np.testing.assert_allclose(layer(0.3 * image + 0.2).numpy(), layer(image).numpy(), atol=1e-4)


def test_flat_images_are_not_divided_by_zero():
    out = PerImageStandardization(min_stddev=0.5)(np.full((2, 4, 4, 3), 0.7, np.float32)).numpy()
    np.testing.assert_array_equal(out, np.zeros_like(out))


def test_bad_arguments_are_rejected_with_their_values():
    with pytest.raises(ValueError, match="pixel"):
        PerImageStandardization(over="pixel")
    with pytest.raises(ValueError, match="min_stddev"):
        PerImageStandardization(min_stddev=0.0)
    with pytest.raises(ValueError, match="min_stddev"):
        PrincipalColourStandardization(min_stddev=-1.0)
    with pytest.raises(ValueError, match="batch"):
        build_feature_extractor((16, 16, 3), input_standardization="batch")


def test_standardized_dann_saves_and_reloads(tmp_path):
    model = build_digits_dann((16, 16, 3), 10, input_standardization="channel", total_steps=5)
    model.compile(optimizer="sgd")
    layer = model.feature_extractor.get_layer("input_standardization")
    assert isinstance(layer, PerImageStandardization) and layer.over == "channel"
    images = np.random.default_rng(2).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(model(0.5 * images).numpy(), model(images).numpy(), rtol=1e-3, atol=1e-4)
    model.save(tmp_path / "dann.keras")
    loaded = keras.models.load_model(tmp_path / "dann.keras")
    np.testing.assert_allclose(loaded(images).numpy(), model(images).numpy(), rtol=1e-5)


def hue_digit(background=(0.6, -0.6, 0.0), size=12):
    """A bar 'digit' differing from its background in hue only: its channel sum equals the background's."""
    mask = np.zeros((1, size, size, 1), np.float32)
    mask[0, 2:-2, size // 2 - 1 : size // 2 + 1] = 1.0
    background = np.asarray(background, np.float32)
    return mask * -background + (1.0 - mask) * background, mask[0, ..., 0].astype(bool)


def test_principal_colour_turns_hue_contrast_into_a_bright_digit():
    image, stroke = hue_digit()
    grey_view = PerImageStandardization()(image).numpy()[0].sum(axis=-1)
    np.testing.assert_allclose(grey_view, 0.0, atol=1e-5)  # what a channel-summing filter sees: nothing
    out = PrincipalColourStandardization()(image).numpy()[0]
    np.testing.assert_allclose(out[..., 0], out[..., 2])  # one projection, in every channel
    assert out[..., 0][stroke].min() > 1.5 and out[..., 0][~stroke].max() < 0.0
    np.testing.assert_allclose(out[..., 0].mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(out[..., 0].std(), 1.0, rtol=1e-4)


def test_principal_colour_gives_one_polarity_for_dark_and_bright_digits():
    image, _ = hue_digit(background=(0.8, 0.2, -0.4))
    layer = PrincipalColourStandardization()
    np.testing.assert_allclose(layer(-image).numpy(), layer(image).numpy(), atol=1e-5)
    np.testing.assert_allclose(layer(0.4 * image + 0.1).numpy(), layer(image).numpy(), atol=1e-4)


def assert_principal_colour_equals_per_image_standardisation(digits):
    digits = digits.astype(np.float32) / 127.5 - 1.0
    np.testing.assert_array_equal(digits[..., 0], digits[..., 2])
    principal = PrincipalColourStandardization()(digits).numpy()
    np.testing.assert_allclose(principal, PerImageStandardization()(digits).numpy(), atol=1e-4)


def test_principal_colour_equals_per_image_standardisation_on_uci_digits():
    """So on grey -> grey pairs the candidate computes what the shipped config does."""
    assert_principal_colour_equals_per_image_standardisation(load_uci_digits(image_size=28).x_train[:300])


def test_principal_colour_equals_per_image_standardisation_on_mnist(real_data_dir):
    from kerasda.data.mnist import load_mnist

    assert_principal_colour_equals_per_image_standardisation(load_mnist(real_data_dir, image_size=28).x_test[:300])


def test_principal_colour_has_finite_gradients_on_grey_images():
    """Grey images tie two eigenvalues at zero, where an eigenvector has no gradient; saliency must still work."""
    images, _ = hue_digit(background=(0.5, 0.5, 0.5))
    images = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(images)
        out = PrincipalColourStandardization()(images)
        loss = tf.reduce_sum(out * tf.reverse(out, axis=[-1]))
    gradient = tape.gradient(loss, images).numpy()
    assert np.isfinite(gradient).all() and np.abs(gradient).max() > 0


def test_principal_colour_keeps_a_mixed_bfloat16_dtype():
    layer = PrincipalColourStandardization(dtype="mixed_bfloat16")
    image, stroke = hue_digit()
    out = layer(image)
    assert out.dtype == tf.bfloat16 and out.shape == image.shape
    assert float(tf.reduce_min(tf.boolean_mask(out[0, ..., 1], stroke))) > 1.5


def test_principal_colour_dann_saves_and_reloads(tmp_path):
    model = build_digits_dann((16, 16, 3), 10, input_standardization="principal_colour", total_steps=5)
    model.compile(optimizer="sgd")
    assert isinstance(model.feature_extractor.get_layer("input_standardization"), PrincipalColourStandardization)
    images = np.random.default_rng(3).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    model.save(tmp_path / "dann.keras")
    loaded = keras.models.load_model(tmp_path / "dann.keras")
    np.testing.assert_allclose(loaded(images).numpy(), model(images).numpy(), rtol=1e-5)
