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

`DCGAN` is also the base of `CGAN` and `ACGAN`: they override the small hooks
that say what the generator and discriminator read (`_generator_inputs`,
`_discriminate`) and what each player minimises (`_discriminator_objective`,
`_generator_objective`), and inherit the training loop unchanged.
"""

import keras
import tensorflow as tf
from keras import ops

from kerasda import distribute, losses, precision


def _adam():
    # DCGAN's setting: a lower beta_1 damps momentum in the non-stationary game.
    return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5)


class DCGAN(keras.Model):
    """Unconditional DCGAN.

    Args:
        generator: model noise [B, latent_dim] -> images [B, H, W, C] in
            [-1, 1] (see `gan_networks.build_generator`).
        discriminator: model images -> real/fake logits [B, 1] (see
            `gan_networks.build_discriminator`).
        seed: seed of the `SeedGenerator` that draws every z, so that runs
            are reproducible.
        name: model name.

    Training data: batches of images, or `(images, labels)` pairs whose labels
    are ignored. Example:

        >>> gan = DCGAN(build_generator(), build_discriminator())
        >>> gan.compile()          # Adam(2e-4, beta_1=0.5) for both players
        >>> gan.fit(image_dataset, steps_per_epoch=469, epochs=5)
    """

    # Names of the `keras.metrics.Mean` trackers; subclasses add their own.
    tracker_names = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, generator, discriminator, seed=0, name="dcgan", **kwargs):
        super().__init__(name=name, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self._check_networks()
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.image_shape = tuple(generator.outputs[0].shape[1:])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in self.tracker_names}
        # Every variable exists now (networks are functional models with fixed
        # input shapes), so fit() and checkpoints need no symbolic build.
        self.built = True

    def _check_networks(self):
        _expect_io(self.generator, "generator", num_inputs=1, num_outputs=1)
        _expect_io(self.discriminator, "discriminator", num_inputs=1, num_outputs=1)

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
        if generator_loss not in losses.GENERATOR_LOSSES:
            raise ValueError(
                f"generator_loss must be one of {sorted(losses.GENERATOR_LOSSES)}, "
                f"got {generator_loss!r}."
            )
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
        super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
        self.d_optimizer = precision.loss_scaled(d_optimizer or _adam())
        self.g_optimizer = precision.loss_scaled(g_optimizer or _adam())
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.generator_loss_name = generator_loss
        self.adversarial_generator_loss = losses.GENERATOR_LOSSES[generator_loss]
        self.label_smoothing = float(label_smoothing)

    @property
    def metrics(self):
        return list(self.trackers.values())

    # ------------------------------------------------------------------ sampling

    def sample_noise(self, batch_size):
        """z ~ N(0, I) of shape [batch_size, latent_dim], from the model's seed."""
        return distribute.normal((batch_size, self.latent_dim), self.seed_generator)

    def generate(self, noise, labels=None, training=False):
        """G(z): images in [-1, 1]. `labels` is ignored by unconditional models."""
        return self.generator(self._generator_inputs(noise, labels), training=training)

    def call(self, noise, training=False):
        return self.generate(noise, training=training)

    def generate_signature(self):
        """`(fn, input specs)` of the exported `generate(noise) -> {"images"}` signature."""

        def generate(noise):
            return {"images": self.generator(noise, training=False)}

        return generate, [tf.TensorSpec([None, self.latent_dim], tf.float32, name="noise")]

    # --------------------------------------------------- hooks for subclasses

    def _unpack(self, data):
        """A batch -> (real images, labels or None)."""
        if isinstance(data, (tuple, list)):
            return data[0], None
        return data, None

    def _generator_inputs(self, noise, labels):
        return noise

    def _discriminate(self, images, labels, training):
        return self.discriminator(images, training=training)

    def _discriminator_objective(self, real_outputs, fake_outputs, labels):
        """D's loss and logs (average D(x) and D(G(z)) as probabilities)."""
        d_loss = losses.discriminator_loss(real_outputs, fake_outputs, self.label_smoothing)
        return d_loss, {
            "d_loss": d_loss,
            "d_real": ops.mean(ops.sigmoid(real_outputs)),
            "d_fake": ops.mean(ops.sigmoid(fake_outputs)),
        }

    def _generator_objective(self, fake_outputs, labels):
        g_loss = self.adversarial_generator_loss(fake_outputs)
        return g_loss, {"g_loss": g_loss}

    # ------------------------------------------------------------ the game

    def discriminator_step(self, real_images, labels=None):
        """One update of D on a real batch and as many samples of G; returns logs."""
        batch_size = ops.shape(real_images)[0]
        fake_images = self.generate(self.sample_noise(batch_size), labels, training=True)
        with tf.GradientTape() as tape:
            real_outputs = self._discriminate(real_images, labels, training=True)
            fake_outputs = self._discriminate(fake_images, labels, training=True)
            d_loss, logs = self._discriminator_objective(real_outputs, fake_outputs, labels)
        _descend(tape, d_loss, self.discriminator, self.d_optimizer)
        return logs

    def generator_step(self, batch_size, labels=None):
        """One update of G against the current D, from a fresh z; returns logs."""
        noise = self.sample_noise(batch_size)
        with tf.GradientTape() as tape:
            fake_images = self.generate(noise, labels, training=True)
            fake_outputs = self._discriminate(fake_images, labels, training=True)
            g_loss, logs = self._generator_objective(fake_outputs, labels)
        _descend(tape, g_loss, self.generator, self.g_optimizer)
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
        real_outputs = self._discriminate(real_images, labels, training=False)
        fake_outputs = self._discriminate(fake_images, labels, training=False)
        _, d_logs = self._discriminator_objective(real_outputs, fake_outputs, labels)
        _, g_logs = self._generator_objective(fake_outputs, labels)
        return self._update_trackers({**d_logs, **g_logs})

    def _update_trackers(self, logs):
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


def _descend(tape, loss, network, optimizer):
    """One optimizer step on `network`'s trainable variables only."""
    variables = network.trainable_variables
    gradients = distribute.replica_gradients(tape, loss, variables, optimizer)
    optimizer.apply_gradients(zip(gradients, variables))


def _expect_io(model, role, num_inputs, num_outputs):
    if len(model.inputs) != num_inputs or len(model.outputs) != num_outputs:
        raise ValueError(
            f"The {role} must have {num_inputs} input(s) and {num_outputs} output(s), got "
            f"{len(model.inputs)} input(s) {[t.name for t in model.inputs]} and "
            f"{len(model.outputs)} output(s)."
        )
