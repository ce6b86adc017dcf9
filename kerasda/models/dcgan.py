"""DCGAN (Radford et al., 2016) as a `keras.Model` that overrides `train_step`.

Each training step is the GAN algorithm box (Goodfellow et al., 2014):

1. discriminator step: sample z, generate G(z), and update D to tell the real
   batch (target 1) from G(z) (target 0) — binary cross-entropy on logits;
2. generator step: sample a fresh z and update G so that D calls G(z) real
   (the non-saturating loss -log D(G(z)) by default, or the original
   minimax log(1 - D(G(z)))).

Each step has its own `GradientTape` and its own optimizer and differentiates
only its own network's trainable variables, so the generator step never moves
D's weights and vice versa. (Batch-norm moving averages are statistics, not
weights: every training-mode forward pass refreshes them, as in the paper's
implementations.)

The networks are built in `kerasda.networks.gan`. `CGAN` (cgan.py) is this
model with the label fed to both players; `ACGAN` (acgan.py) is its own model.
"""

import keras
import tensorflow as tf
from keras import ops

from kerasda import distribute, export, losses
from kerasda.models.training import (
    check_gan_compile_arguments,
    descend,
    deserialize,
    expect_io,
    serialize,
    set_gan_players,
)


@keras.saving.register_keras_serializable(package="kerasda")
class DCGAN(keras.Model):
    """Unconditional DCGAN.

    Args:
        generator: model noise [B, latent_dim] -> images [B, H, W, C] in
            [-1, 1] (see `networks.gan.build_generator`).
        discriminator: model images -> real/fake logits [B, 1] (see
            `networks.gan.build_discriminator`).
        seed: seed of the `SeedGenerator` that draws every z, so that runs
            are reproducible.
        name: model name.

    Training data: batches of images, or `(images, labels)` pairs whose labels
    are ignored. Example:

        >>> gan = DCGAN(build_generator(), build_discriminator())
        >>> gan.compile()          # Adam(2e-4, beta_1=0.5) for both players
        >>> gan.fit(image_dataset, steps_per_epoch=469, epochs=5)
    """

    def __init__(self, generator, discriminator, seed=0, name="dcgan", **kwargs):
        super().__init__(name=name, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self._check_networks()
        self.seed = seed
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.image_shape = tuple(generator.outputs[0].shape[1:])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")  # mean D(x) as a probability
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")  # mean D(G(z))
        # Every variable exists now (networks are functional models with fixed
        # input shapes), so fit() and checkpoints need no symbolic build.
        self.built = True

    def _check_networks(self):
        expect_io(self.generator, "generator", num_inputs=1, num_outputs=1)
        expect_io(self.discriminator, "discriminator", num_inputs=1, num_outputs=1)

    def compile(
        self,
        d_optimizer=None,
        g_optimizer=None,
        generator_loss="non_saturating",
        label_smoothing=0.0,
        jit_compile=False,
        **kwargs,
    ):
        """Sets each player's optimizer and the losses.

        Args:
            d_optimizer, g_optimizer: optimizers of D and G; default
                Adam(2e-4, beta_1=0.5) each. Built here, so that checkpoints
                restore their slots.
            generator_loss: "non_saturating" (-log D(G(z))) or "minimax"
                (log(1 - D(G(z)))); see `kerasda.losses.GENERATOR_LOSSES`.
            label_smoothing: one-sided smoothing of D's real targets, in [0, 1).
            jit_compile: XLA for fit(); off by default (slower on CPU here).
            **kwargs: passed to `keras.Model.compile` (e.g. `run_eagerly`).
        """
        check_gan_compile_arguments(generator_loss, label_smoothing)
        super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
        set_gan_players(self, d_optimizer, g_optimizer, generator_loss, label_smoothing)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    # ------------------------------------------------------------------ sampling

    def sample_noise(self, batch_size):
        """z ~ N(0, I) of shape [batch_size, latent_dim], from the model's seed."""
        return distribute.normal((batch_size, self.latent_dim), self.seed_generator)

    def generate(self, noise, labels=None, training=False):
        """G(z): images in [-1, 1]. `labels` is ignored by unconditional models."""
        return self.generator(self._generator_inputs(noise, labels), training=training)

    def call(self, noise, training=False):
        return self.generate(noise, training=training)

    # ----------------------------------------------- what the players read (CGAN: the label too)

    def _unpack(self, data):
        """A batch -> (real images, labels or None)."""
        if isinstance(data, (tuple, list)):
            return data[0], None
        return data, None

    def _generator_inputs(self, noise, labels):
        return noise

    def _discriminate(self, images, labels, training):
        return self.discriminator(images, training=training)

    # ------------------------------------------------------------ the objectives

    def discriminator_objective(self, real_logits, fake_logits):
        """D's loss (BCE, real -> 1 - label_smoothing, fake -> 0) and its logs."""
        d_loss = losses.discriminator_loss(real_logits, fake_logits, self.label_smoothing)
        return d_loss, {
            "d_loss": d_loss,
            "d_real": ops.mean(ops.sigmoid(real_logits)),
            "d_fake": ops.mean(ops.sigmoid(fake_logits)),
        }

    def generator_objective(self, fake_logits):
        """G's loss (the compiled `generator_loss` of D's logits on G(z)) and its logs."""
        g_loss = self.adversarial_generator_loss(fake_logits)
        return g_loss, {"g_loss": g_loss}

    # ------------------------------------------------------------ the game

    def discriminator_step(self, real_images, labels=None):
        """One update of D on a real batch and as many samples of G; returns logs."""
        batch_size = ops.shape(real_images)[0]
        fake_images = self.generate(self.sample_noise(batch_size), labels, training=True)
        with tf.GradientTape() as tape:
            real_logits = self._discriminate(real_images, labels, training=True)
            fake_logits = self._discriminate(fake_images, labels, training=True)
            d_loss, logs = self.discriminator_objective(real_logits, fake_logits)
        descend(tape, d_loss, self.discriminator.trainable_variables, self.d_optimizer)
        return logs

    def generator_step(self, batch_size, labels=None):
        """One update of G against the current D, from a fresh z; returns logs."""
        noise = self.sample_noise(batch_size)
        with tf.GradientTape() as tape:
            fake_images = self.generate(noise, labels, training=True)
            fake_logits = self._discriminate(fake_images, labels, training=True)
            g_loss, logs = self.generator_objective(fake_logits)
        descend(tape, g_loss, self.generator.trainable_variables, self.g_optimizer)
        return logs

    def train_step(self, data):
        real_images, labels = self._unpack(data)
        d_logs = self.discriminator_step(real_images, labels)
        g_logs = self.generator_step(ops.shape(real_images)[0], labels)
        return self._update_trackers({**d_logs, **g_logs})

    def test_step(self, data):
        """The same losses as `train_step`, in inference mode, with no updates."""
        real_images, labels = self._unpack(data)
        batch_size = ops.shape(real_images)[0]
        fake_images = self.generate(self.sample_noise(batch_size), labels)
        real_logits = self._discriminate(real_images, labels, training=False)
        fake_logits = self._discriminate(fake_images, labels, training=False)
        _, d_logs = self.discriminator_objective(real_logits, fake_logits)
        _, g_logs = self.generator_objective(fake_logits)
        return self._update_trackers({**d_logs, **g_logs})

    def _update_trackers(self, logs):
        for tracker in self.metrics:
            tracker.update_state(logs[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.metrics}

    # ------------------------------------------------------------ export, config

    def serving_endpoints(self):
        """`generate(noise) -> {"images"}`, also `serving_default`: noise float32 [N, latent_dim] ~ N(0, I)."""

        def generate(noise):
            return {"images": self.generator(noise, training=False)}

        endpoint = export.Endpoint(generate, (tf.TensorSpec([None, self.latent_dim], tf.float32, name="noise"),))
        return {"generate": endpoint, "serving_default": endpoint}

    def get_config(self):
        return {
            "name": self.name,
            "generator": serialize(self.generator),
            "discriminator": serialize(self.discriminator),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize(config, ("generator", "discriminator")))
