"""Classifier-based scores of generated digits: Frechet distance, histograms, label accuracy."""

import json
import math

import numpy as np
import pytest

from kerasda.evaluation import class_scores, digits_judge, frechet, sampling
from kerasda.networks.digits import build_digits_classifier


def test_frechet_distance_of_identical_feature_sets_is_zero():
    features = np.random.default_rng(0).standard_normal((500, 6))
    assert frechet.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_a_shifted_set_is_the_squared_shift():
    features = np.random.default_rng(1).standard_normal((400, 5))
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    # Same covariance, so the trace term vanishes: d = ||shift||^2 = 1 + 4 + 0.25 + 9.
    assert frechet.frechet_distance(features, features + shift) == pytest.approx(14.25, rel=1e-6)


def test_frechet_distance_of_diagonal_gaussians_matches_closed_form():
    mean_a, mean_b = np.array([0.0, 1.0]), np.array([2.0, 1.0])
    var_a, var_b = np.array([1.0, 4.0]), np.array([9.0, 1.0])
    # Diagonal covariances: Tr(A + B - 2 sqrt(AB)) = sum (sqrt a - sqrt b)^2 = (1-3)^2 + (2-1)^2.
    expected = 4.0 + (4.0 + 1.0)
    value = frechet.frechet_distance_from_moments(mean_a, np.diag(var_a), mean_b, np.diag(var_b))
    assert value == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="Moments must match"):
        ramp = np.arange(10.0)[:, None]
        frechet.frechet_distance(ramp * np.ones((1, 3)), ramp * np.ones((1, 4)))


def test_class_histogram_of_uniform_predictions_has_maximal_entropy_and_ratio_one():
    scores = class_scores.class_histogram_scores(np.arange(1000) % 10)
    assert scores["class_counts"] == [100] * 10
    assert scores["entropy"] == pytest.approx(math.log(10))
    assert scores["normalized_entropy"] == pytest.approx(1.0)
    assert scores["max_min_ratio"] == pytest.approx(1.0)
    assert scores["classes_present"] == 10


def test_class_histogram_reports_ratio_and_missing_modes():
    predicted = np.array([0] * 6 + [1] * 3 + [2] * 1)
    scores = class_scores.class_histogram_scores(predicted, num_classes=3)
    p = np.array([0.6, 0.3, 0.1])
    assert scores["entropy"] == pytest.approx(float(-(p * np.log(p)).sum()))
    assert scores["max_min_ratio"] == pytest.approx(6.0)
    missing = class_scores.class_histogram_scores(np.array([0, 0, 1]), num_classes=3)
    assert missing["classes_present"] == 2 and missing["max_min_ratio"] is None
    json.dumps(missing)  # JSON-safe: no infinities


def test_label_accuracy_counts_requested_equals_predicted():
    assert class_scores.label_accuracy([0, 1, 2, 3], [0, 1, 0, 3]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="as many predictions"):
        class_scores.label_accuracy([0, 1], [0])


def test_penultimate_feature_model_shares_the_classifier_layers_and_outputs_fc2():
    classifier = build_digits_classifier()
    features_model = digits_judge.penultimate_feature_model(classifier)
    images = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    features = np.asarray(features_model(images))
    assert features.shape == (3, 100)
    assert (features >= 0).all()  # after fc2's ReLU
    fc2_weights = classifier.get_layer("label_predictor").get_layer("fc2").kernel
    logits_layer = classifier.get_layer("label_predictor").get_layer("logits")
    np.testing.assert_allclose(
        features @ np.asarray(logits_layer.kernel) + np.asarray(logits_layer.bias),
        np.asarray(classifier(images)),
        rtol=1e-4,
        atol=1e-5,
    )
    assert fc2_weights is features_model.get_layer("fc2").kernel


def test_judge_scores_grey_samples_against_reference_and_finds_identical_sets_close():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    judge = digits_judge.DigitsJudge(build_digits_classifier(), reference, batch_size=16)
    same = judge.frechet_distance(reference)
    grey = rng.uniform(-1, 1, (64, 32, 32, 1)).astype(np.float32)
    labels = np.arange(64) % 10
    scores = judge.score(grey, labels)
    assert same == pytest.approx(0.0, abs=1e-3)
    assert scores["frechet_distance"] > same
    assert 0.0 <= scores["label_accuracy"] <= 1.0
    assert len(scores["label_accuracy_per_class"]) == 10
    assert sum(scores["class_counts"]) == scores["num_samples"] == 64


def test_generate_samples_requests_every_class_equally_and_is_seeded():
    calls = []

    def generate(noise, labels):
        calls.append(len(noise))
        return np.tanh(noise[:, :1, None, None] * np.ones((1, 4, 4, 1), np.float32))

    kwargs = dict(latent_dim=3, num_classes=5, batch_size=10, seed=1)
    images, labels = sampling.generate_samples(generate, 25, **kwargs)
    again, _ = sampling.generate_samples(generate, 25, **kwargs)
    assert images.shape == (25, 4, 4, 1) and calls == [10, 10, 5, 10, 10, 5]
    assert np.bincount(labels).tolist() == [5] * 5
    np.testing.assert_array_equal(images, again)


def test_cached_classifier_is_loaded_without_data(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASDA_DATA_DIR", str(tmp_path / "no-data-here"))
    classifier = build_digits_classifier()
    stem = tmp_path / "digits_classifier_mnist_e2_s0"
    classifier.save_weights(str(stem) + ".weights.h5")
    (tmp_path / "digits_classifier_mnist_e2_s0.json").write_text(json.dumps({"test_accuracy": 0.5}))
    loaded, info = digits_judge.load_or_train_digits_classifier(cache_dir=tmp_path)
    assert info["trained_now"] is False and info["test_accuracy"] == 0.5
    images = np.zeros((2, 32, 32, 3), np.float32)
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(classifier(images)), rtol=1e-6)


def test_frechet_distance_agrees_with_scipy_sqrtm_for_full_covariances():
    import scipy.linalg

    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    cov_a, cov_b = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mean_a, mean_b = rng.standard_normal(4), rng.standard_normal(4)
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(scipy.linalg.sqrtm(cov_a @ cov_b)))
    value = frechet.frechet_distance_from_moments(mean_a, cov_a, mean_b, cov_b)
    assert value == pytest.approx(expected, rel=1e-8)


def test_judge_predictions_equal_the_classifier_argmax():
    classifier = build_digits_classifier()
    images = np.random.default_rng(3).uniform(-1, 1, (20, 32, 32, 3)).astype(np.float32)
    judge = digits_judge.DigitsJudge(classifier, images)
    np.testing.assert_array_equal(judge.predict(images), np.asarray(classifier(images)).argmax(-1))


def test_sample_quality_callback_logs_the_judge_scores_at_the_evaluated_step(tmp_path):
    from kerasda import runner
    from kerasda.callbacks import SampleQualityEvaluation

    class _Judge:
        def score(self, images, labels):
            return {
                "frechet_distance": float(images.mean()) + 2.0,
                "normalized_entropy": 0.5,
                "max_min_ratio": None,
                "label_accuracy": float(np.mean(labels == 0)),
            }

    run = runner.Run(runner.RunConfig("t", output_dir=str(tmp_path)))
    callback = SampleQualityEvaluation(
        run,
        _Judge(),
        lambda noise, labels: np.zeros((len(noise), 2, 2, 1), np.float32),
        latent_dim=3,
        num_classes=4,
        num_samples=8,
    )
    callback.on_evaluate(7)
    expected = {"step": 7, "eval/frechet_distance": 2.0, "eval/normalized_entropy": 0.5, "eval/label_accuracy": 0.25}
    assert callback.history == [expected]
    assert run.read_history() == [expected]
