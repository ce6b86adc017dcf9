"""PerImageStandardization (DANN's optional input standardisation) and its feature extractor."""

import keras
import numpy as np
import pytest

from kerasda.layers.standardization import PerImageStandardization
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
