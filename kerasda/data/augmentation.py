"""Random geometric jitter of training batches, the same for every domain.

Digit domains differ in where a digit sits and how large it is (MNIST draws it in a 20x20 box of a
28x28 frame, MNIST-M pads that frame to 32x32, UCI digits fill their 8x8 box). A classifier that
has only seen one placement reads the others worse, and no adaptation loss on features undoes a
geometric shift well. Jittering position, scale and angle of *every* training image (source and
target alike) teaches the tower not to depend on them, whichever domain is the target.
"""

import dataclasses
import math

import keras
import tensorflow as tf

AUGMENTATIONS = ("none", "geometric")


@dataclasses.dataclass(frozen=True)
class GeometricJitter:
    """Ranges of the random affine jitter, as fractions of the image size (degrees for rotation).

    Defaults are mild enough that a digit never leaves the frame nor turns into another digit
    (a 6 stays a 6 within 10 degrees).
    """

    max_translation: float = 0.1
    max_zoom: float = 0.15
    max_rotation_degrees: float = 10.0

    def __post_init__(self):
        for name in ("max_translation", "max_zoom"):
            value = getattr(self, name)
            if not 0.0 <= value < 0.5:
                raise ValueError(f"{name} must be in [0, 0.5), got {value!r}.")
        if not 0.0 <= self.max_rotation_degrees <= 45.0:
            raise ValueError(f"max_rotation_degrees must be in [0, 45], got {self.max_rotation_degrees!r}.")


def random_affine_transforms(batch_size, height, width, jitter, seed):
    """Per-image affine transforms [B, 8] (output -> input pixel), stateless in `seed` [2].

    Each image gets a rotation about its centre, a zoom in [1 - z, 1 + z] and a shift of up to
    `max_translation` of its size; `keras.ops.image.affine_transform` applies them.
    """
    uniform = tf.random.stateless_uniform([batch_size, 4], seed=seed, minval=-1.0, maxval=1.0)
    angle = uniform[:, 0] * (jitter.max_rotation_degrees * math.pi / 180.0)
    zoom = 1.0 + uniform[:, 1] * jitter.max_zoom
    shift_x = uniform[:, 2] * jitter.max_translation * float(width)
    shift_y = uniform[:, 3] * jitter.max_translation * float(height)
    centre_x, centre_y = (float(width) - 1.0) / 2.0, (float(height) - 1.0) / 2.0
    a0, a1 = zoom * tf.cos(angle), -zoom * tf.sin(angle)
    b0, b1 = zoom * tf.sin(angle), zoom * tf.cos(angle)
    a2 = centre_x - a0 * centre_x - a1 * centre_y + shift_x
    b2 = centre_y - b0 * centre_x - b1 * centre_y + shift_y
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def build_augmentation(kind="none", seed=0, jitter=GeometricJitter()):
    """A function (images [B, H, W, C], step) -> jittered images, or None for "none".

    The randomness is stateless in (seed, step), so the same run draws the same jitter at the
    same step whatever the order in which tf.data's parallel calls finish.
    "reflect" filling keeps each image's own background at the borders.
    """
    if kind not in AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, got {kind!r}.")
    if kind == "none":
        return None

    def augment(images, step):
        shape = tf.shape(images)
        transforms = random_affine_transforms(
            shape[0],
            images.shape[1],
            images.shape[2],
            jitter,
            seed=tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)]),
        )
        jittered = keras.ops.image.affine_transform(images, transforms, interpolation="bilinear", fill_mode="reflect")
        return tf.cast(jittered, images.dtype)

    return augment
