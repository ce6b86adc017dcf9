"""Mixed precision for every method: `--precision=float32|mixed_bfloat16|mixed_float16`.

Under a mixed policy layers compute in bfloat16 or float16 while their
variables stay float32, so a checkpoint written at one precision restores at
another. The networks' last layers (class and domain logits, discriminator
logits, generated images, flattened features) are built with
`dtype="float32"`, so every loss, metric, export and embedding sees float32.

float16 has a narrow exponent range: small gradients underflow to zero. Its
optimizers are therefore wrapped in `keras.optimizers.LossScaleOptimizer`
(`loss_scaled`, called by every model's `compile`): each `train_step`
differentiates `optimizer.scale_loss(loss)` (see
`kerasda.distribute.replica_gradients`) and `apply_gradients` divides the
scale out, skips a step whose gradients overflowed and adapts the scale.
bfloat16 keeps float32's exponent range and needs no scaling.

Checkpoints resume across all three: Keras' `LossScaleOptimizer` would keep
the wrapped optimizer's slots one level deeper in the object graph, so
`PortableLossScaleOptimizer` checkpoints exactly the wrapped optimizer's
state, in its layout. The loss scale is not saved: after a resume it starts
again at 2**15 and adapts within a few steps (any overflowing step is skipped).
"""

import keras

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def set_precision(name):
    """Set Keras' global dtype policy to `name` (one of PRECISIONS); returns the policy.

    Call it before building models: a layer takes the policy in force when it is made.
    """
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {name!r}.")
    keras.mixed_precision.set_dtype_policy(name)
    return keras.mixed_precision.dtype_policy()


def current_precision():
    """The name of Keras' global dtype policy ("float32", "mixed_bfloat16", ...)."""
    return keras.mixed_precision.dtype_policy().name


def needs_loss_scaling():
    return current_precision() == "mixed_float16"


def loss_scaled(optimizer):
    """`optimizer` wrapped in a LossScaleOptimizer under mixed_float16; unchanged otherwise.

    Accepts what `Model.compile` accepts (an optimizer, its name or None);
    outside float16 the argument is returned as it is.
    """
    if optimizer is None or not needs_loss_scaling():
        return optimizer
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    optimizer = keras.optimizers.get(optimizer)
    return PortableLossScaleOptimizer(optimizer, name=f"{optimizer.name}_loss_scale")


@keras.saving.register_keras_serializable(package="kerasda")
class PortableLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """A LossScaleOptimizer whose TF checkpoints hold the wrapped optimizer's state in its layout.

    So a float32 or bfloat16 checkpoint restores into a float16 run and back
    (the loss scale itself is not saved; see the module docstring).
    """

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        return self.inner_optimizer._trackable_children(save_type, **kwargs)
