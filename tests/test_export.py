"""The one export path: each model's `serving_endpoints()` written by `export.export_model`."""

import numpy as np
import pytest
import tensorflow as tf

from kerasda import export
from kerasda.models import PixelDA, PixelDAConfig, build_digits_dann, build_gan, build_vae


def _signatures(path):
    loaded = tf.saved_model.load(str(path))
    return loaded, loaded.signatures


def test_gan_exports_generate_and_serving_default_with_shape_checks(tmp_path):
    model = build_gan("cgan", latent_dim=4, ngf=4, ndf=4, image_shape=(8, 8, 1), num_classes=3)
    path = export.export_model(model, "cgan_generator", export_root=tmp_path)
    assert path == tmp_path / "cgan_generator" / "1"
    _, signatures = _signatures(path)
    assert set(signatures) == {"generate", "serving_default"}
    noise = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    labels = np.array([0, 2], np.int64)
    out = signatures["generate"](noise=tf.constant(noise), labels=tf.constant(labels))["images"].numpy()
    expected = model.generate(tf.constant(noise), tf.constant(labels, tf.int32)).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"generate.*noise.* must be float32 \[N, 4\]; got shape\] \[2 5\]"
    ):
        signatures["generate"](noise=tf.zeros((2, 5)), labels=tf.constant(labels))


def test_vae_exports_exactly_encode_decode_reconstruct(tmp_path):
    model = build_vae((16, 16, 3), latent_dim=2, seed=0)
    path = export.export_model(model, "vae", export_dir=tmp_path / "vae")
    _, signatures = _signatures(path)
    assert set(signatures) == {"encode", "decode", "reconstruct"}
    images = np.random.default_rng(0).uniform(0, 1, (3, 16, 16, 3)).astype(np.float32)
    out = signatures["reconstruct"](images=tf.constant(images))["reconstructions"].numpy()
    np.testing.assert_allclose(out, model.reconstruct(images).numpy(), atol=1e-5)


def test_pixelda_generator_export_saves_only_the_generator_variables(tmp_path):
    model = PixelDA(PixelDAConfig(generator_filters=4, generator_blocks=1, discriminator_filters=4))
    loaded, signatures = _signatures(export.export_model(model, "g", export_root=tmp_path))
    assert set(signatures) == {"adapt", "serving_default"}
    saved = sorted(tuple(v.shape) for v in signatures["adapt"].variables)
    assert saved == sorted(tuple(v.shape) for v in model.generator.variables)  # no D or T weights


def test_dann_endpoints_are_the_classifier_signatures_with_the_range_check(tmp_path):
    model = build_digits_dann((28, 28, 3), padding="valid", total_steps=10)
    assert set(model.serving_endpoints()) == {"serving_default", *export.RAW_IMAGE_SIGNATURES}
    _, signatures = _signatures(export.export_model(model, "dann_classifier", export_root=tmp_path))
    images = np.random.default_rng(0).uniform(-1, 1, (2, 28, 28, 3)).astype(np.float32)
    out = signatures["serving_default"](images=tf.constant(images))
    np.testing.assert_allclose(out["probabilities"].numpy(), tf.nn.softmax(model(images)).numpy(), atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="with values in \\[-1, 1\\]"):
        signatures["serving_default"](images=tf.fill((1, 28, 28, 3), 255.0))


def test_an_empty_batch_gets_empty_outputs_without_running_the_model_on_it(tmp_path):
    # Stands in for oneDNN's convolutions, which fail on a batch of zero images (AVX512 hosts).
    def refuses_empty(images):
        tf.debugging.assert_positive(tf.shape(images)[0], message="ran on an empty batch")
        return {"sums": tf.reduce_sum(images, axis=[1, 2, 3]), "count": tf.size(images)}

    spec = [tf.TensorSpec([None, 4, 4, 3], tf.float32, name="images")]
    path = export.export_signatures("empty", {"serving_default": (refuses_empty, spec)}, export_dir=tmp_path / "e")
    serving = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert serving(images=tf.zeros((0, 4, 4, 3)))["sums"].shape == (0,)
    np.testing.assert_allclose(serving(images=tf.ones((2, 4, 4, 3)))["sums"].numpy(), [48.0, 48.0])
    assert int(serving(images=tf.ones((2, 4, 4, 3)))["count"]) == 96  # unbatched outputs pass through
