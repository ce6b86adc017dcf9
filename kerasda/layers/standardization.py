"""Per-image standardisation as a layer, so exported models take raw [-1, 1] images."""

import keras
from keras import ops

AXES = {"image": (1, 2, 3), "channel": (1, 2)}


@keras.saving.register_keras_serializable(package="kerasda")
class PerImageStandardization(keras.layers.Layer):
    """`(x - mean(x)) / max(std(x), min_stddev)` for each image on its own.

    Removes each image's overall brightness and contrast, a large part of the
    MNIST -> MNIST-M shift (grey digits on black vs digits blended into colour
    photos), before any weight sees it. Unlike dataset statistics it needs no
    target-domain data and travels with the exported model.

    Args:
        over: "image" (one mean / std per image, like
            `tf.image.per_image_standardization`) or "channel" (one per colour
            channel of each image).
        min_stddev: floor of the divisor, so flat images do not blow up.
    """

    def __init__(self, over="image", min_stddev=1.0 / 32.0, **kwargs):
        super().__init__(**kwargs)
        if over not in AXES:
            raise ValueError(f"over must be one of {sorted(AXES)}, got {over!r}.")
        if not min_stddev > 0:
            raise ValueError(f"min_stddev must be > 0, got {min_stddev!r}.")
        self.over = over
        self.min_stddev = float(min_stddev)

    def call(self, images):
        axes = AXES[self.over]
        mean = ops.mean(images, axis=axes, keepdims=True)
        stddev = ops.std(images, axis=axes, keepdims=True)
        return (images - mean) / ops.maximum(stddev, self.min_stddev)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "over": self.over, "min_stddev": self.min_stddev}
