"""How well do learned features align two domains? t-SNE, projector files, A-distance.

- `tsne_2d` + `embedding_figures.tsne_figure`: a 2-D map of features coloured by domain (are the
  domains mixed?) and by class (are the classes still separated?), the figure of
  Ganin & Lempitsky (2015, fig. 4).
- `write_projector`: the same features for TensorBoard's embedding projector.
- `proxy_a_distance`: `2 (1 - 2 err)` where `err` is the test error of a linear
  classifier trained to tell the domains apart (Ben-David et al., 2007): 2 when
  the domains are perfectly separable, 0 when they are indistinguishable.
"""

import pathlib
import warnings

import numpy as np
import tensorflow as tf
from sklearn import decomposition, manifold, model_selection, preprocessing, svm
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from kerasda.evaluation.embedding_figures import tsne_figure

DEFAULT_C_VALUES = (0.001, 0.01, 0.1, 1.0)


def stack_domains(source_features, target_features):
    """(features, domain ids) with source = 0, target = 1."""
    features = np.concatenate([source_features, target_features], axis=0)
    domains = np.concatenate([np.zeros(len(source_features), np.int64), np.ones(len(target_features), np.int64)])
    return features, domains


def tsne_2d(features, seed=0, perplexity=30.0, pca_dims=50):
    """2-D t-SNE of `features` ([N, D]); PCA to `pca_dims` first, as is customary,
    which makes t-SNE several times faster on 3072-d conv features.

    Runs single-threaded: scikit-learn's OpenMP threads spin-wait, which made
    t-SNE of 1,000 points 6x slower (and 40x for 80 points) on 2 busy cores.
    """
    features = np.asarray(features, np.float32).reshape(len(features), -1)
    if len(features) < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {len(features)}.")
    with threadpool_limits(1):
        if pca_dims and features.shape[1] > pca_dims and len(features) > pca_dims:
            features = decomposition.PCA(pca_dims, random_state=seed).fit_transform(features)
        perplexity = min(perplexity, (len(features) - 1) / 3.0)
        return manifold.TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
            features
        )


def write_projector(log_dir, embeddings, metadata):
    """Write features for TensorBoard's projector tab into `log_dir`.

    Args:
        log_dir: the run's TensorBoard directory.
        embeddings: {name: features [N, D]}; several names (e.g. "source_only",
            "dann") appear as separate tensors in the projector's menu.
        metadata: {column: values [N]} shared by all embeddings (e.g. domain,
            label), written as `metadata.tsv` with a header row.

    Returns:
        The path of `projector_config.pbtxt`.
    """
    from tensorboard.plugins import projector

    log_dir = pathlib.Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    if not embeddings:
        raise ValueError("embeddings must hold at least one {name: features}.")
    sizes = {name: len(x) for name, x in embeddings.items()}
    sizes.update({f"metadata[{c}]": len(v) for c, v in metadata.items()})
    if len(set(sizes.values())) != 1:
        raise ValueError(f"All embeddings and metadata columns need the same length, got {sizes}.")

    columns = list(metadata)
    rows = (
        ["\t".join(columns)]
        + ["\t".join(str(metadata[c][i]) for c in columns) for i in range(len(metadata[columns[0]]))]
        if columns
        else []
    )
    if columns:
        (log_dir / "metadata.tsv").write_text("\n".join(rows) + "\n")

    variables = {
        name: tf.Variable(np.asarray(x, np.float32).reshape(len(x), -1), trainable=False)
        for name, x in embeddings.items()
    }
    checkpoint_prefix = tf.train.Checkpoint(**variables).save(str(log_dir / "embeddings.ckpt"))

    config = projector.ProjectorConfig()
    config.model_checkpoint_path = pathlib.Path(checkpoint_prefix).name
    for name in embeddings:
        embedding = config.embeddings.add()
        embedding.tensor_name = f"{name}/.ATTRIBUTES/VARIABLE_VALUE"
        if columns:
            embedding.metadata_path = "metadata.tsv"
    projector.visualize_embeddings(str(log_dir), config)
    return log_dir / "projector_config.pbtxt"


def proxy_a_distance(source_features, target_features, seed=0, test_fraction=0.5, c_values=DEFAULT_C_VALUES):
    """Proxy A-distance `2 (1 - 2 err)` between two sets of features.

    A linear SVM learns to tell source (0) from target (1) on one part of the
    data; `err` is its error on the held-out part, minimised over `c_values` (as
    in Ganin et al.'s published code). Features are standardised first.

    Returns:
        dict(proxy_a_distance, domain_classifier_error, C).
    """
    features, domains = stack_domains(
        np.asarray(source_features).reshape(len(source_features), -1),
        np.asarray(target_features).reshape(len(target_features), -1),
    )
    if min(len(source_features), len(target_features)) < 4:
        raise ValueError("proxy_a_distance needs at least 4 examples per domain.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    train_idx, test_idx = model_selection.train_test_split(  # stratified: both domains on both sides
        np.arange(len(domains)), test_size=test_fraction, stratify=domains, random_state=seed
    )
    scaler = preprocessing.StandardScaler().fit(features[train_idx])
    x_train, x_test = scaler.transform(features[train_idx]), scaler.transform(features[test_idx])

    best_error, best_c = 1.0, None
    for c in c_values:
        classifier = svm.LinearSVC(C=c, dual="auto", max_iter=2000, random_state=seed)
        with warnings.catch_warnings():  # an unconverged SVM still gives an error bound
            warnings.simplefilter("ignore", ConvergenceWarning)
            classifier.fit(x_train, domains[train_idx])
        error = float(np.mean(classifier.predict(x_test) != domains[test_idx]))
        if error < best_error:
            best_error, best_c = error, c
    return {
        "proxy_a_distance": 2.0 * (1.0 - 2.0 * best_error),
        "domain_classifier_error": best_error,
        "C": best_c,
    }


def compare_embeddings(
    embedders,
    source,
    target,
    tsne_examples=500,
    pad_examples=2000,
    seed=0,
    value_range=(-1.0, 1.0),
    domain_names=("source", "target"),
    class_names=None,
    projector_dir=None,
):
    """t-SNE figure, proxy A-distance and projector files for several feature extractors.

    Every embedder sees the same random (seeded) test images of both domains,
    so e.g. a source-only network and DANN are compared on equal terms.

    Args:
        embedders: {name: fn(float32 images in `value_range`) -> features [N, D]}.
        source, target: (uint8 images [N, H, W, 3], labels [N]); labels colour
            the class panels only.
        tsne_examples: images per domain in the t-SNE map and the projector.
        pad_examples: images per domain for the proxy A-distance (half train, half test).
        projector_dir: if given, the features are written there for TensorBoard.

    Returns:
        ({name: proxy_a_distance(...) dict}, matplotlib figure).
    """
    from kerasda.data import pipeline

    rng = np.random.default_rng(seed)
    picks = []
    for images, _ in (source, target):
        count = min(max(tsne_examples, pad_examples), len(images))
        picks.append(np.sort(rng.choice(len(images), count, replace=False)))
    (xs, ys), (xt, yt) = [
        (images[idx], np.asarray(labels)[idx]) for (images, labels), idx in zip((source, target), picks)
    ]
    k_s, k_t = min(tsne_examples, len(xs)), min(tsne_examples, len(xt))
    labels = np.concatenate([ys[:k_s], yt[:k_t]])
    results, panels, projected = {}, {}, {}
    for name, embed in embedders.items():
        fs = np.asarray(embed(pipeline.to_model_range(xs, value_range)))
        ft = np.asarray(embed(pipeline.to_model_range(xt, value_range)))
        fs, ft = fs.reshape(len(fs), -1), ft.reshape(len(ft), -1)
        results[name] = proxy_a_distance(fs[:pad_examples], ft[:pad_examples], seed=seed)
        features, domains = stack_domains(fs[:k_s], ft[:k_t])
        panels[f"{name} (PAD {results[name]['proxy_a_distance']:.2f})"] = (
            tsne_2d(features, seed=seed),
            domains,
            labels,
        )
        projected[name] = features
    if projector_dir is not None:
        domain_column = np.asarray(domain_names)[stack_domains(ys[:k_s], yt[:k_t])[1]]
        class_column = [class_names[k] if class_names is not None else k for k in labels]
        write_projector(projector_dir, projected, {"domain": domain_column, "label": class_column})
    return results, tsne_figure(panels, domain_names, class_names)
