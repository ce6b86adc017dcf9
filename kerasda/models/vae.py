"""EndoVAE: a variational autoencoder for 96x96 endoscopy images.

The networks follow EndoVAE (Diamantis et al., 2022) and are built in
`kerasda.networks.vae`: a convolutional encoder to a 6-dimensional Gaussian
latent and a mirrored decoder ending in a sigmoid, so reconstructions live in
[0, 1] like the inputs. Training maximises the ELBO (Kingma & Welling, 2014):

    loss = reconstruction(x, decoder(z)) + beta * KL(q(z|x) || N(0, I)),
    z = mean + exp(log_variance / 2) * epsilon,   epsilon ~ N(0, I),

with the reconstruction term summed over each image's pixels (binary
cross-entropy or squared error) and both terms averaged over the batch.

Two standard guards against posterior collapse (the decoder ignoring z and
every image getting the same blurry mean) are optional: a linear KL warm-up
(beta ramps from 0 over `kl_warmup_steps`; Bowman et al., 2016) and free bits
(each latent dimension's batch-mean KL counts as at least `free_bits` nats;
Kingma et al., 2016). Both change only the training objective; the reported
`kl_loss` is always the true KL.
"""

import keras
import tensorflow as tf

from kerasda import export, losses, precision
from kerasda.layers.sampling import Sampling
from kerasda.models.training import descend, deserialize, serialize


@keras.saving.register_keras_serializable(package="kerasda")
class VAE(keras.Model):
    """A variational autoencoder trained on the (beta-weighted) negative ELBO.

    Args:
        encoder: images -> [mean, log_variance] (see `build_encoder`).
        decoder: latent -> images in [0, 1] (see `build_decoder`).
        beta: weight of the KL term (1 is the plain VAE; > 1 a beta-VAE).
        reconstruction_loss: "bce" (pixels as Bernoulli probabilities) or
            "mse" (squared error); either is summed over each image.
        seed: seed of the reparameterisation noise and of `sample_prior`.
        kl_warmup_steps: KL weight grows linearly from 0 to `beta` over this
            many optimizer steps (0: `beta` from the start).
        free_bits: nats per latent dimension below which the KL of that
            dimension (batch mean) is not penalised (0: plain ELBO).

    Example:
        >>> vae = VAE(networks.vae.build_encoder(), networks.vae.build_decoder(), seed=0)
        >>> vae.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> vae.fit(images_in_0_1, batch_size=128, epochs=10)
        >>> vae.reconstruct(images_in_0_1[:5]).shape
        TensorShape([5, 96, 96, 3])
    """

    def __init__(
        self,
        encoder,
        decoder,
        beta=1.0,
        reconstruction_loss="bce",
        seed=None,
        kl_warmup_steps=0,
        free_bits=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}.")
        if kl_warmup_steps < 0 or free_bits < 0:
            raise ValueError(f"kl_warmup_steps and free_bits must be >= 0, got {kl_warmup_steps}, {free_bits}.")
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.free_bits = float(free_bits)
        if reconstruction_loss not in losses.RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"reconstruction_loss must be one of {sorted(losses.RECONSTRUCTION_LOSSES)}, "
                f"got {reconstruction_loss!r}."
            )
        if encoder.outputs[0].shape[-1] != decoder.inputs[0].shape[-1]:
            raise ValueError(
                f"encoder latent size {encoder.outputs[0].shape[-1]} does not match decoder "
                f"input size {decoder.inputs[0].shape[-1]}."
            )
        self.encoder = encoder
        self.decoder = decoder
        self.beta = float(beta)
        self.reconstruction_loss = reconstruction_loss
        self.reconstruction_loss_fn = losses.RECONSTRUCTION_LOSSES[reconstruction_loss]
        self.seed = seed
        self.sampling = Sampling(seed=seed, dtype="float32", name="sampling")
        # tf.train.Checkpoint does not follow SeedGenerators; holding the state
        # variable as an attribute saves it, so a resumed run continues the noise.
        self.noise_state = self.sampling.seed_generator.state
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def latent_dim(self):
        return self.decoder.inputs[0].shape[-1]

    @property
    def image_shape(self):
        return tuple(self.encoder.inputs[0].shape[1:])

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def compile(self, optimizer="adam", **kwargs):
        """Also builds the optimizer, so a checkpoint restores its slots; loss-scaled under mixed_float16."""
        super().compile(optimizer=precision.loss_scaled(optimizer), **kwargs)
        self.optimizer.build(self.trainable_variables)

    # -- The three operations users (and the exported signatures) need. --

    def encode(self, images):
        """Images in [0, 1] -> (mean, log_variance) of the approximate posterior."""
        mean, log_variance = self.encoder(images, training=False)
        return mean, log_variance

    def decode(self, latent):
        """Latent codes -> images in [0, 1]."""
        return self.decoder(latent, training=False)

    def reconstruct(self, images):
        """Deterministic reconstruction: decode the posterior mean (no sampling noise)."""
        mean, _ = self.encode(images)
        return self.decode(mean)

    def sample_prior(self, num_samples):
        """Decode `num_samples` latent codes drawn from the prior N(0, I)."""
        latent = keras.random.normal((num_samples, self.latent_dim), seed=self.sampling.seed_generator)
        return self.decode(latent)

    def call(self, images, training=False):
        return self.reconstruct(images)

    # -- Training. --

    def kl_weight(self):
        """beta, ramped linearly from 0 over the first `kl_warmup_steps` optimizer steps."""
        if not self.kl_warmup_steps or getattr(self, "optimizer", None) is None:
            return tf.constant(self.beta)
        progress = tf.cast(self.optimizer.iterations, tf.float32) / float(self.kl_warmup_steps)
        return self.beta * tf.minimum(progress, 1.0)

    def compute_losses(self, images, training=False):
        """The negative ELBO and its two terms, each averaged over the batch.

        With `training=True`, `total_loss` is the training objective (KL
        warm-up and free bits applied); otherwise it is the plain negative ELBO.
        """
        mean, log_variance = self.encoder(images, training=training)
        latent = self.sampling([mean, log_variance])
        reconstructions = self.decoder(latent, training=training)
        reconstruction_loss = tf.reduce_mean(self.reconstruction_loss_fn(images, reconstructions))
        kl_per_dim = tf.reduce_mean(-0.5 * (1.0 + log_variance - tf.square(mean) - tf.exp(log_variance)), axis=0)
        kl_loss = tf.reduce_sum(kl_per_dim)
        if training:
            kl_term = tf.reduce_sum(tf.maximum(kl_per_dim, self.free_bits)) if self.free_bits else kl_loss
            total_loss = reconstruction_loss + self.kl_weight() * kl_term
        else:
            total_loss = reconstruction_loss + self.beta * kl_loss
        return {
            "total_loss": total_loss,
            "reconstruction_loss": reconstruction_loss,
            "kl_loss": kl_loss,
        }

    def per_image_scores(self, images):
        """Deterministic per-image terms for anomaly scoring, each [B].

        `reconstruction`: the reconstruction loss of the posterior mean's
        decoding; `kl`: KL(q(z|x) || N(0, I)); `elbo`: their sum (beta 1), the
        negative ELBO evaluated at the posterior mean.
        """
        images = tf.cast(images, tf.float32)  # compared in float32 under mixed precision too
        mean, log_variance = self.encode(images)
        reconstruction = self.reconstruction_loss_fn(images, self.decode(mean))
        kl = losses.gaussian_kl_divergence(mean, log_variance)
        return {"reconstruction": reconstruction, "kl": kl, "elbo": reconstruction + kl}

    def _images(self, data):
        # Accept (images,), (images, labels) or bare images, as fit passes them.
        if isinstance(data, (tuple, list)):
            data = data[0]
        # float32 even under mixed precision: the encoder casts its input, the loss compares in float32
        if data.dtype == tf.uint8:  # raw pixels: the model works in [0, 1]
            return tf.cast(data, tf.float32) / 255.0
        return tf.cast(data, tf.float32)

    def _update_trackers(self, loss_values):
        self.total_loss_tracker.update_state(loss_values["total_loss"])
        self.reconstruction_loss_tracker.update_state(loss_values["reconstruction_loss"])
        self.kl_loss_tracker.update_state(loss_values["kl_loss"])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        images = self._images(data)
        with tf.GradientTape() as tape:
            loss_values = self.compute_losses(images, training=True)
        variables = self.encoder.trainable_variables + self.decoder.trainable_variables
        descend(tape, loss_values["total_loss"], variables, self.optimizer)
        return self._update_trackers(loss_values)

    def test_step(self, data):
        images = self._images(data)
        return self._update_trackers(self.compute_losses(images, training=False))

    # -- Export. --

    def serving_endpoints(self):
        """The VAE's SavedModel signatures (no `serving_default`).

        encode(images[None,H,W,3] in [0, 1]) -> {mean, log_variance}
        decode(latent[None,latent_dim]) -> {images}
        reconstruct(images) -> {reconstructions}  (decodes the posterior mean)
        """
        image_spec = (tf.TensorSpec((None, *self.image_shape), tf.float32, name="images"),)
        latent_spec = (tf.TensorSpec((None, self.latent_dim), tf.float32, name="latent"),)

        def encode(images):
            mean, log_variance = self.encode(images)
            return {"mean": mean, "log_variance": log_variance}

        def decode(latent):
            return {"images": self.decode(latent)}

        def reconstruct(images):
            return {"reconstructions": self.reconstruct(images)}

        return {
            "encode": export.Endpoint(encode, image_spec),
            "decode": export.Endpoint(decode, latent_spec),
            "reconstruct": export.Endpoint(reconstruct, image_spec),
        }

    # -- Serialisation. --

    def get_config(self):
        return {
            "name": self.name,
            "encoder": serialize(self.encoder),
            "decoder": serialize(self.decoder),
            "beta": self.beta,
            "reconstruction_loss": self.reconstruction_loss,
            "seed": self.seed,
            "kl_warmup_steps": self.kl_warmup_steps,
            "free_bits": self.free_bits,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize(config, ("encoder", "decoder")))
