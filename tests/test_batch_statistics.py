"""AdaBN: batch-normalisation moving statistics set to those of one set of images."""

import json
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import adaptation_app_command, served_accuracy, write_npz_domain

from kerasda.layers.standardization import PerImageStandardization
from kerasda.models.batch_statistics import adapt_batch_norm_statistics, batch_norm_layers


def _normalised_model():
    """images [N, 4] -> BN -> Dense -> BN, the second inside a nested model."""
    keras.utils.set_random_seed(0)
    inner_inputs = keras.Input((3,))
    inner = keras.Model(inner_inputs, keras.layers.BatchNormalization(name="bn_inner")(inner_inputs))
    inputs = keras.Input((4,))
    x = keras.layers.BatchNormalization(name="bn_outer")(inputs)
    x = keras.layers.Dense(3, name="dense")(x)
    return keras.Model(inputs, inner(x))


def test_statistics_become_the_mean_and_variance_of_the_images_whatever_the_batches():
    model = _normalised_model()
    outer, inner = batch_norm_layers(model)
    assert [outer.name, inner.name] == ["bn_outer", "bn_inner"]
    images = np.random.default_rng(0).normal(3.0, 2.0, (10, 4)).astype("float32")
    outer.moving_mean.assign(np.full(4, 100.0, "float32"))  # whatever it held before must not matter
    dense_before = [w.numpy().copy() for w in model.get_layer("dense").weights]

    assert adapt_batch_norm_statistics(model, images, batch_size=10) == 2
    np.testing.assert_allclose(outer.moving_mean.numpy(), images.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(outer.moving_variance.numpy(), images.var(axis=0), rtol=1e-4)
    # The nested layer gets the statistics of its own input (the dense outputs in training mode).
    normalised = (images - images.mean(0)) / np.sqrt(images.var(0) + outer.epsilon)
    dense_out = model.get_layer("dense")(normalised).numpy()
    np.testing.assert_allclose(inner.moving_mean.numpy(), dense_out.mean(axis=0), rtol=1e-4, atol=1e-5)

    # Uneven batches (4 + 4 + 2): the mean is still the whole set's, weighted by images.
    adapt_batch_norm_statistics(model, images, batch_size=4)
    np.testing.assert_allclose(outer.moving_mean.numpy(), images.mean(axis=0), rtol=1e-5)
    assert outer.momentum == inner.momentum == 0.99  # restored
    # Stored images converted batch by batch give the same statistics as converted up front.
    adapt_batch_norm_statistics(model, images / 2.0, batch_size=4, preprocess=lambda batch: batch * 2.0)
    np.testing.assert_allclose(outer.moving_mean.numpy(), images.mean(axis=0), rtol=1e-5)
    for before, after in zip(dense_before, model.get_layer("dense").weights):
        np.testing.assert_array_equal(before, after.numpy())  # trainable weights untouched


def test_a_model_without_batch_norm_is_left_alone_and_bad_input_is_rejected():
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert adapt_batch_norm_statistics(plain, np.ones((3, 4), "float32")) == 0
    with pytest.raises(ValueError, match="at least one image"):
        adapt_batch_norm_statistics(_normalised_model(), np.zeros((0, 4), "float32"))
    with pytest.raises(ValueError, match="batch_size"):
        adapt_batch_norm_statistics(_normalised_model(), np.ones((3, 4), "float32"), batch_size=0)


DANN_FLAGS = ["--flagfile=apps/configs/dann_mnist_to_mnistm.cfg", "--source_only_steps=0"]


def test_dann_app_exports_the_classifier_with_the_target_statistics(tmp_path):
    rng = np.random.default_rng(1)
    source = write_npz_domain(tmp_path / "source.npz", rng, invert=False)
    target = write_npz_domain(tmp_path / "target.npz", rng, invert=True)
    out = tmp_path / "run"
    adaptation_flags = ["--batch_norm", "--separate_domain_batches", "--target_batch_statistics"]
    command = adaptation_app_command("train_dann", tmp_path, source, target, *DANN_FLAGS, *adaptation_flags)
    subprocess.run(command, check=True, capture_output=True, text=True)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["target_batch_statistics_examples"] == 64
    assert 0.0 <= metrics["moving_statistics_target_test_accuracy"] <= 1.0
    data = np.load(tmp_path / "target.npz")
    # The export's first batch normalisation holds the mean of its input over the target training
    # images: recompute that input (per-image standardisation, then the first convolution).
    exported = _saved_variables(f"{metrics['export_path']}/variables/variables")
    kernel = exported[("kernel", (5, 5, 3, 32))]
    images = data["x_train"].astype(np.float32) / 127.5 - 1.0
    standardized = PerImageStandardization(over="image")(images)
    expected_mean = tf.nn.conv2d(standardized, kernel, 1, "VALID").numpy().mean(axis=(0, 1, 2))
    np.testing.assert_allclose(exported[("moving_mean", (32,))], expected_mean, rtol=1e-3, atol=1e-4)
    # ... which the training alone did not leave there (the last checkpoint holds the moving average).
    trained = _saved_variables(str(out / "checkpoints" / "ckpt-4"))
    assert not np.allclose(trained[("moving_mean", (32,))], expected_mean, rtol=1e-3, atol=1e-4)
    # And the export scores what metrics.json reports.
    assert served_accuracy(metrics["export_path"], tmp_path / "target.npz") == pytest.approx(
        metrics["target_test_accuracy"]
    )


def _saved_variables(prefix):
    """{(variable kind, shape): value} of a TF checkpoint's model variables, by the last path part."""
    reader = tf.train.load_checkpoint(prefix)
    found = {}
    for key, shape in reader.get_variable_to_shape_map().items():
        if key.startswith("model") and "optimizer" not in key:
            kind = key.split("/")[-3].lstrip("_")  # .../_kernel/.ATTRIBUTES/VARIABLE_VALUE
            found[kind, tuple(shape)] = reader.get_tensor(key)
    return found


def test_target_statistics_without_batch_norm_is_a_flag_error(tmp_path):
    rng = np.random.default_rng(1)
    source = write_npz_domain(tmp_path / "source.npz", rng, invert=False)
    command = adaptation_app_command("train_dann", tmp_path, source, source, *DANN_FLAGS, "--target_batch_statistics")
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2
    assert "--target_batch_statistics needs --batch_norm" in result.stderr
