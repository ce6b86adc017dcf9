"""PSNR / SSIM, anomaly ROC and the real-vs-reconstructed classifier on synthetic images."""

import numpy as np
import pytest
import tensorflow as tf

from kerasda.evaluation import image_quality as iq
from kerasda.evaluation import vae_figures
from kerasda.models.builders import build_vae


def _textures(n, seed=0, size=96):
    return np.random.default_rng(seed).random((n, size, size, 3)).astype(np.float32)


def test_psnr_of_a_constant_offset_is_hand_computed():
    x = np.full((2, 8, 8, 3), 0.5, np.float32)
    # MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB; MSE 0.0025 -> 26.02 dB.
    r = x + np.array([0.1, 0.05], np.float32)[:, None, None, None]
    np.testing.assert_allclose(iq.psnr_per_image(x, r), [20.0, 10 * np.log10(400)], rtol=1e-5)
    assert np.isinf(iq.psnr_per_image(x, x)).all()


def test_psnr_matches_skimage_tf_image_psnr_and_the_mse_formula():
    from skimage.metrics import peak_signal_noise_ratio

    rng = np.random.default_rng(4)
    x = rng.random((3, 12, 12, 3)).astype(np.float32)
    r = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32)
    psnr = iq.psnr_per_image(x, r)
    mse = np.mean(np.square(x.astype(np.float64) - r), axis=(1, 2, 3))
    np.testing.assert_allclose(psnr, 10 * np.log10(1 / mse), rtol=1e-12)  # the formula used before
    np.testing.assert_allclose(psnr, [peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in zip(x, r)], rtol=1e-6)
    np.testing.assert_allclose(psnr, tf.image.psnr(x, r, max_val=1.0).numpy(), rtol=1e-5)
    assert 20 < psnr.min() and psnr.max() < 30  # noise of std 0.05: about 26 dB


def test_uint8_and_unit_float_inputs_agree():
    x = (np.random.default_rng(0).random((2, 16, 16, 3)) * 255).astype(np.uint8)
    r = np.clip(x.astype(int) + 10, 0, 255).astype(np.uint8)
    np.testing.assert_allclose(iq.psnr_per_image(x, r), iq.psnr_per_image(x / 255.0, r / 255.0), rtol=1e-5)


def test_ssim_is_one_for_identical_images_and_matches_tf_image_ssim():
    x = _textures(3, size=32)
    np.testing.assert_allclose(iq.ssim_per_image(x, x), 1.0, atol=1e-6)
    noisy = np.clip(x + 0.1 * np.random.default_rng(1).standard_normal(x.shape), 0, 1).astype(np.float32)
    ours = iq.ssim_per_image(x, noisy)
    reference = tf.image.ssim(tf.constant(x), tf.constant(noisy), max_val=1.0).numpy()
    np.testing.assert_allclose(ours, reference, atol=2e-3)
    assert (ours < 0.99).all()


def test_image_quality_reports_mean_and_std():
    x = np.full((2, 16, 16, 3), 0.5, np.float32)
    r = x + np.array([0.1, 0.05], np.float32)[:, None, None, None]
    report = iq.image_quality(x, r)
    assert set(report) == {"psnr_mean", "psnr_std", "ssim_mean", "ssim_std", "num_images"}
    np.testing.assert_allclose(report["psnr_mean"], (20.0 + 10 * np.log10(400)) / 2, rtol=1e-5)
    np.testing.assert_allclose(report["psnr_std"], (10 * np.log10(400) - 20.0) / 2, rtol=1e-5)
    assert report["num_images"] == 2
    with pytest.raises(ValueError, match="same shape"):
        iq.image_quality(x, r[:1])


def test_anomaly_roc_auc_for_separated_reversed_and_tied_scores():
    assert iq.anomaly_roc([0.1, 0.2], [0.3, 0.4])["roc_auc"] == 1.0
    assert iq.anomaly_roc([0.3, 0.4], [0.1, 0.2])["roc_auc"] == 0.0
    tied = iq.anomaly_roc([0.5, 0.5], [0.5, 0.5])
    assert tied["roc_auc"] == 0.5 and tied["num_normal"] == 2
    figure = vae_figures.roc_curve_figure(tied["fpr"], tied["tpr"], tied["roc_auc"])
    assert figure.axes[0].lines


def test_real_vs_reconstructed_learns_blur_and_is_at_chance_on_identical_images():
    real = _textures(40, seed=2, size=32)
    blurred = np.broadcast_to(real.mean(axis=(1, 2), keepdims=True), real.shape).copy()
    result = iq.real_vs_reconstructed(real, blurred, epochs=15, seed=0)
    assert result["num_train"] + result["num_test"] == 80 and result["num_test"] % 2 == 0
    assert result["accuracy"] >= 0.9 and result["auc"] >= 0.95
    same = iq.real_vs_reconstructed(real, real, epochs=1, seed=0)
    assert same["accuracy"] == 0.5 and same["auc"] == pytest.approx(0.5)


def test_evaluate_vae_scores_held_out_sets_with_any_reconstruct_fn():
    rng = np.random.default_rng(3)
    # "Normal" images are flat colours plus faint noise, which a mean-colour
    # "reconstruction" gets nearly right; anomalies are textures it cannot.
    normal = np.clip(
        rng.random((12, 32, 32, 3)).mean(axis=(1, 2), keepdims=True) + 0.01 * rng.standard_normal((12, 32, 32, 3)), 0, 1
    ).astype(np.float32)
    anomaly = _textures(8, seed=4, size=32)

    def mean_colour(images):
        return tf.broadcast_to(tf.reduce_mean(images, axis=(1, 2), keepdims=True), tf.shape(images))

    metrics, extras = iq.evaluate_vae(mean_colour, normal, anomaly, num_quality_images=5, classifier_epochs=2, seed=0)
    assert metrics["anomaly_roc_auc"] == 1.0
    assert metrics["anomaly_roc_num_normal"] == 12 and metrics["anomaly_roc_num_anomaly"] == 8
    assert metrics["normal_num_images"] == 5 and metrics["anomaly_num_images"] == 5
    assert metrics["normal_psnr_mean"] > metrics["anomaly_psnr_mean"] + 20
    assert {"real_vs_reconstructed_accuracy", "real_vs_reconstructed_auc"} <= set(metrics)
    assert len(extras["roc"]["fpr"]) == len(extras["roc"]["tpr"])


def test_vae_losses_average_over_images_without_touching_trackers():
    model = build_vae(seed=0)
    x = (np.random.default_rng(0).random((5, 96, 96, 3)) * 255).astype(np.uint8)
    losses = iq.vae_losses(model, x, batch_size=2)
    assert set(losses) == {"total_loss", "reconstruction_loss", "kl_loss"}
    assert losses["reconstruction_loss"] > 0
    assert all(float(m.count) == 0 for m in model.metrics)


def test_loss_curves_figure_has_train_and_heldout_series():
    history = [
        {"step": 10, "total_loss": 3.0, "reconstruction_loss": 2.0, "kl_loss": 1.0},
        {
            "step": 20,
            "total_loss": 2.0,
            "reconstruction_loss": 1.5,
            "kl_loss": 0.5,
            "heldout/total_loss": 2.5,
            "heldout/reconstruction_loss": 2.0,
            "heldout/kl_loss": 0.5,
        },
    ]
    figure = vae_figures.vae_loss_curves_figure(history)
    labels = [line.get_label() for axis in figure.axes for line in axis.lines]
    assert {"total_loss", "heldout/total_loss", "kl_loss", "heldout/kl_loss"} <= set(labels)


def test_fitted_threshold_makes_accuracy_agree_with_auc_on_shifted_logits():
    # An under-trained classifier: it ranks every pair right (AUC 1) but all its
    # logits are negative, so a fixed threshold of 0 calls everything "reconstructed".
    train_logits, train_labels = np.array([-5.0, -4.5, -4.0, -2.0, -1.5, -1.0]), np.array([0, 0, 0, 1, 1, 1])
    threshold = iq.fit_threshold(train_logits, train_labels)
    assert threshold == pytest.approx(-3.0)
    test_logits, test_labels = np.array([-4.8, -3.9, -1.8, -1.2]), np.array([0, 0, 1, 1])
    assert np.mean((test_logits > 0) == test_labels) == 0.5  # the old, inconsistent report
    assert np.mean((test_logits > threshold) == test_labels) == 1.0
    # No separation at all: the threshold nearest 0 among the equally good ones.
    assert iq.fit_threshold([1.0, 1.0], [0, 1]) in (0.0, 2.0)


def test_real_vs_reconstructed_reports_its_threshold_and_consistent_metrics():
    real = _textures(40, seed=2, size=32)
    blurred = np.broadcast_to(real.mean(axis=(1, 2), keepdims=True), real.shape).copy()
    result = iq.real_vs_reconstructed(real, blurred, epochs=3, seed=0)
    assert "threshold" in result
    # Accuracy at the fitted threshold can never fall below what the AUC allows for a perfect ranking.
    if result["auc"] == 1.0:
        assert result["accuracy"] >= 0.9


def test_reconstruction_diversity_is_zero_for_a_collapsed_model_and_one_for_a_perfect_one():
    x = _textures(6, seed=5, size=16)
    collapsed = np.broadcast_to(x.mean(axis=0, keepdims=True), x.shape)
    assert iq.reconstruction_diversity(x, collapsed) == pytest.approx(0.0, abs=1e-6)
    assert iq.reconstruction_diversity(x, x) == pytest.approx(1.0)
    assert 0.4 < iq.reconstruction_diversity(x, 0.5 * x + 0.25) < 0.6


def test_anomaly_score_is_chosen_on_validation_and_reported_on_test():
    normal = {"mse": np.array([0.1, 0.2, 0.3]), "kl": np.array([5.0, 6.0, 7.0])}
    anomaly = {"mse": np.array([0.15, 0.25, 0.35]), "kl": np.array([8.0, 9.0, 10.0])}
    chosen, aucs = iq.select_anomaly_score(normal, anomaly)
    assert chosen == "kl" and aucs["kl"] == 1.0 and aucs["mse"] == pytest.approx(6 / 9)
    # A score that points the other way is picked reversed, "-kl".
    reversed_chosen, _ = iq.select_anomaly_score(
        iq.with_reversed({"mse": normal["mse"], "kl": -normal["kl"]}),
        iq.with_reversed({"mse": anomaly["mse"], "kl": -anomaly["kl"]}),
    )
    assert reversed_chosen == "-kl"
    scores = iq.anomaly_scores(_textures(2, size=16), _textures(2, seed=1, size=16), {"kl": [1.0, 2.0]})
    assert set(scores) == {"mse", "ssim", "kl"} and (scores["ssim"] > 0.5).all()


def test_evaluate_vae_with_model_and_validation_reports_every_score():
    model = build_vae((16, 16, 3), latent_dim=2, seed=0)
    rng = np.random.default_rng(0)
    normal, anomaly = (rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8) for n in (6, 5))
    metrics, extras = iq.evaluate_vae(
        model.reconstruct,
        normal,
        anomaly,
        num_quality_images=4,
        classifier_epochs=0,
        model=model,
        x_normal_validation=normal[:3],
        x_anomaly_validation=anomaly[:3],
    )
    for score in iq.ANOMALY_SCORES:
        assert 0.0 <= metrics[f"anomaly_test_auc_{score}"] <= 1.0
        assert 0.0 <= metrics[f"anomaly_validation_auc_{score}"] <= 1.0
    chosen = metrics["anomaly_score"]
    name, reversed_ = chosen.lstrip("-"), chosen.startswith("-")

    def either_way(auc):
        return max(auc, 1.0 - auc)

    best = max(either_way(metrics[f"anomaly_validation_auc_{s}"]) for s in iq.ANOMALY_SCORES)
    validation = metrics[f"anomaly_validation_auc_{name}"]
    assert (1.0 - validation if reversed_ else validation) == pytest.approx(best)
    test = metrics[f"anomaly_test_auc_{name}"]
    assert metrics["anomaly_roc_auc"] == pytest.approx(1.0 - test if reversed_ else test)
    assert extras["score"] == chosen
    assert 0.0 <= metrics["normal_reconstruction_diversity"]
