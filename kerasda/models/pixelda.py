"""PixelDA: unsupervised pixel-level domain adaptation with a GAN (Bousmalis et al., CVPR 2017).

A generator G(x_s, z) restyles labeled source images so that a discriminator D
cannot tell them from unlabeled target images, while a task classifier T learns
the source labels on both source and generated images. Because generated
images keep the source content but take the target style, T then classifies
real target images through the layers it learned on generated ones.

Each training step is the official algorithm's two updates:

1. D/T step: `domain_loss_weight * L_domain(D; real target vs G(x_s, z))`
   `+ L_task(T; x_s) + L_task(T; G(x_s, z))`, applied to D and T only;
2. G step: `style_transfer_loss_weight * L_GAN(G)`
   `+ content_loss_weight * L_content(G)` `+ task_loss_in_g_weight * L_task(G)`,
   applied to G only.

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
from keras import layers

from kerasda import distribute, export, losses, precision
from kerasda.layers.residual import ResidualBlock
from kerasda.models import classifiers

CLASSIFIER_KINDS = ("private_shared", "unified")

# Trackers updated by train_step (and test_step), in the order they are reported.
D_STEP_METRICS = (
    "d_loss",
    "domain_loss",
    "source_task_loss",
    "generated_task_loss",
    "discriminator_accuracy",
    "source_accuracy",
    "generated_accuracy",
)
G_STEP_METRICS = ("g_loss", "style_transfer_loss", "content_loss", "g_task_loss")
# Only test_step can report it: target labels never reach train_step.
TARGET_METRICS = ("target_accuracy",)


@dataclasses.dataclass
class PixelDAConfig:
    """Hyper-parameters of PixelDA; defaults are the paper's MNIST -> MNIST-M values.

    Architecture:
        image_shape: (H, W, C) of source, generated and target images.
        num_classes: number of task classes.
        noise_dim: size of the uniform [-1, 1] noise vector z.
        generator_filters, generator_blocks: width and depth of G's residual
            stack (paper: 64 filters, 6 blocks; a CPU budget may use 32 / 4).
        discriminator_filters: filters of D's first conv, doubled per stride-2 block.
        discriminator_dropout_rate: dropout on D's hidden layers (keep prob 0.9).
        discriminator_noise_stddev: Gaussian noise added to D's hidden layers.
        classifier: "private_shared" (private first layers for source and for
            generated images, shared upper layers) or "unified" (one tower).
        init_stddev: std of the N(0, std) initialisation of G and D.
        batch_norm_momentum: moving-average momentum of every batch norm.

    Losses:
        domain_loss_weight: weight of D's real-vs-generated loss in the D/T step.
        style_transfer_loss_weight: weight of G's non-saturating GAN loss.
        content_loss_weight: weight of the masked pairwise MSE between G(x_s)
            and x_s on the source foreground. The paper uses it for LineMOD
            (with a depth mask), not for digits, so it defaults to 0 here.
        task_loss_in_g_weight: weight of T's loss on generated images in the G step.
        source_task_loss_weight, generated_task_loss_weight: weights of T's
            cross-entropy on source and generated images in the D/T step.
        foreground_threshold: source pixels above it (in [-1, 1]) form the
            content-loss mask.

    Optimisation (one Adam per step):
        learning_rate, adam_beta1: Adam settings.
        lr_decay_steps, lr_decay_rate: staircase decay, lr * rate every steps.
        clip_norm: per-variable gradient-norm clip, as the official code's
            `clip_gradient_norm`.
    """

    image_shape: tuple = (32, 32, 3)
    num_classes: int = 10
    noise_dim: int = 10
    generator_filters: int = 64
    generator_blocks: int = 6
    discriminator_filters: int = 64
    discriminator_dropout_rate: float = 0.1
    discriminator_noise_stddev: float = 0.2
    classifier: str = "private_shared"
    init_stddev: float = 0.02
    batch_norm_momentum: float = 0.9
    domain_loss_weight: float = 0.1356
    style_transfer_loss_weight: float = 0.01132
    content_loss_weight: float = 0.0
    task_loss_in_g_weight: float = 0.01010
    source_task_loss_weight: float = 1.0
    generated_task_loss_weight: float = 1.0
    foreground_threshold: float = 0.0
    learning_rate: float = 1e-3
    adam_beta1: float = 0.5
    lr_decay_steps: int = 20000
    lr_decay_rate: float = 0.95
    clip_norm: float = 5.0

    def __post_init__(self):
        self.image_shape = tuple(int(d) for d in self.image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W, C) > 0, got {self.image_shape}.")
        for name in (
            "num_classes",
            "noise_dim",
            "generator_filters",
            "discriminator_filters",
            "lr_decay_steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}.")
        if self.generator_blocks < 0:
            raise ValueError(f"generator_blocks must be >= 0, got {self.generator_blocks}.")
        if self.classifier not in CLASSIFIER_KINDS:
            raise ValueError(
                f"classifier must be one of {CLASSIFIER_KINDS}, got {self.classifier!r}."
            )
        if not 0.0 <= self.discriminator_dropout_rate < 1.0:
            raise ValueError(
                "discriminator_dropout_rate must be in [0, 1), got "
                f"{self.discriminator_dropout_rate}."
            )
        for name in (
            "discriminator_noise_stddev",
            "domain_loss_weight",
            "style_transfer_loss_weight",
            "content_loss_weight",
            "task_loss_in_g_weight",
            "source_task_loss_weight",
            "generated_task_loss_weight",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        for name in ("init_stddev", "learning_rate", "clip_norm"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")
        if not 0.0 <= self.batch_norm_momentum < 1.0:
            raise ValueError(
                f"batch_norm_momentum must be in [0, 1), got {self.batch_norm_momentum}."
            )
        if not 0.0 <= self.adam_beta1 < 1.0:
            raise ValueError(f"adam_beta1 must be in [0, 1), got {self.adam_beta1}.")
        if not 0.0 < self.lr_decay_rate <= 1.0:
            raise ValueError(f"lr_decay_rate must be in (0, 1], got {self.lr_decay_rate}.")
        if not -1.0 <= self.foreground_threshold < 1.0:
            raise ValueError(
                f"foreground_threshold must be in [-1, 1), got {self.foreground_threshold}."
            )


def build_generator(
    image_shape=(32, 32, 3),
    noise_dim=10,
    filters=64,
    blocks=6,
    output_channels=None,
    init_stddev=0.02,
    batch_norm_momentum=0.9,
    name="generator",
):
    """PixelDA's residual generator: (source images, noise) -> images in [-1, 1].

    The noise is projected to one HxW channel concatenated to the image, so G
    can vary the style (background, colours) of one digit; a stack of
    full-resolution residual blocks keeps the content in place.

    Args:
        image_shape: (H, W, C) of the source images.
        noise_dim: length of the noise vectors.
        filters: channels of every convolution but the last.
        blocks: number of residual blocks.
        output_channels: channels of the generated images (default: C).
        init_stddev: std of the N(0, std) kernel initialisation.
        batch_norm_momentum: momentum of the batch norms.

    Returns:
        A functional keras.Model with inputs `[images, noise]`.
    """
    height, width, channels = image_shape
    output_channels = output_channels or channels
    init = keras.initializers.RandomNormal(stddev=init_stddev)
    images = keras.Input(shape=image_shape, name="images")
    noise = keras.Input(shape=(noise_dim,), name="noise")

    x = layers.Dense(
        height * width, use_bias=False, kernel_initializer=init, name="noise_projection"
    )(noise)
    x = layers.BatchNormalization(momentum=batch_norm_momentum, name="noise_projection_bn")(x)
    x = layers.ReLU(name="noise_projection_relu")(x)
    noise_map = layers.Reshape((height, width, 1), name="noise_map")(x)
    x = layers.Concatenate(name="image_and_noise")([images, noise_map])

    x = layers.Conv2D(
        filters, 3, padding="same", activation="relu", kernel_initializer=init, name="conv_in"
    )(x)
    for block in range(blocks):
        x = ResidualBlock(
            filters,
            kernel_size=3,
            batch_norm_momentum=batch_norm_momentum,
            kernel_initializer=init,
            name=f"residual_block_{block + 1}",
        )(x)
    generated = layers.Conv2D(
        output_channels, 1, activation="tanh", kernel_initializer=init, dtype="float32",
        name="conv_out",  # float32 images under mixed precision
    )(x)
    return keras.Model([images, noise], generated, name=name)


def build_discriminator(
    image_shape=(32, 32, 3),
    filters=64,
    dropout_rate=0.1,
    noise_stddev=0.2,
    init_stddev=0.02,
    batch_norm_momentum=0.9,
    seed=0,
    name="discriminator",
):
    """PixelDA's discriminator: images -> one real-vs-generated logit each.

    conv3x3 stride 1 + LeakyReLU(0.2), then stride-2 conv3x3 blocks that double
    the filters until the map is at most 4x4 (batch norm on all but the first
    conv), each hidden layer followed by dropout and Gaussian noise so that D
    does not overpower G early on; flatten -> dense logit.
    """
    init = keras.initializers.RandomNormal(stddev=init_stddev)
    images = keras.Input(shape=image_shape, name="images")

    def regularise(x, index):
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, seed=seed + index, name=f"dropout{index}")(x)
        if noise_stddev > 0:
            x = layers.GaussianNoise(
                noise_stddev, seed=seed + 1000 + index, name=f"noise{index}"
            )(x)
        return x

    x = layers.Conv2D(filters, 3, padding="same", kernel_initializer=init, name="conv1")(images)
    x = regularise(layers.LeakyReLU(0.2, name="lrelu1")(x), 1)
    size, index = max(image_shape[:2]), 1
    while size > 4:
        filters, index, size = filters * 2, index + 1, (size + 1) // 2
        x = layers.Conv2D(
            filters,
            3,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer=init,
            name=f"conv{index}",
        )(x)
        x = layers.BatchNormalization(momentum=batch_norm_momentum, name=f"bn{index}")(x)
        x = regularise(layers.LeakyReLU(0.2, name=f"lrelu{index}")(x), index)
    x = layers.Flatten(name="flatten")(x)
    logits = layers.Dense(1, kernel_initializer=init, dtype="float32", name="logit")(x)
    return keras.Model(images, logits, name=name)


def _build_private_layers(image_shape, name):
    """The first conv + pool of the digits tower (classifiers.py), one copy per domain."""
    images = keras.Input(shape=image_shape, name="images")
    x = layers.Conv2D(32, 5, padding="same", activation="relu", name="conv1")(images)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    return keras.Model(images, x, name=name)


def _build_shared_layers(feature_shape, num_classes, name="shared_task_layers"):
    """The rest of the digits tower: conv + pool, then classifiers' label predictor."""
    features = keras.Input(shape=feature_shape, name="private_features")
    x = layers.Conv2D(48, 5, padding="same", activation="relu", name="conv2")(features)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    label_predictor = classifiers.build_digits_label_predictor(x.shape[-1], num_classes)
    return keras.Model(features, label_predictor(x), name=name)


def build_task_classifiers(image_shape=(32, 32, 3), num_classes=10, kind="private_shared"):
    """T as two classifiers: one for source images, one for generated / target images.

    With `kind="private_shared"` (the paper's choice) each has its own first
    conv + pool and both share the upper layers, so T can absorb the
    remaining style gap between real source and generated images while the
    class evidence is learned once. With `kind="unified"` the two are the same
    digits tower (the ablation).

    Returns:
        (source_classifier, task_classifier): functional models images -> logits;
        `task_classifier` is the one to use on target-domain images.
    """
    if kind not in CLASSIFIER_KINDS:
        raise ValueError(f"kind must be one of {CLASSIFIER_KINDS}, got {kind!r}.")
    if kind == "unified":
        tower = classifiers.build_digits_classifier(image_shape, num_classes, name="task_classifier")
        return tower, tower
    source_private = _build_private_layers(image_shape, "source_private_layers")
    generated_private = _build_private_layers(image_shape, "generated_private_layers")
    shared = _build_shared_layers(source_private.output.shape[1:], num_classes)

    def assemble(private, name):
        images = keras.Input(shape=image_shape, name="images")
        return keras.Model(images, shared(private(images)), name=name)

    return (
        assemble(source_private, "source_task_classifier"),
        assemble(generated_private, "task_classifier"),
    )


def make_optimizer(hparams, name):
    """Adam with the paper's staircase decay (x rate every decay steps) and clipping."""
    schedule = keras.optimizers.schedules.ExponentialDecay(
        hparams.learning_rate,
        decay_steps=hparams.lr_decay_steps,
        decay_rate=hparams.lr_decay_rate,
        staircase=True,
    )
    return keras.optimizers.Adam(
        schedule, beta_1=hparams.adam_beta1, clipnorm=hparams.clip_norm, name=name
    )


def foreground_mask(source_images, threshold=0.0):
    """[B, H, W, 1] mask, 1 where any channel of the source image exceeds `threshold`.

    For digits in [-1, 1] on a -1 background this is the stroke, the part of
    the image whose content the generator must keep.
    """
    source_images = tf.convert_to_tensor(source_images)
    above = tf.reduce_max(source_images, axis=-1, keepdims=True) > threshold
    return tf.cast(above, source_images.dtype)


def _accuracy(labels, logits):
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int64)
    return tf.reduce_mean(tf.cast(tf.equal(predictions, tf.cast(labels, tf.int64)), tf.float32))


def _unique(variables):
    """Variables in order, each once (a unified T appears twice)."""
    return list({id(v): v for v in variables}.values())


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
        self.generator = generator or build_generator(
            hparams.image_shape,
            hparams.noise_dim,
            hparams.generator_filters,
            hparams.generator_blocks,
            init_stddev=hparams.init_stddev,
            batch_norm_momentum=hparams.batch_norm_momentum,
        )
        self.discriminator = discriminator or build_discriminator(
            hparams.image_shape,
            hparams.discriminator_filters,
            hparams.discriminator_dropout_rate,
            hparams.discriminator_noise_stddev,
            init_stddev=hparams.init_stddev,
            batch_norm_momentum=hparams.batch_norm_momentum,
            seed=seed,
        )
        if source_classifier is None:
            source_classifier, task_classifier = build_task_classifiers(
                hparams.image_shape, hparams.num_classes, hparams.classifier
            )
        self.source_classifier = source_classifier
        self.task_classifier = task_classifier
        generated_shape = tuple(self.generator.output.shape[1:])
        if generated_shape != hparams.image_shape:
            raise ValueError(
                f"The generator makes {generated_shape} images but image_shape is "
                f"{hparams.image_shape}."
            )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {
            metric: keras.metrics.Mean(name=metric)
            for metric in D_STEP_METRICS + G_STEP_METRICS + TARGET_METRICS
        }
        self.d_optimizer = None
        self.g_optimizer = None
        self.built = True

    # ----------------------------------------------------------------- setup
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
        """Trainable variables of D and T: what the D/T step updates."""
        return _unique(
            self.discriminator.trainable_variables
            + self.source_classifier.trainable_variables
            + self.task_classifier.trainable_variables
        )

    @property
    def metrics(self):
        return list(self.trackers.values())

    # ------------------------------------------------------------ public API
    def sample_noise(self, batch_size):
        """[batch_size, noise_dim] noise, uniform in [-1, 1], from the model's seed."""
        return distribute.uniform(
            (batch_size, self.hparams.noise_dim), -1.0, 1.0, self.seed_generator
        )

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
        networks = {"target": self.task_classifier, "source": self.source_classifier}
        if domain not in networks:
            raise ValueError(f"domain must be 'target' or 'source', got {domain!r}.")
        return networks[domain](tf.convert_to_tensor(images, tf.float32), training=False)

    def call(self, inputs, training=False):
        """`model(images)` or `model((images, noise))` is `adapt`."""
        if isinstance(inputs, (tuple, list)):
            return self.adapt(*inputs, training=training)
        return self.adapt(inputs, training=training)

    def content_similarity_loss(self, source_images, generated_images):
        """Masked pairwise MSE between G(x_s) and x_s on the source foreground.

        Pairwise (not plain) MSE lets G recolour the digit as a whole while
        keeping its shape; the mask leaves the background free to take the
        target style.
        """
        mask = foreground_mask(source_images, self.hparams.foreground_threshold)
        return losses.masked_pairwise_mse(generated_images, source_images, mask)

    # ---------------------------------------------------------------- losses
    def discriminator_step_losses(
        self, source_images, source_labels, target_images, generated_images, training
    ):
        """D/T-step objective: (total, {name: value}) for D_STEP_METRICS."""
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
        discriminator_accuracy = 0.5 * (
            tf.reduce_mean(tf.cast(real_logits > 0, tf.float32))
            + tf.reduce_mean(tf.cast(fake_logits < 0, tf.float32))
        )
        return total, {
            "d_loss": total,
            "domain_loss": domain_loss,
            "source_task_loss": source_task_loss,
            "generated_task_loss": generated_task_loss,
            "discriminator_accuracy": discriminator_accuracy,
            "source_accuracy": _accuracy(source_labels, source_logits),
            "generated_accuracy": _accuracy(source_labels, generated_logits),
        }

    def generator_step_losses(self, source_images, source_labels, generated_images, training):
        """G-step objective: (total, {name: value}) for G_STEP_METRICS."""
        h = self.hparams
        fake_logits = self.discriminator(generated_images, training=training)
        style_transfer_loss = losses.generator_loss_non_saturating(fake_logits)
        content_loss = self.content_similarity_loss(source_images, generated_images)
        generated_logits = self.task_classifier(generated_images, training=training)
        g_task_loss = losses.sparse_classification_loss(source_labels, generated_logits)
        total = (
            h.style_transfer_loss_weight * style_transfer_loss
            + h.content_loss_weight * content_loss
            + h.task_loss_in_g_weight * g_task_loss
        )
        return total, {
            "g_loss": total,
            "style_transfer_loss": style_transfer_loss,
            "content_loss": content_loss,
            "g_task_loss": g_task_loss,
        }

    # ----------------------------------------------------------------- steps
    def discriminator_step(self, source_images, source_labels, target_images, generated_images):
        """One update of D and T; G's output is data here. Returns the step's losses."""
        generated_images = tf.stop_gradient(generated_images)
        with tf.GradientTape() as tape:
            total, values = self.discriminator_step_losses(
                source_images, source_labels, target_images, generated_images, training=True
            )
        variables = self.discriminator_step_variables
        gradients = distribute.replica_gradients(tape, total, variables, self.d_optimizer)
        self.d_optimizer.apply_gradients(zip(gradients, variables))
        return values

    def train_step(self, data):
        (source_images, source_labels), target_images = data
        if isinstance(target_images, (tuple, list)):
            raise ValueError(
                "train_step got (target_images, target_labels): unsupervised adaptation must "
                "not see target labels. Build the data with pipeline.adaptation_dataset."
            )
        noise = self.sample_noise(tf.shape(source_images)[0])
        # One generator forward pass serves both updates: the D/T step (not
        # recorded) treats its output as data; the G step, run after D and T
        # have moved, differentiates through it.
        with tf.GradientTape() as tape:
            generated_images = self.generator([source_images, noise], training=True)
            with tape.stop_recording():
                d_values = self.discriminator_step(
                    source_images, source_labels, target_images, generated_images
                )
            g_total, g_values = self.generator_step_losses(
                source_images, source_labels, generated_images, training=True
            )
        variables = self.generator.trainable_variables
        gradients = distribute.replica_gradients(tape, g_total, variables, self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(gradients, variables))
        return self._update_trackers({**d_values, **g_values})

    def test_step(self, data):
        (source_images, source_labels), target = data
        target_images, target_labels = target, None
        if isinstance(target, (tuple, list)):
            target_images, target_labels = target
        noise = self.sample_noise(tf.shape(source_images)[0])
        generated_images = self.generator([source_images, noise], training=False)
        _, d_values = self.discriminator_step_losses(
            source_images, source_labels, target_images, generated_images, training=False
        )
        _, g_values = self.generator_step_losses(
            source_images, source_labels, generated_images, training=False
        )
        values = {**d_values, **g_values}
        if target_labels is not None:
            target_logits = self.task_classifier(target_images, training=False)
            values["target_accuracy"] = _accuracy(target_labels, target_logits)
        return self._update_trackers(values)

    def _update_trackers(self, values):
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in values}


def export_generator(
    model, name="pixelda_generator", export_root=export.DEFAULT_EXPORT_ROOT, export_dir=None
):
    """Export PixelDA's generator as a SavedModel with an `adapt(images, noise)` signature.

    `adapt` (also `serving_default`) takes `images` float32 [N, H, W, C] in
    [-1, 1] (source-domain style, e.g. MNIST digits as RGB) and `noise`
    float32 [N, noise_dim], uniform in [-1, 1]; it returns {"images": float32
    [N, H, W, C] in [-1, 1]}, the images in the target style. Batch norm runs in
    inference mode.

    Returns:
        The export path (a new version under export_root/name unless export_dir).
    """
    generator = model.generator

    def adapt(images, noise):
        return {"images": generator([images, noise], training=False)}

    specs = [
        tf.TensorSpec([None, *model.hparams.image_shape], tf.float32, name="images"),
        tf.TensorSpec([None, model.hparams.noise_dim], tf.float32, name="noise"),
    ]
    return export.export_signatures(
        name,
        {"adapt": (adapt, specs), "serving_default": (adapt, specs)},
        [generator],
        export_root,
        export_dir,
    )
