"""Saliency, adversarial examples, class visualisation and model access (kerasda.inspect)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda import export
from kerasda.inspect import (
    VisualisationConfig,
    class_visualisation,
    digits_tower_from_export,
    fgsm,
    from_keras,
    from_saved_model,
    load_classifier,
    mass_inside,
    robustness_curve,
    saliency_maps,
    targeted_attack,
)
from kerasda.inspect.figures import adversarial_figure, class_visualisation_figure, robustness_figure, saliency_figure
from kerasda.networks import digits as classifiers
from tests.conftest import make_digits

SIZE = 28


def bar_digits(n, seed):
    """conftest's bar 'digits' as RGB floats in [-1, 1] (the bar's position is the label)."""
    x, y = make_digits(n, np.random.default_rng(seed))
    x = np.repeat(x[..., None], 3, axis=-1).astype(np.float32) / 127.5 - 1.0
    return x, y.astype(np.int64)


@pytest.fixture(scope="module")
def trained_digits():
    """The digits tower (28x28, valid padding) trained for a few seconds on bar digits."""
    keras.utils.set_random_seed(0)
    x, y = bar_digits(600, seed=1)
    extractor = classifiers.build_digits_feature_extractor((SIZE, SIZE, 3), padding="valid")
    predictor = classifiers.build_digits_label_predictor(extractor.output_shape[-1])
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, predictor(extractor(inputs)))
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=4, batch_size=64, verbose=0)
    x_test, y_test = bar_digits(100, seed=2)
    classifier = from_keras(model)
    accuracy = np.mean(classifier.predict_classes(x_test) == y_test)
    assert accuracy > 0.9, f"the tiny digits model did not train ({accuracy:.2f})"
    return classifier, x_test, y_test


def left_half_model(num_classes=3):
    """A model that reads only the left half of the image (columns 0..13)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    left = keras.layers.Cropping2D(((0, 0), (0, SIZE // 2)))(inputs)
    hidden = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(left))
    return keras.Model(inputs, keras.layers.Dense(num_classes)(hidden))


@pytest.mark.parametrize("smoothgrad_samples", [0, 4])
def test_saliency_is_zero_where_the_model_ignores_the_input(smoothgrad_samples):
    keras.utils.set_random_seed(0)
    classifier = from_keras(left_half_model())
    images = np.random.default_rng(0).uniform(-1, 1, (5, SIZE, SIZE, 3)).astype(np.float32)
    maps = saliency_maps(classifier, images, np.array([0, 1, 2, 0, 1]), smoothgrad_samples=smoothgrad_samples)
    assert maps.shape == (5, SIZE, SIZE)
    np.testing.assert_array_equal(maps[:, :, SIZE // 2 :], 0.0)
    assert np.all(maps[:, :, : SIZE // 2].max(axis=(1, 2)) > 0)
    left_mask = np.zeros((5, SIZE, SIZE), bool)
    left_mask[:, :, : SIZE // 2] = True
    np.testing.assert_allclose(mass_inside(maps, left_mask), 1.0)


def test_saliency_matches_the_analytic_gradient_of_a_linear_model():
    inputs = keras.Input((4, 4, 2))
    dense = keras.layers.Dense(3, use_bias=False)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    kernel = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    dense.set_weights([kernel])
    maps = saliency_maps(from_keras(model), np.zeros((2, 4, 4, 2), np.float32), np.array([2, 0]))
    for row, cls in enumerate([2, 0]):
        expected = np.abs(kernel[:, cls].reshape(4, 4, 2)).max(axis=-1)
        np.testing.assert_allclose(maps[row], expected, rtol=1e-6)


def test_targeted_attack_reaches_the_target_class_within_bounded_steps(trained_digits):
    classifier, x, y = trained_digits
    targets = (y + 3) % 10
    result = targeted_attack(classifier, x[:40], targets[:40], step_size=0.25, max_steps=300)
    assert result.success.all(), f"only {result.success.mean():.0%} reached the target"
    np.testing.assert_array_equal(classifier.predict_classes(result.adversarial), targets[:40])
    assert np.all((result.steps >= 1) & (result.steps <= 300))
    delta = (result.adversarial - x[:40]).reshape(40, -1) / 2.0  # full range of [-1, 1] is 2
    np.testing.assert_allclose(result.l2, np.linalg.norm(delta, axis=1), rtol=1e-5)
    assert np.all(result.l2 > 0) and np.all(result.l2 <= 0.25 * result.steps + 1e-5)
    summary = result.summary()
    assert summary["success_rate"] == 1.0 and summary["median_l2"] == pytest.approx(np.median(result.l2))
    assert np.all(result.adversarial >= -1.0) and np.all(result.adversarial <= 1.0)


def test_targeted_attack_takes_no_step_when_the_target_is_already_predicted(trained_digits):
    classifier, x, _ = trained_digits
    predicted = classifier.predict_classes(x[:8])
    result = targeted_attack(classifier, x[:8], predicted, max_steps=5)
    np.testing.assert_array_equal(result.steps, 0)
    np.testing.assert_array_equal(result.adversarial, x[:8])


def test_fgsm_with_zero_epsilon_changes_nothing(trained_digits):
    classifier, x, y = trained_digits
    for steps in (1, 3):
        np.testing.assert_array_equal(fgsm(classifier, x, y, epsilon=0.0, steps=steps), x)
    clean = np.mean(classifier.predict_classes(x) == y)
    curve = robustness_curve(classifier, x, y, [0.0, 0.1, 0.3])
    assert curve[0] == pytest.approx(clean)
    assert curve[2] < curve[0]


def test_fgsm_stays_inside_the_linf_budget(trained_digits):
    classifier, x, y = trained_digits
    adversarial = fgsm(classifier, x, y, epsilon=8 / 255, steps=4)
    change = np.abs(adversarial - x).max()
    assert 0 < change <= 2 * 8 / 255 + 1e-6  # budget in units of the full range (2 for [-1, 1])


def test_class_visualisation_raises_the_class_score(trained_digits):
    classifier, _, _ = trained_digits
    classes = np.array([0, 4, 9])
    config = VisualisationConfig(iterations=40, learning_rate=0.05, l2_weight=0.001, jitter=1, blur_every=10)
    images, scores = class_visualisation(classifier, classes, config)
    assert images.shape == (3, SIZE, SIZE, 3) and scores.shape == (41, 3)
    assert np.all(scores[-1] > scores[0] + 1.0)
    np.testing.assert_array_equal(classifier.predict_classes(images), classes)
    assert images.min() >= -1.0 and images.max() <= 1.0


def test_class_visualisation_validates_its_knobs():
    with pytest.raises(ValueError, match="iterations"):
        VisualisationConfig(iterations=0)


@pytest.mark.parametrize("standardization", ["image", "principal_colour"])
def test_digits_export_is_rebuilt_as_a_keras_tower_with_the_same_outputs(tmp_path, standardization):
    # With DANN's per-image standardisation in front: the rebuild must find it (no front end is tried first).
    from kerasda.networks.digits import build_feature_extractor

    keras.utils.set_random_seed(0)
    extractor = build_feature_extractor((SIZE, SIZE, 3), standardization, padding="valid")
    predictor = classifiers.build_digits_label_predictor(extractor.output_shape[-1])
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, predictor(extractor(inputs)))
    path = export.export_classifier(model, "tiny", (SIZE, SIZE, 3), export_dir=tmp_path / "tiny" / "1")
    x, _ = bar_digits(6, seed=3)

    rebuilt = digits_tower_from_export(str(path))
    np.testing.assert_allclose(rebuilt(x).numpy(), model(x).numpy(), atol=1e-4)
    front = extractor.get_layer("input_standardization")
    assert type(rebuilt.get_layer("input_standardization")) is type(front)
    assert rebuilt.get_layer("fc2").output.shape[-1] == 100

    loaded = load_classifier(path)
    assert loaded.score_kind == "logits" and loaded.name == "tiny" and loaded.image_shape == (SIZE, SIZE, 3)
    signature = from_saved_model(str(path))
    assert signature.score_kind == "log_probabilities"
    np.testing.assert_allclose(signature.scores(tf.constant(x)).numpy(), tf.nn.log_softmax(model(x)).numpy(), atol=1e-4)
    # Gradients flow through the serving signature too.
    maps = saliency_maps(signature, x, np.zeros(6, np.int64))
    assert maps.shape == (6, SIZE, SIZE) and maps.max() > 0


def test_figures_are_written(tmp_path, trained_digits):
    classifier, x, y = trained_digits
    maps = saliency_maps(classifier, x[:3], y[:3])
    paths = [
        saliency_figure(x[:3], {"a": maps, "b": maps}, tmp_path / "s.png"),
        adversarial_figure(x[:2], x[:2] + 0.1, y[:2], y[:2], [1, 2], tmp_path / "a.png"),
        class_visualisation_figure({"a": x[:3]}, [0, 1, 2], tmp_path / "c.png"),
        robustness_figure([0, 1 / 255], {"a": [1.0, 0.5]}, tmp_path / "r.png"),
    ]
    for path in paths:
        assert path.stat().st_size > 1000


def test_an_export_of_another_architecture_is_differentiated_through_its_signature(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    hidden = keras.layers.Dense(5, activation="relu", name="private")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4, name="out")(hidden))
    path = export.export_classifier(model, "other", (8, 8, 3), export_dir=tmp_path / "other" / "1")
    classifier = load_classifier(path)
    assert classifier.score_kind == "log_probabilities" and classifier.num_classes == 4
    with pytest.raises(ValueError, match="Not a plain digits-tower export"):
        digits_tower_from_export(str(path))
    x = np.random.default_rng(0).uniform(-1, 1, (3, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(fgsm(classifier, x, np.array([0, 1, 2]), epsilon=0.0), x)
