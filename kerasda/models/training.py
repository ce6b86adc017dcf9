"""Small helpers the methods share: update steps, network checks, serialisation, GAN settings.

They hold no state and no algorithm: each model's `train_step` still reads top
to bottom like its paper's algorithm box, calling these for the bookkeeping.
"""

import keras
import tensorflow as tf

from kerasda import distribute, export, losses, precision


def descend(tape, loss, variables, optimizer):
    """One optimizer step on `variables`: the gradients of `loss` recorded on `tape`.

    `distribute.replica_gradients` scales the loss under a loss-scaled
    optimizer and for the replicas of a distribution strategy, so the same
    call serves every precision and device count.
    """
    gradients = distribute.replica_gradients(tape, loss, variables, optimizer)
    optimizer.apply_gradients(zip(gradients, variables))


def unique_variables(variables):
    """`variables` in order, each once (a network shared by two players appears twice)."""
    return list({id(v): v for v in variables}.values())


def adversarial_adam(name=None):
    """Adam(2e-4, beta_1=0.5): DCGAN's setting, also ADDA's; a low beta_1 damps momentum in a game."""
    return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5, name=name)


def expect_io(network, role, num_inputs, num_outputs):
    """ValueError naming `role` unless `network` has that many inputs and outputs."""
    if len(network.inputs) != num_inputs or len(network.outputs) != num_outputs:
        raise ValueError(
            f"The {role} must have {num_inputs} input(s) and {num_outputs} output(s), got "
            f"{len(network.inputs)} input(s) {[t.name for t in network.inputs]} and "
            f"{len(network.outputs)} output(s)."
        )


def serialize(network):
    """A network as a `get_config` value."""
    return keras.saving.serialize_keras_object(network)


def deserialize(config, keys):
    """`config` with the networks under `keys` rebuilt (for `from_config`)."""
    config = dict(config)
    for key in keys:
        config[key] = keras.saving.deserialize_keras_object(config[key])
    return config


def check_gan_compile_arguments(generator_loss, label_smoothing):
    """ValueError unless `generator_loss` names a `losses.GENERATOR_LOSSES` entry and 0 <= smoothing < 1."""
    if generator_loss not in losses.GENERATOR_LOSSES:
        raise ValueError(f"generator_loss must be one of {sorted(losses.GENERATOR_LOSSES)}, got {generator_loss!r}.")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")


def set_gan_players(model, d_optimizer, g_optimizer, generator_loss, label_smoothing):
    """What DCGAN-family `compile`s share: one (loss-scaled, built) Adam per player and the loss settings."""
    model.d_optimizer = precision.loss_scaled(d_optimizer or adversarial_adam())
    model.g_optimizer = precision.loss_scaled(g_optimizer or adversarial_adam())
    model.d_optimizer.build(model.discriminator.trainable_variables)
    model.g_optimizer.build(model.generator.trainable_variables)
    model.generator_loss_name = generator_loss
    model.adversarial_generator_loss = losses.GENERATOR_LOSSES[generator_loss]
    model.label_smoothing = float(label_smoothing)


def conditional_generate_endpoints(generator, latent_dim):
    """The SavedModel signatures of a class-conditional generator (cGAN, ACGAN)."""

    def generate(noise, labels):
        return {"images": generator([noise, tf.cast(labels, tf.int32)], training=False)}

    endpoint = export.Endpoint(
        generate,
        (
            tf.TensorSpec([None, latent_dim], tf.float32, name="noise"),
            tf.TensorSpec([None], tf.int64, name="labels"),
        ),
    )
    return {"generate": endpoint, "serving_default": endpoint}
