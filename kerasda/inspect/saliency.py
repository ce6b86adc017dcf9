"""Image-specific class saliency (Simonyan, Vedaldi & Zisserman 2014) and SmoothGrad.

saliency(x, c) = max over channels of |d score_c / d x|. SmoothGrad (Smilkov
et al. 2017) averages the gradient over noisy copies of x before the absolute
value and channel max, which removes much of the pixel-level noise.
"""

import numpy as np
import tensorflow as tf


def _gradient_fn(classifier):
    """tf.function: (images, classes) -> d score_class / d images, one batch at a time."""

    @tf.function(reduce_retracing=True)
    def gradient(images, classes):
        with tf.GradientTape() as tape:
            tape.watch(images)
            scores = classifier.scores(images)
            # Each image's score depends only on that image, so the gradient of the sum is per-image.
            total = tf.reduce_sum(tf.gather(scores, classes, axis=1, batch_dims=1))
        return tape.gradient(total, images)

    return gradient


def _smoothgrad_fn(classifier, samples, noise_std):
    gradient = _gradient_fn(classifier)

    @tf.function(reduce_retracing=True)
    def smooth(images, classes, seed):
        # All noisy copies in one batch: [samples * N, H, W, C].
        tiled = tf.tile(images, [samples, 1, 1, 1])
        noise = tf.random.stateless_normal(tf.shape(tiled), seed=seed, stddev=noise_std)
        grads = gradient(tiled + noise, tf.tile(classes, [samples]))
        return tf.reduce_mean(tf.reshape(grads, tf.concat([[samples], tf.shape(images)], 0)), axis=0)

    return smooth


def class_gradients(classifier, images, classes, smoothgrad_samples=0, noise_level=0.15, batch_size=256, seed=0):
    """d score_c / d x (optionally SmoothGrad-averaged) for every image, as numpy [N, H, W, C].

    Args:
        classifier: a `model_access.Classifier`.
        images: float [N, H, W, C] in the classifier's value range.
        classes: int [N], the class whose score is differentiated (usually the true one).
        smoothgrad_samples: 0 for the plain gradient, else noisy copies per image.
        noise_level: SmoothGrad noise std as a fraction of the value range (0.1-0.2 in the paper).
    """
    images = np.asarray(images, np.float32)
    classes = np.asarray(classes, np.int64)
    if images.ndim != 4 or len(classes) != len(images):
        raise ValueError(f"Expected images [N, H, W, C] and N classes, got {images.shape} and {classes.shape}.")
    if smoothgrad_samples < 0:
        raise ValueError(f"smoothgrad_samples must be >= 0, got {smoothgrad_samples}.")
    low, high = classifier.value_range
    if smoothgrad_samples:
        fn = _smoothgrad_fn(classifier, int(smoothgrad_samples), float(noise_level * (high - low)))
        batch_size = max(1, batch_size // smoothgrad_samples)
    else:
        fn = _gradient_fn(classifier)
    out = []
    for start in range(0, len(images), batch_size):
        args = [tf.constant(images[start : start + batch_size]), tf.constant(classes[start : start + batch_size])]
        if smoothgrad_samples:
            args.append(tf.constant([seed, start], tf.int32))
        out.append(fn(*args).numpy())
    return np.concatenate(out)


def saliency_maps(classifier, images, classes, smoothgrad_samples=0, noise_level=0.15, batch_size=256, seed=0):
    """Saliency maps, numpy [N, H, W]: max over channels of |d score_c / d x|.

    Example:
        >>> maps = saliency_maps(load_classifier(path), x, y)   # x in [-1, 1]
    """
    grads = class_gradients(classifier, images, classes, smoothgrad_samples, noise_level, batch_size, seed)
    return np.max(np.abs(grads), axis=-1)


def mass_inside(maps, masks):
    """Fraction of each saliency map's total inside a boolean mask (e.g. the digit's strokes), [N]."""
    maps = np.asarray(maps, np.float64)
    masks = np.asarray(masks, bool)
    total = maps.sum(axis=(1, 2))
    inside = (maps * masks).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)
