"""Array-level image conversions shared by the loaders (grey/RGBA -> RGB, resizing)."""

import numpy as np
import tensorflow as tf

from kerasda.errors import DataError


def to_rgb(images):
    """uint8 [N, H, W] / [N, H, W, 1|3|4] -> uint8 [N, H, W, 3].

    Grey is repeated over three channels; an alpha channel is dropped.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise DataError(f"Expected images [N, H, W] or [N, H, W, 1|3|4], got shape {images.shape}.")
    if images.shape[-1] == 1:
        return np.repeat(images, 3, axis=-1)
    return images[..., :3]


def resize_uint8(images, size, chunk=8192):
    """Bilinear resize of uint8 [N, H, W, C] to [N, size, size, C], rounded back to uint8.

    Done once at load time (and cached) so that the training pipeline only casts
    and scales; chunked to bound peak memory.
    """
    images = np.asarray(images)
    if images.shape[1:3] == (size, size):
        return images
    out = np.empty((len(images), size, size, images.shape[-1]), np.uint8)
    for start in range(0, len(images), chunk):
        batch = tf.image.resize(images[start : start + chunk], (size, size), "bilinear")
        out[start : start + chunk] = np.clip(np.round(batch.numpy()), 0, 255).astype(np.uint8)
    return out
