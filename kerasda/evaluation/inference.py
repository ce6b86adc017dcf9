"""Batched inference through `keras.Model.predict`, for models and plain functions alike.

`predict` is the one place the package runs a network over an array of
images: evaluation, callbacks and `kerasda.inspect` all call it. A
`keras.Model` is predicted directly; any other function of one batch (a
model's method such as `vae.reconstruct`, a closure, a SavedModel signature)
is wrapped in a model first, so Keras does the batching, the tracing (once per
model: the wrapper of a function is cached while the function lives) and the
concatenation, dict outputs included.
"""

import weakref

import keras
import tensorflow as tf

_FUNCTION_MODELS = weakref.WeakKeyDictionary()


class _FunctionModel(keras.Model):
    """A function of one batch (-> a tensor or a dict of tensors) as a model `predict` can run."""

    def __init__(self, fn):
        super().__init__(name="function_model")
        self.fn = fn
        self.jit_compile = False  # an arbitrary function (a SavedModel signature) may not compile with XLA

    def call(self, inputs):
        return self.fn(inputs)


def as_model(model_or_fn):
    """`model_or_fn` itself if it is a `keras.Model`, else a (cached) model calling it."""
    if isinstance(model_or_fn, keras.Model):
        return model_or_fn
    try:
        return _FUNCTION_MODELS[model_or_fn]
    except (KeyError, TypeError):
        pass
    model = _FunctionModel(model_or_fn)
    try:
        _FUNCTION_MODELS[model_or_fn] = model
    except TypeError:  # not weak-referenceable: used uncached
        pass
    return model


def predict(model_or_fn, x, batch_size=512, preprocess=None):
    """`model.predict` of `model_or_fn` over the array `x`, `batch_size` rows at a time.

    Args:
        model_or_fn: a `keras.Model`, or any function of one batch of `x`.
        x: numpy array (at least one row).
        batch_size: rows per call.
        preprocess: optional TensorFlow function applied to each batch first
            (e.g. `pipeline.scale_images`), so uint8 images are scaled batch by
            batch instead of all at once.

    Returns:
        numpy outputs for every row, or a dict of them.
    """
    if len(x) == 0:
        raise ValueError("predict needs at least one input row.")
    batches = tf.data.Dataset.from_tensor_slices(x).batch(batch_size)
    if preprocess is not None:
        batches = batches.map(preprocess)
    return as_model(model_or_fn).predict(batches, verbose=0)
