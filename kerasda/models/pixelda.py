"""PixelDA: unsupervised pixel-level domain adaptation with a GAN (Bousmalis et al., CVPR 2017).

A generator G(x_s, z) restyles labeled source images so that a discriminator D
cannot tell them from unlabeled target images, while a task classifier T learns
the source labels on both source and generated images. Because generated
images keep the source content but take the target style, T then classifies
real target images through the layers it learned on generated ones.

Each training step is the official algorithm's two updates, on one forward pass of G:

1. D/T step: `domain_loss_weight * L_domain(D; real target vs G(x_s, z))`
   `+ L_task(T; x_s) + L_task(T; G(x_s, z))`, applied to D and T only;
2. G step: `style_transfer_loss_weight * L_GAN(G)`
   `+ content_loss_weight * L_content(G)` `+ task_loss_in_g_weight * L_task(G)`
   `+ semantic_loss_weight * L_task(T_source; G(x_s, z))` (0 in the paper),
   applied to G only, against the D and T of step 1.

The networks are built in `kerasda.networks.pixelda`, the hyper-parameters
live in `PixelDAConfig` (`kerasda.models.pixelda_config`), the losses are the
pure functions of `kerasda.losses`.

Example:
    >>> model = PixelDA(PixelDAConfig(generator_filters=32, generator_blocks=4))
    >>> model.compile()
    >>> model.fit(pipeline.adaptation_dataset(mnist, mnist_m.unlabeled(), 32),
    ...           steps_per_epoch=1000, epochs=10)
    >>> model.adapt(mnist_images)           # MNIST -> MNIST-M style, in [-1, 1]
    >>> model.classify(mnist_m_images)      # logits, through the generated-image layers
"""

import dataclasses

import keras
import tensorflow as tf

from kerasda import distribute, export, losses, precision
from kerasda.models.pixelda_config import PixelDAConfig, make_optimizer
from kerasda.models.training import descend, unique_variables
from kerasda.networks import pixelda as networks


@keras.saving.register_keras_serializable(package="kerasda")
class PixelDA(keras.Model):
    """Pixel-level domain adaptation: generator, discriminator and task classifier.

    Trains on elements `((source_images, source_labels), target_images)` as made
    by `pipeline.adaptation_dataset`; target labels never reach `train_step`.
    `test_step` accepts the same elements, or `((xs, ys), (xt, yt))` to also
    report `target_accuracy`.

    Args:
        hparams: a PixelDAConfig (default: the paper's MNIST -> MNIST-M values).
        generator, discriminator: networks to use instead of building them
            from `hparams` (functional models; G takes `[images, noise]`).
        source_classifier, task_classifier: T's source-image and
            generated/target-image classifiers (give both or neither).
        seed: seed of the noise and of D's dropout / Gaussian noise.
    """

    def __init__(
        self,
        hparams=None,
        *,
        generator=None,
        discriminator=None,
        source_classifier=None,
        task_classifier=None,
        seed=0,
        name="pixelda",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        hparams = hparams or PixelDAConfig()
        if not isinstance(hparams, PixelDAConfig):
            raise TypeError(f"hparams must be a PixelDAConfig, got {type(hparams).__name__}.")
        if (source_classifier is None) != (task_classifier is None):
            raise ValueError("Give both source_classifier and task_classifier, or neither.")
        self.hparams = hparams
        self.seed = seed
        self.generator = generator or networks.build_generator(
            hparams.image_shape,
            hparams.noise_dim,
            hparams.generator_filters,
            hparams.generator_blocks,
            init_stddev=hparams.init_stddev,
            batch_norm_momentum=hparams.batch_norm_momentum,
        )
        self.discriminator = discriminator or networks.build_discriminator(
            hparams.image_shape,
            hparams.discriminator_filters,
            hparams.discriminator_dropout_rate,
            hparams.discriminator_noise_stddev,
            init_stddev=hparams.init_stddev,
            batch_norm_momentum=hparams.batch_norm_momentum,
            seed=seed,
        )
        if source_classifier is None:
            source_classifier, task_classifier = networks.build_task_classifiers(
                hparams.image_shape, hparams.num_classes, hparams.classifier
            )
        if hparams.semantic_loss_weight > 0 and source_classifier is task_classifier:
            raise ValueError(
                "semantic_loss_weight > 0 needs separate source and task classifiers: one T that "
                "trains on G(x) can agree with G on a wrong class."
            )
        self.source_classifier = source_classifier
        self.task_classifier = task_classifier
        generated_shape = tuple(self.generator.output.shape[1:])
        if generated_shape != hparams.image_shape:
            raise ValueError(f"The generator makes {generated_shape} images but image_shape is {hparams.image_shape}.")
        self.seed_generator = keras.random.SeedGenerator(seed)

        # D/T step.
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.domain_loss_tracker = keras.metrics.Mean(name="domain_loss")
        self.source_task_loss_tracker = keras.metrics.Mean(name="source_task_loss")
        self.generated_task_loss_tracker = keras.metrics.Mean(name="generated_task_loss")
        self.discriminator_accuracy = keras.metrics.BinaryAccuracy(
            name="discriminator_accuracy",
            threshold=0.0,  # on logits
        )
        self.source_accuracy = keras.metrics.SparseCategoricalAccuracy(name="source_accuracy")
        self.generated_accuracy = keras.metrics.SparseCategoricalAccuracy(name="generated_accuracy")
        # G step.
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.style_transfer_loss_tracker = keras.metrics.Mean(name="style_transfer_loss")
        self.content_loss_tracker = keras.metrics.Mean(name="content_loss")
        self.g_task_loss_tracker = keras.metrics.Mean(name="g_task_loss")
        self.semantic_loss_tracker = keras.metrics.Mean(name="semantic_loss")
        # Only test_step can report it: target labels never reach train_step.
        self.target_accuracy = keras.metrics.SparseCategoricalAccuracy(name="target_accuracy")

        self.d_optimizer = None
        self.g_optimizer = None
        self.built = True

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Sets (default: Adam per PixelDAConfig) and builds one optimizer per step.

        `d_optimizer` updates D and T, `g_optimizer` updates G. Both are built
        here so a checkpoint restores their slots. `g_optimizer` is also
        Keras' `model.optimizer`, whose `iterations` fit() reads as the step.
        """
        self.d_optimizer = precision.loss_scaled(d_optimizer or make_optimizer(self.hparams, "d_optimizer"))
        self.g_optimizer = precision.loss_scaled(g_optimizer or make_optimizer(self.hparams, "g_optimizer"))
        super().compile(optimizer=self.g_optimizer, **kwargs)
        self.d_optimizer.build(self.discriminator_step_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def discriminator_step_variables(self):
        """Trainable variables of D and T: what the D/T step updates (each once)."""
        return unique_variables(
            self.discriminator.trainable_variables
            + self.source_classifier.trainable_variables
            + self.task_classifier.trainable_variables
        )

    @property
    def discriminator_step_metrics(self):
        return [
            self.d_loss_tracker,
            self.domain_loss_tracker,
            self.source_task_loss_tracker,
            self.generated_task_loss_tracker,
            self.discriminator_accuracy,
            self.source_accuracy,
            self.generated_accuracy,
        ]

    @property
    def generator_step_metrics(self):
        return [
            self.g_loss_tracker,
            self.style_transfer_loss_tracker,
            self.content_loss_tracker,
            self.g_task_loss_tracker,
            self.semantic_loss_tracker,
        ]

    @property
    def metrics(self):
        return self.discriminator_step_metrics + self.generator_step_metrics + [self.target_accuracy]

    # ------------------------------------------------------------ public API
    def sample_noise(self, batch_size):
        """[batch_size, noise_dim] noise, uniform in [-1, 1], from the model's seed."""
        return distribute.uniform((batch_size, self.hparams.noise_dim), -1.0, 1.0, self.seed_generator)

    def adapt(self, images, noise=None, training=False):
        """Source-domain images in [-1, 1] -> target-style images in [-1, 1].

        Args:
            images: [B, H, W, C] float images in [-1, 1].
            noise: optional [B, noise_dim] noise in [-1, 1]; sampled if None.
        """
        images = tf.convert_to_tensor(images, tf.float32)
        if noise is None:
            noise = self.sample_noise(tf.shape(images)[0])
        return self.generator([images, tf.convert_to_tensor(noise, tf.float32)], training=training)

    def classify(self, images, domain="target"):
        """Class logits of images in [-1, 1].

        Args:
            domain: "target" (real or generated target-style images: T's
                generated-image layers, the adapted classifier) or "source".
        """
        networks_by_domain = {"target": self.task_classifier, "source": self.source_classifier}
        if domain not in networks_by_domain:
            raise ValueError(f"domain must be 'target' or 'source', got {domain!r}.")
        return networks_by_domain[domain](tf.convert_to_tensor(images, tf.float32), training=False)

    def call(self, inputs, training=False):
        """`model(images)` or `model((images, noise))` is `adapt`."""
        if isinstance(inputs, (tuple, list)):
            return self.adapt(*inputs, training=training)
        return self.adapt(inputs, training=training)

    # ---------------------------------------------------------------- losses
    def discriminator_step_losses(self, source_images, source_labels, target_images, generated_images, training):
        """D/T-step objective: (total, its terms), and D's and T's outputs for the trackers."""
        h = self.hparams
        real_logits = self.discriminator(target_images, training=training)
        fake_logits = self.discriminator(generated_images, training=training)
        # The official code sums the real and fake cross-entropies (the paper's
        # domain_loss_weight assumes that scale); discriminator_loss averages them.
        domain_loss = 2.0 * losses.discriminator_loss(real_logits, fake_logits)
        source_logits = self.source_classifier(source_images, training=training)
        generated_logits = self.task_classifier(generated_images, training=training)
        source_task_loss = losses.sparse_classification_loss(source_labels, source_logits)
        generated_task_loss = losses.sparse_classification_loss(source_labels, generated_logits)
        total = (
            h.domain_loss_weight * domain_loss
            + h.source_task_loss_weight * source_task_loss
            + h.generated_task_loss_weight * generated_task_loss
        )
        return total, {
            "domain_loss": domain_loss,
            "source_task_loss": source_task_loss,
            "generated_task_loss": generated_task_loss,
            "real_logits": real_logits,
            "fake_logits": fake_logits,
            "source_logits": source_logits,
            "generated_logits": generated_logits,
        }

    def generator_step_losses(self, source_images, source_labels, generated_images, training):
        """G-step objective: (total, its terms)."""
        h = self.hparams
        fake_logits = self.discriminator(generated_images, training=training)
        style_transfer_loss = losses.generator_loss_non_saturating(fake_logits)
        content_loss = losses.content_similarity_loss(source_images, generated_images, h.foreground_threshold)
        generated_logits = self.task_classifier(generated_images, training=training)
        g_task_loss = losses.sparse_classification_loss(source_labels, generated_logits)
        total = (
            h.style_transfer_loss_weight * style_transfer_loss
            + h.content_loss_weight * content_loss
            + h.task_loss_in_g_weight * g_task_loss
        )
        semantic_loss = tf.zeros([])
        if h.semantic_loss_weight > 0:  # static: the paper's objective skips the extra pass
            semantic_loss = self.semantic_loss(source_labels, generated_images)
            total += h.semantic_loss_weight * semantic_loss
        return total, {
            "style_transfer_loss": style_transfer_loss,
            "content_loss": content_loss,
            "g_task_loss": g_task_loss,
            "semantic_loss": semantic_loss,
        }

    def semantic_loss(self, source_labels, generated_images):
        """Cross-entropy of x's labels under T's source pathway reading G(x).

        That pathway's private first layers learn from real source images only, so
        unlike T's generated-image pathway it cannot learn to read a restyled 7 that
        looks like a 4 as a 7. Inference mode: it judges G(x) as it judges a source image.
        """
        logits = self.source_classifier(generated_images, training=False)
        return losses.sparse_classification_loss(source_labels, logits)

    # ----------------------------------------------------------------- steps
    def discriminator_step(self, source_images, source_labels, target_images, generated_images):
        """One update of D and T; G's output is data here. Returns the D/T objective and its terms."""
        generated_images = tf.stop_gradient(generated_images)
        with tf.GradientTape() as tape:
            total, terms = self.discriminator_step_losses(
                source_images, source_labels, target_images, generated_images, training=True
            )
        descend(tape, total, self.discriminator_step_variables, self.d_optimizer)
        return total, terms

    def train_step(self, data):
        (source_images, source_labels), target_images = data
        if isinstance(target_images, (tuple, list)):
            raise ValueError(
                "train_step got (target_images, target_labels): unsupervised adaptation must "
                "not see target labels. Build the data with pipeline.adaptation_dataset."
            )
        noise = self.sample_noise(tf.shape(source_images)[0])

        # G runs forward once per step. Its tape records that pass, pauses for the
        # D/T step, and resumes to record the G-step losses.
        g_tape = tf.GradientTape()
        with g_tape:
            generated_images = self.generator([source_images, noise], training=True)

        # 1. D/T step: G's output is data here.
        d_total, d_terms = self.discriminator_step(source_images, source_labels, target_images, generated_images)

        # 2. G step, against the D and T just updated, through the same forward pass.
        with g_tape:
            g_total, g_terms = self.generator_step_losses(source_images, source_labels, generated_images, training=True)
        descend(g_tape, g_total, self.generator.trainable_variables, self.g_optimizer)

        self._update_trackers(source_labels, d_total, d_terms, g_total, g_terms)
        return {m.name: m.result() for m in self.discriminator_step_metrics + self.generator_step_metrics}

    def test_step(self, data):
        (source_images, source_labels), target = data
        target_images, target_labels = target, None
        if isinstance(target, (tuple, list)):
            target_images, target_labels = target
        noise = self.sample_noise(tf.shape(source_images)[0])
        generated_images = self.generator([source_images, noise], training=False)
        d_total, d_terms = self.discriminator_step_losses(
            source_images, source_labels, target_images, generated_images, training=False
        )
        g_total, g_terms = self.generator_step_losses(source_images, source_labels, generated_images, training=False)
        self._update_trackers(source_labels, d_total, d_terms, g_total, g_terms)
        reported = self.discriminator_step_metrics + self.generator_step_metrics
        if target_labels is not None:
            self.target_accuracy.update_state(target_labels, self.task_classifier(target_images, training=False))
            reported.append(self.target_accuracy)
        return {m.name: m.result() for m in reported}

    def _update_trackers(self, source_labels, d_total, d_terms, g_total, g_terms):
        self.d_loss_tracker.update_state(d_total)
        self.domain_loss_tracker.update_state(d_terms["domain_loss"])
        self.source_task_loss_tracker.update_state(d_terms["source_task_loss"])
        self.generated_task_loss_tracker.update_state(d_terms["generated_task_loss"])
        real_logits, fake_logits = d_terms["real_logits"], d_terms["fake_logits"]
        self.discriminator_accuracy.update_state(
            tf.concat([tf.ones_like(real_logits), tf.zeros_like(fake_logits)], axis=0),
            tf.concat([real_logits, fake_logits], axis=0),
        )
        self.source_accuracy.update_state(source_labels, d_terms["source_logits"])
        self.generated_accuracy.update_state(source_labels, d_terms["generated_logits"])
        self.g_loss_tracker.update_state(g_total)
        self.style_transfer_loss_tracker.update_state(g_terms["style_transfer_loss"])
        self.content_loss_tracker.update_state(g_terms["content_loss"])
        self.g_task_loss_tracker.update_state(g_terms["g_task_loss"])
        self.semantic_loss_tracker.update_state(g_terms["semantic_loss"])

    # ---------------------------------------------------------------- export
    def serving_endpoints(self):
        """The generator's SavedModel: `adapt(images, noise) -> {"images"}`, also `serving_default`.

        `images` float32 [N, H, W, C] in [-1, 1] (source-domain style, e.g. MNIST
        digits as RGB) and `noise` float32 [N, noise_dim], uniform in [-1, 1];
        returns the images in the target style, in [-1, 1]. Batch norm runs in
        inference mode. (The task classifier is exported on its own with
        `export.export_classifier(model.task_classifier, ...)`.)
        """
        generator = self.generator

        def adapt(images, noise):
            return {"images": generator([images, noise], training=False)}

        specs = (
            tf.TensorSpec([None, *self.hparams.image_shape], tf.float32, name="images"),
            tf.TensorSpec([None, self.hparams.noise_dim], tf.float32, name="noise"),
        )
        return {"adapt": export.Endpoint(adapt, specs), "serving_default": export.Endpoint(adapt, specs)}

    # ---------------------------------------------------------- serialisation
    def get_config(self):
        """The hyper-parameters and seed; the networks are rebuilt from them by `from_config`."""
        return {"name": self.name, "hparams": dataclasses.asdict(self.hparams), "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["hparams"] = PixelDAConfig(**config["hparams"])
        return cls(**config)
