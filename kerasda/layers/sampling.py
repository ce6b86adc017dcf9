"""The VAE's reparameterisation layer (Kingma & Welling, 2014)."""

import keras
import tensorflow as tf
from keras import layers

from kerasda import distribute


@keras.saving.register_keras_serializable(package="kerasda")
class Sampling(layers.Layer):
    """The reparameterisation trick: (mean, log_variance) -> z.

    `z = mean + exp(log_variance / 2) * epsilon` keeps z differentiable with
    respect to the encoder's outputs; epsilon comes from a SeedGenerator so that
    a run is reproducible given its seed. Under a distribution strategy every
    replica draws its own epsilon (`distribute.normal`); on one device the draw
    is `keras.random.normal`'s.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mean, log_variance = inputs
        epsilon = tf.cast(distribute.normal(tf.shape(mean), self.seed_generator), mean.dtype)
        return mean + tf.exp(0.5 * log_variance) * epsilon

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
