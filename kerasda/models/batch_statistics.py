"""Batch-normalisation statistics of one domain (AdaBN: Li et al., 2016, arXiv:1603.04779).

A network trained with each domain normalised by its own batch statistics
(`DANN(separate_domain_batches=True)`) keeps moving statistics that average both
domains, so at inference the target images are normalised differently from how
they were in training. Setting the moving statistics to those of the target's
unlabelled training images makes inference match training for the target domain.
"""

import keras
import numpy as np


def batch_norm_layers(model):
    """Every `BatchNormalization` layer of `model`, nested models included, in order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(batch_norm_layers(layer))
    return found


def adapt_batch_norm_statistics(model, images, batch_size=500, preprocess=None):
    """Sets every batch-normalisation layer's moving mean and variance to the statistics of `images`.

    The images pass `model` in training mode, once, in batches; each layer's
    moving statistics become the image-weighted mean of the batches' means and
    variances (the running average restarts from the first batch, so the
    result does not depend on what the layer held before). Only the moving
    statistics change: no trainable weight is touched.

    Args:
        model: a Keras model (its nested models are searched too).
        images: array [N, ...] in the model's input range (or stored images
            that `preprocess` maps there), N >= 1.
        batch_size: images per forward pass.
        preprocess: applied to each batch before the model, e.g.
            `pipeline.to_model_range`, so a whole uint8 domain is never held
            as floats at once.

    Returns:
        The number of batch-normalisation layers adapted (0 leaves `model` as it was).
    """
    layers = batch_norm_layers(model)
    images = np.asarray(images)
    if not len(images):
        raise ValueError("adapt_batch_norm_statistics needs at least one image, got none.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    seen = 0
    try:
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            if preprocess is not None:
                batch = preprocess(batch)
            for layer in layers:
                # moving = moving * m + batch * (1 - m): with m = seen / (seen + n) it is the running mean.
                layer.momentum = seen / (seen + len(batch))
            model(batch, training=True)
            seen += len(batch)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)
