"""Random geometric jitter of training batches, the same for every domain.

Digit domains differ in where a digit sits and how large it is (MNIST draws it in a 20x20 box of a
28x28 frame, MNIST-M pads that frame to 32x32, UCI digits fill their 8x8 box). A classifier that
has only seen one placement reads the others worse, and no adaptation loss on features undoes a
geometric shift well. Jittering position, scale and angle of *every* training image (source and
target alike) teaches the tower not to depend on them, whichever domain is the target.

They also differ in resolution: UCI digits are 8x8 scans and USPS 16x16, upscaled to the tower's
size, so their strokes are far blurrier than MNIST's. "geometric_resolution" adds a random loss of
resolution (down-sample, then up-sample back) to the geometric jitter, so the tower also sees
every domain at lower resolutions.

Colour domains can draw a digit in a hue that differs from its background while its brightness
barely does (MNIST-M's digits on mid-grey photo patches). A tower trained on grey digits, whose three
channels are equal, learns filters that add the channels up, and such a digit, brighter in one channel
and darker in another, cancels out. "geometric_resolution_inversion" adds to the previous kind a
random inversion of each channel of each image (probability `inversion_probability`, 0.5 by
default), so that the tower sees edges of every sign in every channel.
"""

import dataclasses
import math

import keras
import tensorflow as tf

AUGMENTATIONS = ("none", "geometric", "geometric_resolution", "geometric_resolution_inversion")
# Added to the run's seed for the resolution draws, so they are independent of the geometric ones.
# Changing it changes every recorded "geometric_resolution" run.
RESOLUTION_SEED_OFFSET = 7919
INVERSION_SEED_OFFSET = 104729  # the same, for the channel inversions


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


@dataclasses.dataclass(frozen=True)
class ResolutionJitter:
    """How often and how far an image loses resolution.

    With `probability`, an image is area-averaged down to one of `levels` sizes evenly spaced
    from `min_fraction` of its size up to (not including) its full size, then bilinearly
    resized back: 28x28 digits are seen at 8 to 23 pixels, which spans UCI's 8x8 and USPS's 16x16.
    """

    probability: float = 0.5
    min_fraction: float = 0.3
    levels: int = 4

    def __post_init__(self):
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {self.probability!r}.")
        if not 0.0 < self.min_fraction < 1.0:
            raise ValueError(f"min_fraction must be in (0, 1), got {self.min_fraction!r}.")
        if self.levels < 1:
            raise ValueError(f"levels must be >= 1, got {self.levels!r}.")

    def sizes(self, size):
        """The reduced sizes an image of `size` pixels may be seen at (ascending, each < size)."""
        fractions = [self.min_fraction + (1.0 - self.min_fraction) * i / self.levels for i in range(self.levels)]
        return sorted({max(1, min(size - 1, round(size * fraction))) for fraction in fractions})


def reduce_resolution(images, jitter, seed):
    """Each image of [B, H, W, C] at a random lower resolution with `jitter.probability`.

    Each image draws a size (or none); the batch is partitioned by size, so every image is resized
    once, at its own size, whatever the batch holds. Stateless in `seed` [2].
    """
    height, width = images.shape[1], images.shape[2]
    sizes = jitter.sizes(min(height, width))
    batch_size = tf.shape(images)[0]
    uniform = tf.random.stateless_uniform([batch_size, 2], seed=seed)
    reduce = uniform[:, 0] < jitter.probability
    level = tf.minimum(tf.cast(uniform[:, 1] * len(sizes), tf.int32), len(sizes) - 1)
    choice = tf.where(reduce, level + 1, tf.zeros_like(level))  # 0 keeps the image as it is
    groups = tf.dynamic_partition(images, choice, 1 + len(sizes))
    positions = tf.dynamic_partition(tf.range(batch_size), choice, 1 + len(sizes))
    resized = [groups[0]]
    for group, size in zip(groups[1:], sizes):
        small_shape = (round(height * size / min(height, width)), round(width * size / min(height, width)))
        small = tf.image.resize(group, small_shape, antialias=True)
        resized.append(tf.cast(tf.image.resize(small, (height, width), "bilinear"), images.dtype))
    result = tf.dynamic_stitch(positions, resized)
    result.set_shape(images.shape)
    return result


def invert_channels(images, probability, seed, value_range=(-1.0, 1.0)):
    """Each channel of each image of [B, H, W, C] mirrored in `value_range` (x -> low + high - x) with
    `probability`; stateless in `seed` [2]."""
    low, high = value_range
    flips = tf.random.stateless_uniform([tf.shape(images)[0], 1, 1, images.shape[-1]], seed=seed) < probability
    return tf.where(flips, tf.cast(low + high, images.dtype) - images, images)


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


def build_augmentation(
    kind="none",
    seed=0,
    jitter=GeometricJitter(),
    resolution=ResolutionJitter(),
    inversion_probability=0.5,
    value_range=(-1.0, 1.0),
):
    """A function (images [B, H, W, C], step) -> jittered images, or None for "none".

    The randomness is stateless in (seed, step), so the same run draws the same jitter at the
    same step whatever the order in which tf.data's parallel calls finish.
    "reflect" filling keeps each image's own background at the borders. "geometric_resolution"
    then lowers the resolution of some images (`ResolutionJitter`); "geometric_resolution_inversion"
    then inverts each channel with `inversion_probability` (`invert_channels`, in `value_range`, the
    range the pipeline scaled the images to).
    """
    if kind not in AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, got {kind!r}.")
    if not 0.0 <= inversion_probability <= 1.0:
        raise ValueError(f"inversion_probability must be in [0, 1], got {inversion_probability!r}.")
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
        jittered = tf.cast(jittered, images.dtype)
        if kind.startswith("geometric_resolution"):
            resolution_seed = tf.stack([tf.constant(seed + RESOLUTION_SEED_OFFSET, tf.int64), tf.cast(step, tf.int64)])
            jittered = reduce_resolution(jittered, resolution, resolution_seed)
        if kind == "geometric_resolution_inversion":
            inversion_seed = tf.stack([tf.constant(seed + INVERSION_SEED_OFFSET, tf.int64), tf.cast(step, tf.int64)])
            jittered = invert_channels(jittered, inversion_probability, inversion_seed, value_range)
        return jittered

    return augment
