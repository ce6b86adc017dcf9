"""Gradient reversal layer (Ganin & Lempitsky, 2015).

Identity on the forward pass; on the backward pass the incoming gradient is
multiplied by `-lambda`. Placed between a feature extractor and a domain
classifier, it lets one optimizer step *minimise* the domain loss with respect
to the domain classifier while *maximising* it with respect to the features,
which is what makes the features domain-invariant.
"""

import keras
import tensorflow as tf


@tf.custom_gradient
def reverse_gradient(inputs, lambda_):
    """`inputs` unchanged; the gradient flowing back is `-lambda_ * upstream`.

    Args:
        inputs: any float tensor.
        lambda_: scalar tensor of the same dtype, the reversal strength.
    """

    def grad(upstream):
        # lambda_ is a hyper-parameter set by a schedule, not something to learn.
        return -lambda_ * upstream, tf.zeros_like(lambda_)

    return tf.identity(inputs), grad


@keras.saving.register_keras_serializable(package="kerasda")
class GradientReversal(keras.layers.Layer):
    """Identity forward, gradient times `-lambda` backward.

    `lambda` lives in a non-trainable variable (`layer.lambda_`) so a schedule
    can change it every step without retracing a `tf.function`; it is saved
    with the model's weights.

    Args:
        lambda_: initial reversal strength, a float >= 0 (0 blocks the gradient,
            as at the start of DANN's schedule).

    Example:
        >>> grl = GradientReversal(lambda_=0.5)
        >>> grl.set_lambda(1.0)
        >>> features = grl(features)  # d(loss)/d(features) is now negated
    """

    def __init__(self, lambda_=1.0, **kwargs):
        super().__init__(**kwargs)
        _check_lambda(lambda_)
        self.initial_lambda = float(lambda_)
        self.supports_masking = True
        self.lambda_ = self.add_weight(
            name="lambda",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_lambda),
            trainable=False,
            dtype="float32",
        )

    def set_lambda(self, value):
        """Sets the reversal strength (python float or scalar tensor)."""
        if isinstance(value, (int, float)):
            _check_lambda(value)
        self.lambda_.assign(value)

    def call(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        lambda_ = tf.cast(tf.convert_to_tensor(self.lambda_), inputs.dtype)
        return reverse_gradient(inputs, lambda_)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["lambda_"] = self.initial_lambda
        return config


def find_gradient_reversal_layers(model):
    """Every `GradientReversal` layer inside `model`, nested models included."""
    found = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, GradientReversal):
            found.append(layer)
        else:
            found.extend(find_gradient_reversal_layers(layer))
    return found


def _check_lambda(value):
    if not value >= 0.0:
        raise ValueError(f"lambda_ must be a float >= 0, got {value!r}.")
