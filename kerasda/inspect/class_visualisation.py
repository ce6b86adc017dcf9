"""Class model visualisation (Simonyan et al. 2014) with implicit regularisation.

Start from small noise and ascend `score_c(x) - l2_weight * ||x||_2^2` (the
paper's squared L2 penalty) for every class at once. Two implicit regularisers
from Yosinski et al. (2015) keep the image from turning into high-frequency
noise: a random translation (jitter) of the image before every gradient step,
and a Gaussian blur every `blur_every` steps. Pixels are clipped to the valid
range after each step.
"""

import dataclasses

import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class VisualisationConfig:
    """The knobs of class visualisation.

    iterations: gradient-ascent steps.
    learning_rate: step size of plain gradient ascent, in units of the full pixel range per step
        with the gradient normalised to unit RMS (so it does not depend on the score's scale).
    l2_weight: lambda of the squared-L2 penalty on the image (in [-1, 1] units).
    jitter: largest random shift in pixels, each axis (0 = off).
    blur_every: blur with `blur_sigma` every this many steps (0 = off).
    blur_sigma: Gaussian std in pixels.
    init_std: std of the starting noise, in units of the full pixel range.
    seed: for the starting noise and the jitter.
    """

    iterations: int = 200
    learning_rate: float = 0.05
    l2_weight: float = 0.01
    jitter: int = 2
    blur_every: int = 10
    blur_sigma: float = 0.5
    init_std: float = 0.05
    seed: int = 0

    def __post_init__(self):
        if self.iterations < 1 or self.learning_rate <= 0:
            raise ValueError(
                f"iterations must be >= 1 and learning_rate > 0, got {self.iterations}, {self.learning_rate}."
            )
        if self.l2_weight < 0 or self.jitter < 0 or self.blur_every < 0 or self.blur_sigma < 0:
            raise ValueError("l2_weight, jitter, blur_every and blur_sigma must be >= 0.")


def gaussian_kernel(sigma, channels):
    """Depthwise Gaussian kernel [k, k, channels, 1] with radius ceil(2 sigma)."""
    radius = max(1, int(np.ceil(2 * sigma)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / max(sigma, 1e-6)) ** 2)
    weights /= weights.sum()
    kernel = np.outer(weights, weights)[:, :, None, None]
    return tf.constant(np.tile(kernel, (1, 1, channels, 1)), tf.float32)


def class_visualisation(classifier, classes, config=None):
    """Images that maximise each class's score.

    Args:
        classifier: a `model_access.Classifier`.
        classes: int [K] classes to visualise (one image each, optimised together in one batch).
        config: a `VisualisationConfig`.

    Returns:
        (images [K, H, W, C] in the value range, class scores [iterations + 1, K]: the
        score of the image being optimised before the first step and after each one).
    """
    config = config or VisualisationConfig()
    classes = tf.constant(np.asarray(classes, np.int64))
    low, high = classifier.value_range
    scale = high - low
    height, width, channels = classifier.image_shape
    kernel = gaussian_kernel(config.blur_sigma, channels) if config.blur_every and config.blur_sigma > 0 else None
    count = int(classes.shape[0])
    rng = tf.random.Generator.from_seed(config.seed)
    start = (low + high) / 2 + rng.normal([count, height, width, channels]) * config.init_std * scale

    def class_score(x):
        return tf.gather(classifier.scores(x), classes, axis=1, batch_dims=1)

    @tf.function
    def ascend(x):
        history = tf.TensorArray(tf.float32, size=config.iterations + 1)
        history = history.write(0, class_score(x))
        for step in tf.range(config.iterations):
            if config.jitter:
                shift = rng.uniform([2], -config.jitter, config.jitter + 1, dtype=tf.int32)
                rolled = tf.roll(x, shift, axis=[1, 2])
            else:
                rolled = x
            with tf.GradientTape() as tape:
                tape.watch(rolled)
                centred = rolled - (low + high) / 2
                objective = class_score(rolled) - config.l2_weight * tf.reduce_sum(tf.square(centred), axis=[1, 2, 3])
                total = tf.reduce_sum(objective)
            g = tape.gradient(total, rolled)
            if config.jitter:
                g = tf.roll(g, -shift, axis=[1, 2])
            rms = tf.sqrt(tf.reduce_mean(tf.square(g), axis=[1, 2, 3], keepdims=True)) + 1e-12
            x = tf.clip_by_value(x + config.learning_rate * scale * g / rms, low, high)
            if kernel is not None and config.blur_every:
                if (step + 1) % config.blur_every == 0:
                    x = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME")
            history = history.write(step + 1, class_score(x))
        return x, history.stack()

    images, history = ascend(start)
    return images.numpy(), history.numpy()
