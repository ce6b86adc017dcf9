"""Per-image standardisation as layers, so exported models take raw [-1, 1] images."""

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


@keras.saving.register_keras_serializable(package="kerasda")
class PrincipalColourStandardization(keras.layers.Layer):
    """Each image projected onto its own main colour axis, then standardised.

    A tower trained on grey digits weighs the three channels about equally, so
    it is blind to a digit that differs from its background in hue but not in
    brightness. Projecting every image onto the direction along which its own
    pixel colours vary most turns that hue contrast into intensity contrast.
    The sign of that direction is arbitrary, so it is chosen to make the
    projection's skewness positive: the rarer extreme (a digit's strokes, on
    any background) comes out bright. A grey image's main axis is the grey
    axis itself, so for grey images this equals `PerImageStandardization`
    up to the polarity rule. Like it, it needs no target data and travels
    with the exported model. The projection fills all channels, so the layers
    after it keep their shapes.

    The axis and the sign are held constant under differentiation (an
    eigenvector's gradient is undefined where eigenvalues tie, as they do for
    grey images); gradients flow through the projection.

    Args:
        min_stddev: floor of the divisor, so flat images do not blow up.
    """

    def __init__(self, min_stddev=1.0 / 32.0, **kwargs):
        super().__init__(**kwargs)
        if not min_stddev > 0:
            raise ValueError(f"min_stddev must be > 0, got {min_stddev!r}.")
        self.min_stddev = float(min_stddev)

    def call(self, images):
        dtype = images.dtype
        images = ops.cast(images, "float32")
        channels = ops.shape(images)[-1]
        centred = images - ops.mean(images, axis=(1, 2), keepdims=True)
        pixels = ops.reshape(centred, (ops.shape(images)[0], -1, channels))
        covariance = ops.einsum("bpc,bpd->bcd", pixels, pixels)
        _, eigenvectors = ops.eigh(ops.stop_gradient(covariance))
        axis = eigenvectors[:, :, -1]  # eigh sorts eigenvalues ascending
        projection = ops.einsum("bhwc,bc->bhw", centred, axis)
        standardized = projection / ops.maximum(ops.std(projection, axis=(1, 2), keepdims=True), self.min_stddev)
        skewness = ops.mean(ops.stop_gradient(standardized) ** 3, axis=(1, 2), keepdims=True)
        polarity = ops.where(skewness < 0, -1.0, 1.0)
        single = polarity * standardized
        return ops.cast(ops.repeat(single[..., None], channels, axis=-1), dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "min_stddev": self.min_stddev}


def input_standardization_layer(kind, name="input_standardization"):
    """The front-end layer for an `input_standardization` setting (not None)."""
    if kind == "principal_colour":
        return PrincipalColourStandardization(name=name)
    return PerImageStandardization(over=kind, name=name)
