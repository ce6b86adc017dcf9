"""tf.data pipelines from uint8 arrays: shuffle, batch, scale, prefetch.

Images are shuffled as *indices* and gathered a batch at a time, so the
per-example cost of tf.data is paid once per batch: on 2 CPU cores this keeps
the input pipeline well under 10% of a training step.
"""

import numpy as np
import tensorflow as tf

from kerasda.errors import DataError, FlagError

AUTOTUNE = tf.data.AUTOTUNE


def _check_range(value_range):
    low, high = value_range
    if not low < high:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}.")
    return float(low), float(high)


def to_model_range(x, value_range=(-1.0, 1.0)):
    """uint8 images -> float32 in `value_range` (numpy)."""
    low, high = _check_range(value_range)
    return np.asarray(x, np.float32) * ((high - low) / 255.0) + low


def scale_images(x, value_range=(-1.0, 1.0)):
    """uint8 images -> float32 in `value_range` (TensorFlow, for use inside pipelines)."""
    low, high = _check_range(value_range)
    return tf.cast(x, tf.float32) * ((high - low) / 255.0) + low


def _index_batches(n, batch_size, shuffle, repeat, seed, drop_remainder):
    if batch_size < 1:
        raise FlagError(f"--batch_size={batch_size}: expected an integer >= 1.")
    if n < batch_size and drop_remainder:
        raise FlagError(
            f"--batch_size={batch_size} is larger than the {n} training examples; lower --batch_size or add data."
        )
    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder)


def _batch_images(images, idx, value_range, augment, step):
    batch = scale_images(tf.gather(images, idx), value_range)
    return batch if augment is None else augment(batch, step)


def labeled_dataset(
    x,
    y,
    batch_size,
    shuffle=True,
    repeat=True,
    seed=0,
    value_range=(-1.0, 1.0),
    drop_remainder=True,
    augment=None,
):
    """Batches of (images float32 [B, H, W, 3], labels int64 [B]).

    `augment`: optional function applied to each scaled image batch (see
    `kerasda.data.augmentation`), for training sets only.
    """
    if len(x) != len(y):
        raise DataError(f"{len(x)} images but {len(y)} labels; expected one label per image.")
    images = tf.constant(x)
    labels = tf.constant(np.asarray(y, np.int64))
    ds = _index_batches(len(x), batch_size, shuffle, repeat, seed, drop_remainder).enumerate()
    ds = ds.map(
        lambda step, idx: (
            _batch_images(images, idx, value_range, augment, step + seed * 1_000_003),
            tf.gather(labels, idx),
        ),
        num_parallel_calls=AUTOTUNE,
    )
    return ds.prefetch(AUTOTUNE)


def image_dataset(
    x, batch_size, shuffle=True, repeat=True, seed=0, value_range=(-1.0, 1.0), drop_remainder=True, augment=None
):
    """Batches of images only: what training code gets from an unlabeled domain."""
    images = tf.constant(x)
    ds = _index_batches(len(x), batch_size, shuffle, repeat, seed, drop_remainder).enumerate()
    ds = ds.map(
        lambda step, idx: _batch_images(images, idx, value_range, augment, step + seed * 1_000_003),
        num_parallel_calls=AUTOTUNE,
    )
    return ds.prefetch(AUTOTUNE)


def adaptation_dataset(
    source, target, batch_size, seed=0, target_batch_size=None, value_range=(-1.0, 1.0), augment=None
):
    """Infinite batches of ((source_images, source_labels), target_images).

    The target side is built from images alone: its training labels are never
    read (an unlabeled Domain would raise if they were), so no training step can
    use them. `augment` (if given) jitters both sides alike.
    """
    source_ds = labeled_dataset(
        source.x_train, source.y_train, batch_size, seed=seed, value_range=value_range, augment=augment
    )
    target_ds = image_dataset(
        target.x_train,
        target_batch_size or batch_size,
        seed=seed + 1,
        value_range=value_range,
        augment=augment,
    )
    return tf.data.Dataset.zip((source_ds, target_ds)).prefetch(AUTOTUNE)
