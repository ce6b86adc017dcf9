"""Conditional DCGAN (Mirza & Osindero, 2014): G(z, y) and D(x, y).

The generator reads a one-hot label next to z; the discriminator reads the
label as extra image channels, so it can reject a well-drawn digit of the
wrong class, and only then does the generator learn to honour the label.

`condition_discriminator=False` gives D the image alone (the seeds' "cD(x)"
ablation): the adversarial game then says nothing about labels, and the
fraction of samples classified as their requested label drops to chance —
the experiment that shows where conditioning comes from.

Fake samples take the labels of the real batch, so both players see the
data's class distribution.
"""

import keras
from keras import ops

from kerasda.models.dcgan import DCGAN
from kerasda.models.training import conditional_generate_endpoints, expect_io


@keras.saving.register_keras_serializable(package="kerasda")
class CGAN(DCGAN):
    """Conditional DCGAN.

    Args:
        generator: model (noise [B, latent_dim], int labels [B]) -> images in
            [-1, 1] (`networks.gan.build_generator(num_classes=...)`).
        discriminator: model (images, int labels) -> logits [B, 1]
            (`networks.gan.build_conditional_discriminator`), or images ->
            logits (`build_discriminator`) when `condition_discriminator` is
            False.
        num_classes: number of labels.
        condition_discriminator: whether D sees the label (False = cD(x)).
        seed: seed of the noise `SeedGenerator`.
        name: model name.

    Training data: `(images, labels)` batches, labels int in [0, num_classes).
    """

    def __init__(
        self,
        generator,
        discriminator,
        num_classes=10,
        condition_discriminator=True,
        seed=0,
        name="cgan",
        **kwargs,
    ):
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
        self.num_classes = int(num_classes)
        self.condition_discriminator = bool(condition_discriminator)
        super().__init__(generator, discriminator, seed=seed, name=name, **kwargs)

    def _check_networks(self):
        expect_io(self.generator, "conditional generator", num_inputs=2, num_outputs=1)
        expect_io(
            self.discriminator,
            "conditional discriminator" if self.condition_discriminator else "cD(x) discriminator",
            num_inputs=2 if self.condition_discriminator else 1,
            num_outputs=1,
        )

    def sample_labels(self, batch_size):
        """Uniform labels in [0, num_classes), from the model's seed."""
        return keras.random.randint((batch_size,), 0, self.num_classes, seed=self.seed_generator, dtype="int32")

    def generate(self, noise, labels=None, training=False):
        """G(z, y): images in [-1, 1]; `labels` are ints [B] (required)."""
        if labels is None:
            raise ValueError(f"{type(self).__name__}.generate needs labels.")
        return super().generate(noise, labels, training=training)

    def call(self, inputs, training=False):
        noise, labels = inputs
        return self.generate(noise, labels, training=training)

    def serving_endpoints(self):
        """`generate(noise, labels int64 [N]) -> {"images"}`, also `serving_default`."""
        return conditional_generate_endpoints(self.generator, self.latent_dim)

    def _unpack(self, data):
        if not isinstance(data, (tuple, list)) or len(data) < 2:
            raise ValueError(f"{type(self).__name__} trains on (images, labels) batches; got a batch without labels.")
        return data[0], ops.cast(data[1], "int32")

    def _generator_inputs(self, noise, labels):
        return [noise, labels]

    def _discriminate(self, images, labels, training):
        if self.condition_discriminator:
            return self.discriminator([images, labels], training=training)
        return self.discriminator(images, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "condition_discriminator": self.condition_discriminator,
        }
