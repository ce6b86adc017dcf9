"""DCGAN-family generators and discriminators: shapes, ranges, conditioning, init."""

import keras
import numpy as np
import pytest

from kerasda.networks import gan as gan_networks

LATENT = 8


def _noise(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, LATENT)).astype(np.float32)


def test_generator_maps_noise_to_32x32_images_in_tanh_range():
    # Keras' default init: with N(0, 0.02) an untrained G's outputs are ~1e-5.
    generator = gan_networks.build_generator(latent_dim=LATENT, ngf=4, init="keras_default")
    images = np.asarray(generator(_noise(3) * 50.0))  # large z saturates tanh, never exceeds it
    assert images.shape == (3, 32, 32, 1)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert np.abs(images).max() > 0.5


def test_generator_widths_follow_ngf_and_halve_with_each_doubling():
    generator = gan_networks.build_generator(latent_dim=LATENT, ngf=4, image_shape=(32, 32, 3))
    widths = [generator.get_layer(f"deconv{i}").output.shape for i in range(1, 5)]
    assert [tuple(w[1:]) for w in widths] == [(4, 4, 16), (8, 8, 8), (16, 16, 4), (32, 32, 3)]


def test_discriminator_downsamples_to_4x4_with_bn_on_all_but_first_layer():
    discriminator = gan_networks.build_discriminator(ndf=4)
    names = [layer.name for layer in discriminator.layers]
    assert "bn1" not in names and {"bn2", "bn3"} <= set(names)
    assert tuple(discriminator.get_layer("conv1").output.shape[1:]) == (16, 16, 4)
    assert tuple(discriminator.get_layer("conv3").output.shape[1:]) == (4, 4, 16)
    assert discriminator.get_layer("lrelu1").negative_slope == pytest.approx(0.2)
    assert discriminator(np.zeros((2, 32, 32, 1), np.float32)).shape == (2, 1)


def test_label_conditioning_changes_generator_output():
    generator = gan_networks.build_generator(latent_dim=LATENT, ngf=4, num_classes=10, init="keras_default")
    noise = np.repeat(_noise(1), 2, axis=0)
    images = np.asarray(generator([noise, np.array([3, 7])], training=False))
    assert np.abs(images[0] - images[1]).max() > 1e-3
    same = np.asarray(generator([noise, np.array([3, 3])], training=False))
    np.testing.assert_allclose(same[0], same[1], atol=1e-6)


def test_label_conditioning_changes_discriminator_output():
    # Keras' default init: with N(0, 0.02) the logits are ~1e-4 and their
    # label-driven difference can fall below float32 noise for some draws.
    keras.utils.set_random_seed(0)
    discriminator = gan_networks.build_conditional_discriminator(num_classes=10, ndf=4, init="keras_default")
    images = np.repeat(np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 1)), 2, axis=0)
    images = images.astype(np.float32)
    logits = np.asarray(discriminator([images, np.array([0, 9])], training=False))
    same = np.asarray(discriminator([images, np.array([9, 9])], training=False))
    assert same[0, 0] == pytest.approx(same[1, 0], abs=1e-6)
    assert abs(logits[0, 0] - logits[1, 0]) > 1e-3 * max(abs(logits[0, 0]), 1e-3)


def test_conditional_discriminator_sees_label_as_constant_image_channels():
    discriminator = gan_networks.build_conditional_discriminator(num_classes=10, ndf=4)
    stacked = discriminator.get_layer("images_and_label_maps").output
    assert tuple(stacked.shape[1:]) == (32, 32, 11)


def test_auxiliary_classifier_discriminator_has_real_fake_and_class_heads():
    discriminator = gan_networks.build_auxiliary_classifier_discriminator(num_classes=10, ndf=4)
    real_fake, classes = discriminator(np.zeros((2, 32, 32, 1), np.float32))
    assert real_fake.shape == (2, 1) and classes.shape == (2, 10)


def test_normal_002_init_draws_kernels_with_std_002_and_keras_default_does_not():
    dcgan = gan_networks.build_generator(latent_dim=LATENT, ngf=16, init="normal_002")
    default = gan_networks.build_generator(latent_dim=LATENT, ngf=16, init="keras_default")
    dcgan_kernel = np.asarray(dcgan.get_layer("deconv2").kernel)
    default_kernel = np.asarray(default.get_layer("deconv2").kernel)
    assert dcgan_kernel.std() == pytest.approx(0.02, rel=0.1)
    assert abs(dcgan_kernel.mean()) < 0.002
    # Glorot-uniform: std = sqrt(2 / (fan_in + fan_out)), fans = channels x 4 x 4.
    receptive = default_kernel.shape[0] * default_kernel.shape[1]
    fans = receptive * (default_kernel.shape[-2] + default_kernel.shape[-1])
    assert default_kernel.std() == pytest.approx(np.sqrt(2.0 / fans), rel=0.1)
    gamma = np.asarray(dcgan.get_layer("bn1").gamma)
    assert gamma.mean() == pytest.approx(1.0, abs=0.02) and 0.005 < gamma.std() < 0.04
    np.testing.assert_array_equal(np.asarray(default.get_layer("bn1").gamma), 1.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"init": "he"}, "init must be one of"),
        ({"ngf": 0}, "ngf must be a positive integer"),
        ({"image_shape": (28, 28, 1)}, "power-of-two"),
        ({"image_shape": (32, 16, 1)}, "square"),
        ({"num_classes": 1}, "num_classes must be >= 2"),
    ],
)
def test_generator_rejects_bad_arguments_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gan_networks.build_generator(latent_dim=LATENT, **{"ngf": 4, **kwargs})
