"""ADDA model: frozen source networks, an untied copy as target encoder, a real adversarial game."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda.data import Domain, pipeline
from kerasda.models.adda import ADDA
from kerasda.networks.adda import (
    build_discriminator,
    build_source_networks,
    compose_classifier,
    copy_encoder,
)

SHAPE = (16, 16, 3)  # valid padding: 16 -> 12 -> 6 -> 2 -> 1, so 48 features


def _adda(input_standardization="image", discriminator_units=32, seed=0):
    keras.utils.set_random_seed(seed)
    source_encoder, source_classifier = build_source_networks(SHAPE, 10, input_standardization, padding="valid")
    model = ADDA(source_encoder, source_classifier, discriminator=build_discriminator(48, discriminator_units))
    model.compile()
    return model


def _batch(seed=0, n=8, target_offset=0.0):
    rng = np.random.default_rng(seed)
    source = rng.uniform(-1, 1, (n, *SHAPE)).astype("float32")
    labels = rng.integers(0, 10, n).astype("int64")
    target = np.clip(rng.uniform(-1, 1, (n, *SHAPE)) + target_offset, -1, 1).astype("float32")
    return (tf.constant(source), tf.constant(labels)), tf.constant(target)


def _weights(network):
    return [w.copy() for w in network.get_weights()]


def _losses(model, data):
    """Both players' losses on `data`, in inference mode, without updates."""
    model.reset_metrics()
    logs = model.test_step(data)
    return float(logs["discriminator_loss"]), float(logs["encoder_loss"])


def test_target_encoder_starts_as_an_exact_copy_with_its_own_variables():
    model = _adda()
    for a, b in zip(model.source_encoder.get_weights(), model.target_encoder.get_weights()):
        np.testing.assert_array_equal(a, b)
    source_ids = {id(v) for v in model.source_encoder.variables}
    assert len(model.target_encoder.variables) == len(source_ids) == 4
    assert source_ids.isdisjoint({id(v) for v in model.target_encoder.variables})
    # So, before any step, the adapted classifier is the stage-1 model.
    (images, _), _ = _batch(n=5)
    stage_one = compose_classifier(model.source_encoder, model.source_classifier)
    np.testing.assert_allclose(model.classifier(images).numpy(), stage_one(images).numpy(), rtol=1e-6)


def test_copy_encoder_unties_the_weights():
    model = _adda()
    copy = copy_encoder(model.source_encoder, name="copy")
    copy.variables[0].assign(copy.variables[0] + 1.0)
    assert not np.allclose(copy.variables[0].numpy(), model.source_encoder.variables[0].numpy())
    assert copy.name == "copy"


def test_stage_two_never_moves_the_source_encoder_or_the_classifier():
    model = _adda()
    frozen = {"source_encoder": _weights(model.source_encoder), "source_classifier": _weights(model.source_classifier)}
    trained = {"target_encoder": _weights(model.target_encoder), "discriminator": _weights(model.discriminator)}
    trainable = {id(v) for v in model.trainable_variables}
    assert trainable == {
        id(v) for v in model.target_encoder.trainable_variables + model.discriminator.trainable_variables
    }
    step = tf.function(model.train_step)
    for k in range(4):
        step(_batch(k, target_offset=0.5))
    for name, before in frozen.items():
        for a, b in zip(before, getattr(model, name).get_weights()):
            np.testing.assert_array_equal(a, b)
    for name, before in trained.items():  # the test is not vacuous: these did move
        assert any(not np.array_equal(a, b) for a, b in zip(before, getattr(model, name).get_weights())), name
    assert int(model.optimizer.iterations.numpy()) == 4
    assert int(model.discriminator_optimizer.iterations.numpy()) == 4


def test_discriminator_and_encoder_losses_move_in_opposite_directions():
    """Each half of train_step on its own (the other player's learning rate 0).

    With only the discriminator learning, its loss falls and the encoder's
    (inverted-label) loss rises; with only the target encoder learning, the
    reverse. Wrong labels on either side would make both fall together.
    """
    model = _adda(input_standardization=None)
    data = _batch(1, n=16, target_offset=0.8)  # brighter target images: a clear domain gap
    step = tf.function(model.train_step, reduce_retracing=True)

    model.compile(
        discriminator_optimizer=keras.optimizers.Adam(1e-3), target_encoder_optimizer=keras.optimizers.SGD(0.0)
    )
    d_start, e_start = _losses(model, data)
    encoder_before = _weights(model.target_encoder)
    for _ in range(15):
        step(data)
    d_mid, e_mid = _losses(model, data)
    assert d_mid < d_start - 0.05
    assert e_mid > e_start + 0.05
    for a, b in zip(encoder_before, model.target_encoder.get_weights()):
        np.testing.assert_array_equal(a, b)

    model.compile(
        discriminator_optimizer=keras.optimizers.SGD(0.0), target_encoder_optimizer=keras.optimizers.Adam(1e-3)
    )
    step = tf.function(model.train_step, reduce_retracing=True)
    for _ in range(15):
        step(data)
    d_end, e_end = _losses(model, data)
    assert e_end < e_mid - 0.05
    assert d_end > d_mid + 0.02


def test_train_step_logs_the_three_trackers_and_test_step_updates_nothing():
    model = _adda()
    logs = model.train_step(_batch())
    assert set(logs) == {"discriminator_loss", "encoder_loss", "discriminator_accuracy"}
    assert 0.0 <= float(logs["discriminator_accuracy"]) <= 1.0
    # An untrained discriminator gives logits near 0: both losses near log 2.
    assert float(logs["discriminator_loss"]) == pytest.approx(np.log(2.0), abs=0.1)
    weights = [v.numpy().copy() for v in model.variables]
    model.test_step(_batch(1))
    for before, after in zip(weights, model.variables):
        np.testing.assert_array_equal(before, after.numpy())


def test_fit_and_evaluate_on_an_adaptation_dataset_without_target_labels():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (16, *SHAPE), dtype=np.uint8)
    y = np.arange(16) % 10
    source = Domain("s", x, y, x[:8], y[:8])
    target = Domain("t", 255 - x, y, x[:8], y[:8]).unlabeled()
    dataset = pipeline.adaptation_dataset(source, target, batch_size=4, seed=0)
    model = _adda()
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["encoder_loss"][0])
    results = model.evaluate(dataset, steps=1, return_dict=True, verbose=0)
    assert set(results) == {"discriminator_loss", "encoder_loss", "discriminator_accuracy"}


def test_target_labels_are_refused():
    (source, labels), target = _batch()
    with pytest.raises(ValueError, match="target labels"):
        _adda().train_step(((source, labels), (target, labels)))


def test_get_config_round_trips():
    model = _adda(discriminator_units=24)
    config = model.get_config()
    rebuilt = ADDA.from_config(json.loads(json.dumps(config)))
    assert json.dumps(rebuilt.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    assert rebuilt.discriminator.get_layer("fc1").units == 24
    assert rebuilt.target_encoder.name == "target_encoder"
    assert not rebuilt.source_encoder.trainable and not rebuilt.source_classifier.trainable


def test_saved_adda_reloads_weights_and_both_optimizers(tmp_path):
    model = _adda()
    step = tf.function(model.train_step)
    for k in range(3):
        step(_batch(k))
    path = tmp_path / "adda.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ADDA)
    assert int(loaded.target_encoder_optimizer.iterations.numpy()) == 3
    assert int(loaded.discriminator_optimizer.iterations.numpy()) == 3
    (images, _), _ = _batch(9)
    np.testing.assert_allclose(loaded(images).numpy(), model(images).numpy(), rtol=1e-5)
    np.testing.assert_allclose(
        loaded.embed(images.numpy(), encoder="source"), model.embed(images.numpy(), encoder="source"), rtol=1e-5
    )


def test_discriminator_is_fc500_fc500_fc1():
    discriminator = build_discriminator(768)
    dense = [layer for layer in discriminator.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [500, 500, 1]
    assert [layer.activation.__name__ for layer in dense] == ["relu", "relu", "linear"]
    with pytest.raises(ValueError, match="hidden_units must be >= 1, got 0"):
        build_discriminator(768, 0)


def test_mismatched_networks_are_rejected():
    source_encoder, source_classifier = build_source_networks(SHAPE, 10, padding="valid")
    with pytest.raises(ValueError, match="discriminator takes 12"):
        ADDA(source_encoder, source_classifier, discriminator=build_discriminator(12))
    other_encoder, _ = build_source_networks((20, 20, 3), 10, padding="valid")
    with pytest.raises(ValueError, match="target_encoder input shape"):
        ADDA(source_encoder, source_classifier, target_encoder=other_encoder)
    with pytest.raises(ValueError, match="encoder must be 'target' or 'source'"):
        ADDA(source_encoder, source_classifier).embed(np.zeros((1, *SHAPE)), encoder="both")
