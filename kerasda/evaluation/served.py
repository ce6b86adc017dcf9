"""Scoring an exported classifier through its `serving_default` signature, as a serving client would.

Shared by `apps.evaluate` and the benchmarks, so they read exports the same way
(a signature is not a Keras model, so it is called batch by batch here rather
than through `model.predict`).
"""

import numpy as np
import tensorflow as tf

from kerasda.data import pipeline
from kerasda.errors import DataError


def serve_classes(serving_fn, x_uint8, batch_size):
    """Class predictions from a `serving_default` signature over uint8 images."""
    classes = []
    for start in range(0, len(x_uint8), batch_size):
        images = pipeline.to_model_range(x_uint8[start : start + batch_size])
        classes.append(serving_fn(images=tf.constant(images))["classes"].numpy())
    return np.concatenate(classes)


def signature_image_size(serving_fn):
    """The square image size the signature takes (28 for DANN's and ADDA's shipped towers, 32 else)."""
    spec = serving_fn.structured_input_signature[1]["images"]
    if spec.shape.rank != 4 or spec.shape[-1] != 3 or spec.shape[1] is None or spec.shape[1] != spec.shape[2]:
        raise DataError(
            f"The export's serving_default takes images of shape {spec.shape}; expected a square "
            "[N, S, S, 3] input (an export of apps.train_*'s classifiers)."
        )
    return int(spec.shape[1])
