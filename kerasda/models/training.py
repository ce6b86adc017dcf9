"""Small helpers that every method's `train_step` shares.

They hold no state and no algorithm: each model's `train_step` still reads top
to bottom like its paper's algorithm box, calling these for the bookkeeping.
"""

import keras

from kerasda import distribute


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
