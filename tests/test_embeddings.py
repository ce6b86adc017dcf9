"""t-SNE, TensorBoard projector files and the proxy A-distance."""

import numpy as np
import pytest
import tensorflow as tf

from kerasda.evaluation import embedding_figures, embeddings


def _gaussians(shift, n=200, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)), rng.normal(size=(n, dim)) + shift


def test_proxy_a_distance_is_near_two_for_separable_domains():
    source, target = _gaussians(shift=5.0)
    result = embeddings.proxy_a_distance(source, target)
    assert result["domain_classifier_error"] == 0.0
    assert result["proxy_a_distance"] == pytest.approx(2.0)


def test_proxy_a_distance_is_near_zero_for_identical_domains():
    source, target = _gaussians(shift=0.0, n=400)
    result = embeddings.proxy_a_distance(source, target)
    assert abs(result["proxy_a_distance"]) < 0.4  # err ~ 0.5 up to sampling noise
    assert result["C"] in embeddings.DEFAULT_C_VALUES


def test_proxy_a_distance_grows_with_the_domain_shift():
    distances = [embeddings.proxy_a_distance(*_gaussians(shift))["proxy_a_distance"] for shift in (0.1, 0.5, 2.0)]
    assert distances == sorted(distances)


def test_proxy_a_distance_rejects_tiny_inputs_and_bad_fractions():
    with pytest.raises(ValueError, match="at least 4"):
        embeddings.proxy_a_distance(np.zeros((2, 3)), np.zeros((9, 3)))
    with pytest.raises(ValueError, match="test_fraction"):
        embeddings.proxy_a_distance(*_gaussians(1.0), test_fraction=1.5)


def test_tsne_keeps_well_separated_clusters_apart():
    source, target = _gaussians(shift=20.0, n=40, dim=60)
    features, domains = embeddings.stack_domains(source, target)
    points = embeddings.tsne_2d(features, seed=0, pca_dims=10)
    assert points.shape == (80, 2) and np.all(np.isfinite(points))
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argmin(distances, axis=1)
    assert np.mean(domains[nearest] == domains) > 0.95


def test_tsne_figure_has_a_domain_and_a_class_panel_per_embedding():
    rng = np.random.default_rng(0)
    panel = (rng.normal(size=(20, 2)), np.repeat([0, 1], 10), rng.integers(0, 3, 20))
    figure = embedding_figures.tsne_figure({"source only": panel, "DANN": panel}, class_names=["a", "b", "c"])
    assert len(figure.axes) == 4
    assert figure.axes[0].get_title() == "source only: by domain"
    assert figure.axes[3].get_title() == "DANN: by class"


def test_write_projector_writes_config_metadata_and_tensors(tmp_path):
    features = {"source_only": np.ones((6, 4)), "dann": np.arange(24.0).reshape(6, 4)}
    metadata = {"domain": ["mnist"] * 3 + ["mnist_m"] * 3, "label": [0, 1, 2, 0, 1, 2]}
    config_path = embeddings.write_projector(tmp_path, features, metadata)
    config = config_path.read_text()
    assert config.count("embeddings {") == 2
    assert "dann/.ATTRIBUTES/VARIABLE_VALUE" in config and "metadata.tsv" in config
    rows = (tmp_path / "metadata.tsv").read_text().splitlines()
    assert rows[0] == "domain\tlabel" and rows[4] == "mnist_m\t0" and len(rows) == 7
    checkpoint = tf.train.latest_checkpoint(str(tmp_path))
    stored = tf.train.load_variable(checkpoint, "dann/.ATTRIBUTES/VARIABLE_VALUE")
    np.testing.assert_array_equal(stored, features["dann"])


def test_write_projector_rejects_mismatched_lengths(tmp_path):
    with pytest.raises(ValueError, match="same length"):
        embeddings.write_projector(tmp_path, {"a": np.ones((3, 2))}, {"label": [0, 1]})


def test_compare_embeddings_scores_each_embedder_on_the_same_images(tmp_path):
    rng = np.random.default_rng(0)
    source = (rng.integers(0, 60, (40, 4, 4, 3), dtype=np.uint8), rng.integers(0, 3, 40))
    target = (rng.integers(190, 256, (40, 4, 4, 3), dtype=np.uint8), rng.integers(0, 3, 40))
    seen = []

    def mean_colour(images):  # separates the domains perfectly
        seen.append(images)
        return images.reshape(len(images), -1, 3).mean(axis=1)

    def noise(images):  # carries no domain information
        return np.random.default_rng(len(images)).normal(size=(len(images), 5))

    results, figure = embeddings.compare_embeddings(
        {"colour": mean_colour, "noise": noise},
        source,
        target,
        tsne_examples=20,
        pad_examples=30,
        seed=1,
        class_names=["a", "b", "c"],
        projector_dir=tmp_path / "projector",
    )
    assert results["colour"]["proxy_a_distance"] == pytest.approx(2.0)
    assert results["noise"]["proxy_a_distance"] < 1.0
    assert -1.0 <= seen[0].min() and seen[0].max() <= 1.0  # images reach embedders in [-1, 1]
    assert len(figure.axes) == 4
    assert len((tmp_path / "projector" / "metadata.tsv").read_text().splitlines()) == 1 + 40
