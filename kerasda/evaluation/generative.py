"""Quality scores for generated digits, judged by a classifier trained on real MNIST.

A GAN is judged by the same digits tower the adaptation methods use
(`kerasda.models.classifiers.build_digits_classifier`), trained once on real
MNIST and cached:

- label accuracy: the fraction of conditional samples G(z, c) that the
  classifier assigns to the requested class c (does conditioning work?);
- class histogram of samples with its entropy and max/min class ratio (mode
  coverage: a collapsed generator draws few digits, or some far more often);
- Frechet distance between real MNIST test images and samples in the
  classifier's penultimate layer (FID's formula with a digits network instead
  of Inception, so the numbers are comparable between runs of this project,
  not with published FIDs).

It also draws the GAN figures (fixed-noise grid, latent interpolation, class x
noise grid, class-swap pairs) from any `generate_fn(noise, labels)`.

Images are float arrays in [-1, 1] with 1 or 3 channels (grey images are
repeated to RGB, which is how the MNIST domain is stored).
"""

import json
import math

import keras
import numpy as np

from kerasda.callbacks.base import RunCallback
from kerasda.data import load_domain, paths, pipeline
from kerasda.evaluation import plots
from kerasda.networks.digits import build_digits_classifier

CLASSIFIER_IMAGE_SHAPE = (32, 32, 3)


# --------------------------------------------------------------------- scores


def frechet_distance_from_moments(mean_a, cov_a, mean_b, cov_b):
    """||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)) between two Gaussians.

    Tr((C_a C_b)^(1/2)) is computed as the sum of square roots of the
    eigenvalues of the symmetric matrix C_a^(1/2) C_b C_a^(1/2), which has the
    same spectrum as C_a C_b: no complex round-off and no failure on the
    singular covariances that dead ReLU features produce (the usual
    `scipy.linalg.sqrtm(C_a @ C_b)` needs an epsilon fallback for those).
    """
    mean_a, mean_b = np.atleast_1d(mean_a).astype(np.float64), np.atleast_1d(mean_b).astype(np.float64)
    cov_a, cov_b = np.atleast_2d(cov_a).astype(np.float64), np.atleast_2d(cov_b).astype(np.float64)
    if mean_a.shape != mean_b.shape or cov_a.shape != cov_b.shape:
        raise ValueError(
            f"Moments must match: means {mean_a.shape} vs {mean_b.shape}, "
            f"covariances {cov_a.shape} vs {cov_b.shape}."
        )
    sqrt_a = _psd_sqrt(cov_a)
    eigenvalues = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_sqrt_product = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mean_a - mean_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt_product
    return float(max(value, 0.0))


def _psd_sqrt(matrix):
    """Symmetric square root of a positive semi-definite matrix."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def feature_moments(features):
    """Mean and (unbiased) covariance of features [N, D]."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features must be [N >= 2, D], got shape {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(features_a, features_b):
    """Frechet distance between Gaussians fitted to two feature sets [N, D]."""
    return frechet_distance_from_moments(*feature_moments(features_a), *feature_moments(features_b))


def label_accuracy(requested_labels, predicted_labels):
    """Fraction of samples classified as the label they were generated for."""
    requested, predicted = np.asarray(requested_labels), np.asarray(predicted_labels)
    if requested.shape != predicted.shape or requested.size == 0:
        raise ValueError(
            f"Need as many predictions as requests, got {predicted.shape} and {requested.shape}."
        )
    return float(np.mean(requested == predicted))


def class_histogram_scores(predicted_labels, num_classes=10):
    """Mode coverage of samples from their predicted classes.

    Returns:
        dict with `class_counts` (list), `classes_present`, `entropy` (nats;
        log(num_classes) when uniform), `normalized_entropy` (in [0, 1]) and
        `max_min_ratio` (most / least frequent class; None when a class is
        missing, since the ratio is then infinite).
    """
    predicted = np.asarray(predicted_labels).astype(np.int64).ravel()
    if predicted.size == 0:
        raise ValueError("class_histogram_scores needs at least one prediction.")
    if predicted.min() < 0 or predicted.max() >= num_classes:
        raise ValueError(
            f"Predictions must lie in [0, {num_classes}), got {predicted.min()}..{predicted.max()}."
        )
    counts = np.bincount(predicted, minlength=num_classes)
    frequencies = counts / counts.sum()
    nonzero = frequencies[frequencies > 0]
    entropy = max(0.0, float(-(nonzero * np.log(nonzero)).sum()))  # never -0.0
    return {
        "class_counts": counts.tolist(),
        "classes_present": int((counts > 0).sum()),
        "entropy": entropy,
        "normalized_entropy": entropy / math.log(num_classes),
        "max_min_ratio": float(counts.max() / counts.min()) if counts.min() > 0 else None,
    }


# -------------------------------------------------------- the judge classifier


def _linear_layers(classifier):
    """The layers of a linear tower in order, nested sub-models flattened."""

    def flatten(layer):
        if isinstance(layer, keras.Model):
            return [leaf for sub in layer.layers for leaf in flatten(sub)]
        if isinstance(layer, keras.layers.InputLayer):
            return []
        return [layer]

    return [leaf for layer in classifier.layers for leaf in flatten(layer)]


def penultimate_feature_model(classifier):
    """The classifier up to (and including) its last hidden layer.

    Works for linear towers, nested sub-models included (the digits
    classifier is feature_extractor -> label_predictor); the layers are shared,
    not copied.
    """
    inputs = keras.Input(shape=classifier.input_shape[1:], name="images")
    x = inputs
    for layer in _linear_layers(classifier)[:-1]:
        x = layer(x)
    return keras.Model(inputs, x, name="penultimate_features")


def train_digits_classifier(x_train, y_train, epochs=2, batch_size=128, seed=0, verbose=2):
    """Trains the digits tower on uint8 [N, 32, 32, 3] images (scaled to [-1, 1])."""
    keras.utils.set_random_seed(seed)
    classifier = build_digits_classifier(CLASSIFIER_IMAGE_SHAPE, num_classes=10)
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=False,
    )
    classifier.fit(
        pipeline.to_model_range(x_train), np.asarray(y_train), batch_size=batch_size, epochs=epochs,
        verbose=verbose,
    )
    return classifier


def load_digits_classifier(weights_path):
    """The digits tower with weights saved by `save_weights` (a `.weights.h5` file)."""
    classifier = build_digits_classifier(CLASSIFIER_IMAGE_SHAPE, num_classes=10)
    classifier.load_weights(str(weights_path))
    return classifier


def load_or_train_digits_classifier(
    data_dir=None, cache_dir=None, epochs=2, seed=0, weights_path=None, verbose=2
):
    """The MNIST judge classifier: loaded from the cache, or trained once and cached.

    The weights live in `<cache_dir>/digits_classifier_mnist_e{epochs}_s{seed}.weights.h5`
    (cache dir: `cache_dir`, `$KERASDA_CACHE_DIR` or `~/.cache/kerasda`) next to
    a JSON file with its MNIST test accuracy. Training takes 1-2 minutes on two
    CPU cores. An explicit `weights_path` is loaded instead (test accuracy unknown).

    Returns:
        (classifier, info) with info = {"path", "test_accuracy", "trained_now"}.
    """
    if weights_path is not None:
        classifier = load_digits_classifier(weights_path)
        return classifier, {"path": str(weights_path), "test_accuracy": None, "trained_now": False}
    stem = paths.resolve_cache_dir(cache_dir) / f"digits_classifier_mnist_e{epochs}_s{seed}"
    weights_path = stem.parent / (stem.name + ".weights.h5")
    info_path = stem.parent / (stem.name + ".json")
    if weights_path.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        return load_digits_classifier(weights_path), {
            **info, "path": str(weights_path), "trained_now": False
        }
    mnist = load_domain("mnist", data_dir=data_dir, image_size=32, seed=seed, cache_dir=cache_dir)
    classifier = train_digits_classifier(
        mnist.x_train, mnist.y_train, epochs=epochs, seed=seed, verbose=verbose
    )
    predicted = _predict_logits(classifier, pipeline.to_model_range(mnist.x_test)).argmax(axis=-1)
    info = {"test_accuracy": label_accuracy(mnist.y_test, predicted), "epochs": epochs, "seed": seed}
    classifier.save_weights(str(weights_path))
    info_path.write_text(json.dumps(info, indent=2))
    return classifier, {**info, "path": str(weights_path), "trained_now": True}


class DigitsJudge:
    """Scores generated digits with a classifier trained on real digits.

    Args:
        classifier: images [B, 32, 32, 3] in [-1, 1] -> logits [B, 10].
        reference_images: real images (uint8 [N, H, W, C], or float in
            [-1, 1]) whose penultimate features are the Frechet reference,
            typically the MNIST test set.
        batch_size: inference batch size.

    Example:
        >>> classifier, _ = load_or_train_digits_classifier()
        >>> judge = DigitsJudge(classifier, mnist.x_test)
        >>> judge.score(samples, requested_labels)["label_accuracy"]
    """

    def __init__(self, classifier, reference_images, batch_size=500):
        self.classifier = classifier
        self.num_classes = int(classifier.output_shape[-1])
        self.feature_model = penultimate_feature_model(classifier)
        self.logits_layer = _linear_layers(classifier)[-1]
        self.batch_size = int(batch_size)
        reference = self.features(reference_images)
        self.reference_moments = feature_moments(reference)

    def _prepare(self, images):
        images = np.asarray(images)
        if images.dtype == np.uint8:
            images = pipeline.to_model_range(images)
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(f"images must be [N, H, W, 1 or 3], got shape {images.shape}.")
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        return images.astype(np.float32)

    def predict(self, images):
        """Predicted classes (int [N])."""
        return self._classes(self.features(images))

    def _classes(self, features):
        return np.asarray(self.logits_layer(features)).argmax(-1)

    def features(self, images):
        """Penultimate-layer features [N, D]."""
        return _predict_logits(self.feature_model, self._prepare(images), self.batch_size)

    def frechet_distance(self, images):
        """Frechet distance between `images` and the reference set."""
        return frechet_distance_from_moments(
            *feature_moments(self.features(images)), *self.reference_moments
        )

    def score(self, images, requested_labels=None):
        """All scores of one batch of samples.

        Returns:
            dict with `frechet_distance`, the `class_histogram_scores` keys and,
            when `requested_labels` is given, `label_accuracy` and
            `label_accuracy_per_class` (list).
        """
        features = self.features(images)
        predicted = self._classes(features)  # one pass through the tower for both scores
        scores = {
            "num_samples": int(len(features)),
            "frechet_distance": frechet_distance_from_moments(
                *feature_moments(features), *self.reference_moments
            ),
            **class_histogram_scores(predicted, self.num_classes),
        }
        if requested_labels is not None:
            requested = np.asarray(requested_labels).astype(np.int64)
            scores["label_accuracy"] = label_accuracy(requested, predicted)
            scores["label_accuracy_per_class"] = [
                label_accuracy(requested[requested == c], predicted[requested == c])
                if np.any(requested == c)
                else None
                for c in range(self.num_classes)
            ]
        return scores


def generate_samples(generate_fn, num_samples, latent_dim, num_classes=None, batch_size=500, seed=0):
    """Draws samples from a generator with its own seeded noise.

    Args:
        generate_fn: `(noise, labels) -> images` (labels None when unconditional),
            e.g. a GAN model's `generate`.
        num_samples: how many images.
        latent_dim: size of z.
        num_classes: if given, labels cycle through 0..num_classes-1 so every
            class is requested equally often.
        batch_size: generation batch size.
        seed: numpy seed of the noise (independent of the model's seed).

    Returns:
        (images float32 [N, H, W, C] in [-1, 1], labels int [N] or None).
    """
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((num_samples, latent_dim)).astype(np.float32)
    labels = None if num_classes is None else (np.arange(num_samples) % num_classes).astype(np.int32)
    images = []
    for start in range(0, num_samples, batch_size):
        batch_labels = None if labels is None else labels[start : start + batch_size]
        images.append(np.asarray(generate_fn(noise[start : start + batch_size], batch_labels)))
    return np.concatenate(images).astype(np.float32), labels


def evaluate_generator(generate_fn, judge, latent_dim, num_classes=None, num_samples=10000, seed=0):
    """`judge.score` of `num_samples` fresh samples (class-balanced when conditional)."""
    images, labels = generate_samples(
        generate_fn, num_samples, latent_dim, num_classes=num_classes, seed=seed
    )
    return judge.score(images, labels)


def _predict_logits(model, images, batch_size=500):
    outputs = [
        np.asarray(model(images[start : start + batch_size], training=False))
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(outputs)



class SampleQualityEvaluation(RunCallback):
    """Scores fresh samples every epoch: quality over training time in TensorBoard.

    Logs `eval/frechet_distance`, `eval/normalized_entropy`, `eval/max_min_ratio`
    and, for conditional generators, `eval/label_accuracy` (also appended to the
    run's history). With few samples the Frechet distance is biased upwards, so
    compare these curves with each other, not with the final 10,000-sample score.

    Args:
        run: the `kerasda.runner.Run`.
        judge: a `DigitsJudge`.
        generate_fn: `(noise, labels) -> images`.
        latent_dim: size of z.
        num_classes: classes to request (None for unconditional generators).
        num_samples: samples per evaluation.
        seed: noise seed; the same z every epoch.
    """

    def __init__(self, run, judge, generate_fn, latent_dim, num_classes=None, num_samples=1000, seed=0):
        super().__init__()
        self.run = run
        self.judge = judge
        self.generate_fn = generate_fn
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.num_samples = num_samples
        self.seed = seed
        self.history = []

    def on_evaluate(self, step, logs=None):
        scores = evaluate_generator(
            self.generate_fn, self.judge, self.latent_dim, self.num_classes, self.num_samples, self.seed
        )
        keys = ("frechet_distance", "normalized_entropy", "max_min_ratio", "label_accuracy")
        scalars = {f"eval/{k}": scores[k] for k in keys if scores.get(k) is not None}
        self.run.log_scalars(scalars, step)
        self.run.append_history({"step": step, **scalars})
        self.history.append({"step": step, **scalars})

# ------------------------------------------------------------------ figures
# Each takes `generate_fn(noise, labels) -> images in [-1, 1]` (a GAN's
# `generate`, or an exported signature) and returns a matplotlib figure.


def sample_grid_figure(generate_fn, noise, labels=None, ncols=8, title="samples from fixed noise"):
    """Samples of fixed noise (e.g. 64 -> 8x8): the same z every epoch shows progress."""
    images = np.asarray(generate_fn(noise, labels))
    nrows = math.ceil(len(images) / ncols)
    return plots.image_grid_figure(images, nrows, ncols, title=title)


def interpolation_noise(start, end, steps=10):
    """Linear paths z = (1 - alpha) start + alpha end, alpha in linspace(0, 1, steps).

    Args:
        start, end: [R, latent_dim], one path per row.

    Returns:
        [R * steps, latent_dim], row-major (path by path).
    """
    start, end = np.asarray(start, np.float32), np.asarray(end, np.float32)
    if start.shape != end.shape or start.ndim != 2:
        raise ValueError(f"start and end must both be [R, latent_dim], got {start.shape} and {end.shape}.")
    alphas = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    paths = (1.0 - alphas) * start[:, None, :] + alphas * end[:, None, :]
    return paths.reshape(-1, start.shape[-1])


def interpolation_figure(generate_fn, start, end, steps=10, labels=None):
    """Rows of samples along straight lines in z (smooth changes = no memorisation).

    `labels` ([R], optional) fixes one class per row for conditional models.
    """
    noise = interpolation_noise(start, end, steps)
    row_labels = None if labels is None else np.repeat(np.asarray(labels), steps)
    images = np.asarray(generate_fn(noise, row_labels))
    row_titles = None if labels is None else [f"y={int(c)}" for c in labels]
    return plots.image_grid_figure(
        images, len(start), steps, title="latent interpolation, alpha 0 -> 1", row_titles=row_titles
    )


def class_noise_grid_figure(generate_fn, noise, num_classes=10):
    """Rows = requested class, columns = the same z: does y set the digit and z the style?"""
    noise = np.asarray(noise, np.float32)
    ncols = len(noise)
    grid_noise = np.tile(noise, (num_classes, 1))
    labels = np.repeat(np.arange(num_classes), ncols).astype(np.int32)
    images = np.asarray(generate_fn(grid_noise, labels))
    return plots.image_grid_figure(
        images, num_classes, ncols, title="class x noise", row_titles=[str(c) for c in range(num_classes)]
    )


def class_swap_pairs_figure(generate_fn, noise, labels, other_labels):
    """Pairs from the same z with a different class: top row G(z, y), bottom row G(z, y')."""
    noise = np.asarray(noise, np.float32)
    labels, other_labels = np.asarray(labels, np.int32), np.asarray(other_labels, np.int32)
    images = np.concatenate(
        [np.asarray(generate_fn(noise, labels)), np.asarray(generate_fn(noise, other_labels))]
    )
    return plots.image_grid_figure(
        images,
        2,
        len(noise),
        title="same z, different class: " + " ".join(f"{a}->{b}" for a, b in zip(labels, other_labels)),
        row_titles=["y", "y'"],
    )
