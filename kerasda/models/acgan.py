"""ACGAN (Odena et al., 2017): G(z, c), and a discriminator that also classifies.

D sees the image alone and outputs P(S | X), S in {real, fake}, and
P(C | X), the class. With

    L_S = E[log P(S=real | X_real)] + E[log P(S=fake | X_fake)]
    L_C = E[log P(C=c | X_real)]    + E[log P(C=c | X_fake)]

D maximises L_S + L_C and G maximises L_C - L_S. As losses to minimise (batch
means, each expectation a mean over its batch):

    D: (BCE(real -> 1) + BCE(fake -> 0)) / 2 + (CE(c | X_real) + CE(c | X_fake)) / 2
       = -(L_S + L_C) / 2
    G: adversarial(fake logits) + CE(c | X_fake)

With `generator_loss="minimax"` the adversarial term is log(1 - D(G(z))), the
G-dependent part of L_S, so G minimises exactly L_S - L_C; the default
non-saturating term -log D(G(z)) has the same fixed point and stronger early
gradients, as in DCGAN.

The networks are built in `kerasda.networks.gan`, both losses are pure
functions in `kerasda.losses` (`acgan_discriminator_loss`,
`acgan_generator_loss`); the model shares DCGAN's compile arguments and
cGAN's export signatures through functions, not inheritance.
"""

import keras
import tensorflow as tf
from keras import ops

from kerasda import distribute, losses
from kerasda.models.training import (
    check_gan_compile_arguments,
    conditional_generate_endpoints,
    descend,
    deserialize,
    expect_io,
    serialize,
    set_gan_players,
)


@keras.saving.register_keras_serializable(package="kerasda")
class ACGAN(keras.Model):
    """Auxiliary-classifier GAN.

    Args:
        generator: model (noise, int labels) -> images in [-1, 1]
            (`networks.gan.build_generator(num_classes=...)`).
        discriminator: model images -> [real/fake logits [B, 1], class logits
            [B, num_classes]] (`networks.gan.build_auxiliary_classifier_discriminator`).
        num_classes: number of classes.
        seed: seed of the noise and label `SeedGenerator`.
        name: model name.

    Reports DCGAN's trackers (`d_loss`, `g_loss`, `d_real`, `d_fake`), plus
    `d_class_loss` (D's class term), `g_class_loss` (G's), and D's class
    accuracy on real images (`class_acc_real`) and on samples w.r.t. the
    requested class (`class_acc_fake`).

    Training data: `(images, labels)` batches, labels int in [0, num_classes);
    samples take the labels of the real batch.
    """

    def __init__(self, generator, discriminator, num_classes=10, seed=0, name="acgan", **kwargs):
        super().__init__(name=name, **kwargs)
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
        expect_io(generator, "conditional generator", num_inputs=2, num_outputs=1)
        expect_io(discriminator, "ACGAN discriminator", num_inputs=1, num_outputs=2)
        classes = discriminator.outputs[1].shape[-1]
        if classes != int(num_classes):
            raise ValueError(
                f"The ACGAN discriminator's class head has {classes} outputs but num_classes={num_classes}."
            )
        self.generator = generator
        self.discriminator = discriminator
        self.num_classes = int(num_classes)
        self.seed = seed
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.image_shape = tuple(generator.outputs[0].shape[1:])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.d_class_loss_tracker = keras.metrics.Mean(name="d_class_loss")
        self.g_class_loss_tracker = keras.metrics.Mean(name="g_class_loss")
        self.class_acc_real = keras.metrics.SparseCategoricalAccuracy(name="class_acc_real")
        self.class_acc_fake = keras.metrics.SparseCategoricalAccuracy(name="class_acc_fake")
        self.built = True

    def compile(
        self,
        d_optimizer=None,
        g_optimizer=None,
        generator_loss="non_saturating",
        label_smoothing=0.0,
        jit_compile=False,
        **kwargs,
    ):
        """Sets each player's optimizer (default Adam(2e-4, beta_1=0.5)) and the losses, as `DCGAN.compile`."""
        check_gan_compile_arguments(generator_loss, label_smoothing)
        super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
        set_gan_players(self, d_optimizer, g_optimizer, generator_loss, label_smoothing)

    @property
    def metrics(self):
        return [
            self.d_loss_tracker,
            self.g_loss_tracker,
            self.d_real_tracker,
            self.d_fake_tracker,
            self.d_class_loss_tracker,
            self.g_class_loss_tracker,
            self.class_acc_real,
            self.class_acc_fake,
        ]

    # ------------------------------------------------------------------ sampling

    def sample_noise(self, batch_size):
        """z ~ N(0, I) of shape [batch_size, latent_dim], from the model's seed."""
        return distribute.normal((batch_size, self.latent_dim), self.seed_generator)

    def sample_labels(self, batch_size):
        """Uniform labels in [0, num_classes), from the model's seed."""
        return keras.random.randint((batch_size,), 0, self.num_classes, seed=self.seed_generator, dtype="int32")

    def generate(self, noise, labels=None, training=False):
        """G(z, c): images in [-1, 1]; `labels` are ints [B] (required)."""
        if labels is None:
            raise ValueError(f"{type(self).__name__}.generate needs labels.")
        return self.generator([noise, labels], training=training)

    def call(self, inputs, training=False):
        noise, labels = inputs
        return self.generate(noise, labels, training=training)

    # ------------------------------------------------------------ the game

    def discriminator_step(self, real_images, labels):
        """One update of D on a real batch and as many samples of G(z, labels); returns D's losses."""
        batch_size = ops.shape(real_images)[0]
        fake_images = self.generate(self.sample_noise(batch_size), labels, training=True)
        with tf.GradientTape() as tape:
            d_loss, outputs = self.discriminator_losses(real_images, fake_images, labels, training=True)
        descend(tape, d_loss, self.discriminator.trainable_variables, self.d_optimizer)
        return self._record_discriminator(d_loss, labels, *outputs)

    def discriminator_losses(self, real_images, fake_images, labels, training):
        """D's loss on a real and a generated batch, and D's (real, fake, real class, fake class) logits."""
        real_logits, real_class_logits = self.discriminator(real_images, training=training)
        fake_logits, fake_class_logits = self.discriminator(fake_images, training=training)
        d_loss = losses.acgan_discriminator_loss(
            real_logits, fake_logits, real_class_logits, fake_class_logits, labels, labels, self.label_smoothing
        )
        return d_loss, (real_logits, fake_logits, real_class_logits, fake_class_logits)

    def generator_step(self, batch_size, labels):
        """One update of G against the current D, from a fresh z; returns G's losses."""
        noise = self.sample_noise(batch_size)
        with tf.GradientTape() as tape:
            fake_images = self.generate(noise, labels, training=True)
            fake_logits, fake_class_logits = self.discriminator(fake_images, training=True)
            g_loss = losses.acgan_generator_loss(
                fake_logits, fake_class_logits, labels, self.adversarial_generator_loss
            )
        descend(tape, g_loss, self.generator.trainable_variables, self.g_optimizer)
        return self._record_generator(g_loss, labels, fake_class_logits)

    def train_step(self, data):
        real_images, labels = _images_and_labels(data)
        self.discriminator_step(real_images, labels)
        self.generator_step(ops.shape(real_images)[0], labels)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        """The same losses as `train_step`, in inference mode, with no updates."""
        real_images, labels = _images_and_labels(data)
        fake_images = self.generate(self.sample_noise(ops.shape(real_images)[0]), labels)
        d_loss, outputs = self.discriminator_losses(real_images, fake_images, labels, training=False)
        _, fake_logits, _, fake_class_logits = outputs
        g_loss = losses.acgan_generator_loss(fake_logits, fake_class_logits, labels, self.adversarial_generator_loss)
        self._record_discriminator(d_loss, labels, *outputs)
        self._record_generator(g_loss, labels, fake_class_logits)
        return {m.name: m.result() for m in self.metrics}

    def _record_discriminator(self, d_loss, labels, real_logits, fake_logits, real_class_logits, fake_class_logits):
        d_class_loss = 0.5 * (
            losses.sparse_classification_loss(labels, real_class_logits)
            + losses.sparse_classification_loss(labels, fake_class_logits)
        )
        self.d_loss_tracker.update_state(d_loss)
        self.d_real_tracker.update_state(ops.mean(ops.sigmoid(real_logits)))
        self.d_fake_tracker.update_state(ops.mean(ops.sigmoid(fake_logits)))
        self.d_class_loss_tracker.update_state(d_class_loss)
        self.class_acc_real.update_state(labels, real_class_logits)
        self.class_acc_fake.update_state(labels, fake_class_logits)
        return {"d_loss": d_loss, "d_class_loss": d_class_loss}

    def _record_generator(self, g_loss, labels, fake_class_logits):
        g_class_loss = losses.sparse_classification_loss(labels, fake_class_logits)
        self.g_loss_tracker.update_state(g_loss)
        self.g_class_loss_tracker.update_state(g_class_loss)
        return {"g_loss": g_loss, "g_class_loss": g_class_loss}

    # ------------------------------------------------------------ export, config

    def serving_endpoints(self):
        """`generate(noise, labels int64 [N]) -> {"images"}`, also `serving_default`."""
        return conditional_generate_endpoints(self.generator, self.latent_dim)

    def get_config(self):
        return {
            "name": self.name,
            "generator": serialize(self.generator),
            "discriminator": serialize(self.discriminator),
            "num_classes": self.num_classes,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize(config, ("generator", "discriminator")))


def _images_and_labels(data):
    if not isinstance(data, (tuple, list)) or len(data) < 2:
        raise ValueError("ACGAN trains on (images, labels) batches; got a batch without labels.")
    return data[0], ops.cast(data[1], "int32")
