import math

import numpy as np
import pytest

from kerasda import losses


def _softplus(x):
    return math.log1p(math.exp(x))


def test_discriminator_loss_matches_hand_computed_bce():
    # BCE(1, l) = softplus(-l); BCE(0, l) = softplus(l)
    expected = 0.5 * ((_softplus(-2.0) + _softplus(0.0)) / 2 + (_softplus(1.0) + _softplus(-3.0)) / 2)
    got = losses.discriminator_loss(np.array([2.0, 0.0]), np.array([1.0, -3.0]))
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_label_smoothing_changes_only_the_real_term():
    smoothed = losses.discriminator_loss(np.array([0.0]), np.array([0.0]), label_smoothing=0.1)
    # at logit 0 BCE is log 2 whatever the target
    assert float(smoothed) == pytest.approx(math.log(2.0), rel=1e-6)
    real = np.array([3.0])
    expected_real = 0.9 * _softplus(-3.0) + 0.1 * _softplus(3.0)
    got = losses.discriminator_loss(real, np.array([-50.0]), label_smoothing=0.1)
    assert float(got) == pytest.approx(0.5 * expected_real, rel=1e-5)


def test_generator_losses_non_saturating_and_minimax():
    fake = np.array([-1.0, 2.0])
    assert float(losses.generator_loss_non_saturating(fake)) == pytest.approx(
        (_softplus(1.0) + _softplus(-2.0)) / 2, rel=1e-6
    )
    assert float(losses.generator_loss_minimax(fake)) == pytest.approx(
        -(_softplus(-1.0) + _softplus(2.0)) / 2, rel=1e-6
    )


def test_sparse_classification_loss_uniform_logits_is_log_k():
    assert float(losses.sparse_classification_loss(np.array([0, 3]), np.zeros((2, 10)))) == pytest.approx(
        math.log(10.0), rel=1e-6
    )


def test_masked_pairwise_mse_hand_computed():
    pred = np.zeros((1, 2, 2, 1), np.float32)
    target = np.array([[[[1.0], [3.0]], [[5.0], [7.0]]]], np.float32)
    mask = np.array([[[[1.0], [1.0]], [[1.0], [0.0]]]], np.float32)
    # masked differences: -1, -3, -5 over k = 3 entries
    expected = (1 + 9 + 25) / 3 - ((-9.0) ** 2) / 9
    assert float(losses.masked_pairwise_mse(pred, target, mask)) == pytest.approx(expected, rel=1e-6)


def test_masked_pairwise_mse_ignores_a_constant_shift_and_empty_masks():
    target = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
    mask = np.ones((2, 4, 4, 1), np.float32)
    assert float(losses.masked_pairwise_mse(target + 0.7, target, mask)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.masked_pairwise_mse(target + 1, target, np.zeros_like(mask))) == 0.0


def test_gaussian_kl_divergence_closed_form():
    mean = np.array([[0.0, 1.0], [0.5, -0.5]], np.float32)
    log_var = np.array([[0.0, 0.0], [math.log(2.0), math.log(0.5)]], np.float32)
    expected = [
        0.5,  # 0.5 * mu^2 for the second dim
        0.5 * (2.0 + 0.25 - 1 - math.log(2.0)) + 0.5 * (0.5 + 0.25 - 1 - math.log(0.5)),
    ]
    np.testing.assert_allclose(losses.gaussian_kl_divergence(mean, log_var), expected, rtol=1e-5)


def test_reconstruction_losses_are_summed_per_image():
    images = np.full((2, 2, 2, 1), 0.5, np.float32)
    recon = np.full((2, 2, 2, 1), 0.25, np.float32)
    np.testing.assert_allclose(losses.squared_error_per_image(images, recon), [4 * 0.0625] * 2, rtol=1e-6)
    bce = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75)) * 4
    np.testing.assert_allclose(losses.binary_crossentropy_per_image(images, recon), [bce] * 2, rtol=1e-5)


def test_conditional_entropy_is_zero_for_certain_and_log_k_for_uniform_predictions():
    import tensorflow as tf

    from kerasda.losses import conditional_entropy

    certain = tf.constant([[50.0, 0.0, 0.0], [0.0, 0.0, 50.0]])
    uniform = tf.zeros((2, 4))
    assert float(conditional_entropy(certain)) == pytest.approx(0.0, abs=1e-6)
    assert float(conditional_entropy(uniform)) == pytest.approx(np.log(4.0), rel=1e-6)
    # By hand: p = (0.5, 0.5) -> log 2; p = (1, 0) -> 0; the mean is log(2) / 2.
    mixed = tf.constant([[0.0, 0.0], [60.0, 0.0]])
    assert float(conditional_entropy(mixed)) == pytest.approx(np.log(2.0) / 2, rel=1e-5)
