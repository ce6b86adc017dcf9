"""EndoVAE model: shapes, the two loss terms against hand-computed values, training."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda import losses
from kerasda.layers import Sampling
from kerasda.models.builders import build_vae
from kerasda.networks import vae as vae_networks


def _images(n=4, seed=0):
    return np.random.default_rng(seed).random((n, 96, 96, 3)).astype(np.float32)


def _pin_posterior(model, mean, log_variance):
    """Make the encoder output the same (mean, log_variance) for every input."""
    for layer_name, bias in (("mean", mean), ("log_variance", log_variance)):
        layer = model.encoder.get_layer(layer_name)
        kernel, _ = layer.get_weights()
        layer.set_weights([np.zeros_like(kernel), np.asarray(bias, np.float32)])


def test_shapes_96x96x3_in_and_out_with_latent_6():
    model = build_vae(seed=0)
    x = _images(2)
    mean, log_variance = model.encode(x)
    assert mean.shape == (2, 6) and log_variance.shape == (2, 6)
    assert model.encoder.get_layer("conv6").output.shape[1:] == (12, 12, 256)
    assert model.decoder.get_layer("unflatten").output.shape[1:] == (12, 12, 256)
    reconstructions = model.reconstruct(x)
    assert reconstructions.shape == (2, 96, 96, 3)
    assert float(tf.reduce_min(reconstructions)) >= 0.0
    assert float(tf.reduce_max(reconstructions)) <= 1.0
    assert model.decode(np.zeros((3, 6), np.float32)).shape == (3, 96, 96, 3)
    assert model.sample_prior(9).shape == (9, 96, 96, 3)


def test_architecture_follows_endovae():
    model = build_vae()
    convs = [layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [conv.filters for conv in convs] == [16, 32, 32, 64, 128, 256]
    assert all(conv.activation is keras.activations.relu for conv in convs)
    assert model.encoder.get_layer("fc").units == 256
    deconvs = [layer for layer in model.decoder.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [deconv.filters for deconv in deconvs] == [256, 128, 64, 64, 32, 32, 3]
    assert deconvs[-1].activation is keras.activations.sigmoid


def test_latent_dim_is_configurable():
    model = build_vae(latent_dim=3)
    mean, _ = model.encode(_images(1))
    assert mean.shape == (1, 3) and model.latent_dim == 3
    assert model.decode(np.zeros((1, 3), np.float32)).shape == (1, 96, 96, 3)


def test_gaussian_kl_matches_closed_form_for_known_values():
    # KL = 0.5 * sum(exp(lv) + mu^2 - 1 - lv) = 0.5 * (1 + (2 - 1 - ln 2)) = 1 - ln(2) / 2
    kl = losses.gaussian_kl_divergence(
        tf.constant([[1.0, 0.0], [0.0, 0.0]]), tf.constant([[0.0, np.log(2.0)], [0.0, 0.0]])
    )
    np.testing.assert_allclose(kl.numpy(), [1.0 - np.log(2.0) / 2.0, 0.0], rtol=1e-6)


def test_kl_term_of_the_model_equals_closed_form_for_its_posterior():
    model = build_vae(seed=0)
    mean = np.array([0.5, -1.0, 0.0, 2.0, 0.1, 0.0], np.float32)
    log_variance = np.array([0.0, -1.0, 1.0, 0.5, -2.0, 0.0], np.float32)
    _pin_posterior(model, mean, log_variance)
    expected = 0.5 * np.sum(np.exp(log_variance) + mean**2 - 1.0 - log_variance)
    values = model.compute_losses(_images(3))
    np.testing.assert_allclose(float(values["kl_loss"]), expected, rtol=1e-5)


@pytest.mark.parametrize("beta", [1.0, 2.5])
def test_reconstruction_loss_switch_sums_bce_or_squared_error_per_image(beta):
    x = _images(3)
    results = {}
    for name in ("bce", "mse"):
        keras.utils.set_random_seed(1)  # identical weights for both models
        model = build_vae(reconstruction_loss=name, beta=beta, seed=0)
        # A near-zero posterior variance makes z = mean, so the loss is deterministic.
        _pin_posterior(model, np.full(6, 0.3), np.full(6, -40.0))
        r = np.clip(model.reconstruct(x).numpy().astype(np.float64), 1e-7, 1 - 1e-7)
        if name == "bce":
            per_image = -np.sum(x * np.log(r) + (1 - x) * np.log(1 - r), axis=(1, 2, 3))
        else:
            per_image = np.sum((x - r) ** 2, axis=(1, 2, 3))
        values = model.compute_losses(x)
        np.testing.assert_allclose(float(values["reconstruction_loss"]), per_image.mean(), rtol=1e-4)
        expected_kl = 0.5 * 6 * (np.exp(-40.0) + 0.09 - 1.0 + 40.0)
        np.testing.assert_allclose(float(values["kl_loss"]), expected_kl, rtol=1e-5)
        np.testing.assert_allclose(float(values["total_loss"]), per_image.mean() + beta * expected_kl, rtol=1e-4)
        results[name] = float(values["reconstruction_loss"])
    # Summed over 96*96*3 pixels, BCE of random targets (~0.69 a pixel at r=0.5) is far above
    # their squared error (~0.08 a pixel).
    assert results["bce"] > 4 * results["mse"]


def test_sampling_uses_reparameterisation_and_is_seeded():
    mean = tf.fill((20000, 2), 1.5)
    log_variance = tf.fill((20000, 2), np.log(0.25))
    z = Sampling(seed=3)([mean, log_variance]).numpy()
    np.testing.assert_allclose(z.mean(axis=0), [1.5, 1.5], atol=0.02)
    np.testing.assert_allclose(z.std(axis=0), [0.5, 0.5], atol=0.02)
    again = Sampling(seed=3)([mean, log_variance]).numpy()
    np.testing.assert_array_equal(z, again)
    config = Sampling(seed=7, name="s").get_config()
    assert Sampling.from_config(config).seed == 7


def test_invalid_arguments_are_rejected_with_the_bad_value():
    with pytest.raises(ValueError, match="'l1'"):
        build_vae(reconstruction_loss="l1")
    with pytest.raises(ValueError, match="-1"):
        build_vae(beta=-1)
    with pytest.raises(ValueError, match="multiples of 8"):
        vae_networks.build_encoder(image_shape=(90, 90, 3))
    with pytest.raises(ValueError, match="latent_dim"):
        vae_networks.build_decoder(latent_dim=0)


def test_compile_builds_the_optimizer_for_checkpoint_restore():
    model = build_vae(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert model.optimizer.built
    assert len(model.optimizer.variables) > len(model.trainable_variables)


def test_fit_runs_two_steps_and_reports_the_three_losses():
    model = build_vae(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    dataset = tf.data.Dataset.from_tensor_slices(_images(8)).batch(4).repeat()
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, shuffle=False, verbose=0)
    assert set(history.history) == {"total_loss", "reconstruction_loss", "kl_loss"}
    assert all(np.isfinite(v[0]) for v in history.history.values())
    # test_step mirrors train_step (labels, if given, are ignored).
    logs = model.evaluate(_images(4), np.zeros(4), batch_size=4, verbose=0, return_dict=True)
    assert set(logs) == {"total_loss", "reconstruction_loss", "kl_loss"}


def test_train_steps_update_encoder_and_decoder_and_lower_the_loss():
    model = build_vae(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = tf.constant(_images(4))
    before = [v.numpy().copy() for v in model.trainable_variables]
    first = float(model.train_step(x)["total_loss"])
    for _ in range(5):
        model.reset_metrics()
        last = float(model.train_step(x)["total_loss"])
    changed = [not np.allclose(b, v.numpy()) for b, v in zip(before, model.trainable_variables)]
    assert all(changed), "every encoder and decoder variable should receive gradients"
    assert last < first


def test_uint8_batches_are_scaled_to_unit_range():
    model = build_vae(seed=0)
    pixels = (_images(2) * 255).round().astype(np.uint8)
    np.testing.assert_allclose(model._images(tf.constant(pixels)).numpy(), pixels / 255.0, atol=1e-6)


def test_checkpoint_restores_weights_optimizer_slots_and_noise_state(tmp_path):
    model = build_vae(seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.train_step(tf.constant(_images(2)))
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    restored = build_vae(seed=5)
    restored.compile(optimizer=keras.optimizers.Adam(1e-3))
    tf.train.Checkpoint(model=restored).restore(path).assert_existing_objects_matched()
    for a, b in zip(model.variables, restored.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(model.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Same sampling-noise state, so a resumed run draws the same noise as an uninterrupted one.
    np.testing.assert_array_equal(model.sample_prior(2).numpy(), restored.sample_prior(2).numpy())


def test_free_bits_and_kl_warmup_change_only_the_training_objective():
    model = build_vae(latent_dim=4, seed=0, free_bits=0.5, kl_warmup_steps=10)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    _pin_posterior(model, np.zeros(4), np.zeros(4))  # q(z|x) = N(0, I): KL exactly 0
    x = tf.constant(_images(2))
    # Warm-up: weight 0 at step 0, beta / 2 at step 5, beta from step 10 on.
    assert float(model.kl_weight()) == 0.0
    model.optimizer.iterations.assign(5)
    assert float(model.kl_weight()) == pytest.approx(0.5)
    model.optimizer.iterations.assign(20)
    assert float(model.kl_weight()) == pytest.approx(1.0)
    train = model.compute_losses(x, training=True)
    evaluation = model.compute_losses(x, training=False)
    assert float(train["kl_loss"]) == pytest.approx(0.0, abs=1e-6)
    # Free bits: 4 dims x 0.5 nats counted, though the true KL is 0.
    np.testing.assert_allclose(float(train["total_loss"]) - float(train["reconstruction_loss"]), 2.0, rtol=1e-5)
    np.testing.assert_allclose(float(evaluation["total_loss"]), float(evaluation["reconstruction_loss"]), rtol=1e-6)
    with pytest.raises(ValueError, match="free_bits"):
        build_vae(free_bits=-1.0)


def test_per_image_scores_are_deterministic_and_sum_to_the_elbo():
    model = build_vae(latent_dim=3, seed=0)
    _pin_posterior(model, [1.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    x = tf.constant(_images(3))
    first, second = model.per_image_scores(x), model.per_image_scores(x)
    assert first["kl"].shape == (3,)
    np.testing.assert_allclose(first["kl"].numpy(), 0.5, rtol=1e-5)  # 0.5 * mean^2
    np.testing.assert_allclose(first["elbo"].numpy(), (first["reconstruction"] + first["kl"]).numpy())
    np.testing.assert_allclose(first["elbo"].numpy(), second["elbo"].numpy())


def test_get_config_rebuilds_the_same_model():
    model = build_vae(
        (16, 16, 3), latent_dim=2, beta=0.5, reconstruction_loss="mse", seed=4, kl_warmup_steps=3, free_bits=0.1
    )
    clone = type(model).from_config(model.get_config())
    assert (clone.beta, clone.reconstruction_loss, clone.seed, clone.kl_warmup_steps, clone.free_bits) == (
        0.5,
        "mse",
        4,
        3,
        0.1,
    )
    assert (clone.image_shape, clone.latent_dim) == ((16, 16, 3), 2)
    assert [tuple(v.shape) for v in clone.weights] == [tuple(v.shape) for v in model.weights]
