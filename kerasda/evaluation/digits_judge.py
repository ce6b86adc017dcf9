"""The digits judge: a classifier trained once on real MNIST that scores generated digits.

A GAN is judged by the same digits tower the adaptation methods use
(`kerasda.networks.digits.build_digits_classifier`), trained once on real
MNIST and cached (`load_or_train_digits_classifier`). `DigitsJudge` scores a
set of samples with it: the `class_scores` of its predictions and the
`frechet` distance to real MNIST test images in its penultimate layer.

Images are float arrays in [-1, 1] with 1 or 3 channels (grey images are
repeated to RGB, which is how the MNIST domain is stored), or uint8.
"""

import json

import keras
import numpy as np

from kerasda.data import load_domain, paths, pipeline
from kerasda.evaluation.class_scores import class_histogram_scores, label_accuracy
from kerasda.evaluation.frechet import feature_moments, frechet_distance_from_moments
from kerasda.networks.digits import build_digits_classifier

CLASSIFIER_IMAGE_SHAPE = (32, 32, 3)


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
        pipeline.to_model_range(x_train),
        np.asarray(y_train),
        batch_size=batch_size,
        epochs=epochs,
        verbose=verbose,
    )
    return classifier


def load_digits_classifier(weights_path):
    """The digits tower with weights saved by `save_weights` (a `.weights.h5` file)."""
    classifier = build_digits_classifier(CLASSIFIER_IMAGE_SHAPE, num_classes=10)
    classifier.load_weights(str(weights_path))
    return classifier


def load_or_train_digits_classifier(data_dir=None, cache_dir=None, epochs=2, seed=0, weights_path=None, verbose=2):
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
        return load_digits_classifier(weights_path), {**info, "path": str(weights_path), "trained_now": False}
    mnist = load_domain("mnist", data_dir=data_dir, image_size=32, seed=seed, cache_dir=cache_dir)
    classifier = train_digits_classifier(mnist.x_train, mnist.y_train, epochs=epochs, seed=seed, verbose=verbose)
    predicted = classifier.predict(pipeline.to_model_range(mnist.x_test), batch_size=500, verbose=0).argmax(-1)
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
        return self.feature_model.predict(self._prepare(images), batch_size=self.batch_size, verbose=0)

    def frechet_distance(self, images):
        """Frechet distance between `images` and the reference set."""
        return frechet_distance_from_moments(*feature_moments(self.features(images)), *self.reference_moments)

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
            "frechet_distance": frechet_distance_from_moments(*feature_moments(features), *self.reference_moments),
            **class_histogram_scores(predicted, self.num_classes),
        }
        if requested_labels is not None:
            requested = np.asarray(requested_labels).astype(np.int64)
            scores["label_accuracy"] = label_accuracy(requested, predicted)
            scores["label_accuracy_per_class"] = [
                label_accuracy(requested[requested == c], predicted[requested == c]) if np.any(requested == c) else None
                for c in range(self.num_classes)
            ]
        return scores
