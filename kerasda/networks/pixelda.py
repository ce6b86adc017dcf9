"""PixelDA's networks (Bousmalis et al., CVPR 2017): generator, discriminator, task classifier.

- Generator G(x_s, z): the noise becomes one extra image channel, then a stack
  of full-resolution residual blocks and a tanh: images in [-1, 1].
- Discriminator D: strided convolutions with dropout and Gaussian noise on every
  hidden layer, one real-vs-generated logit per image.
- Task classifier T: the digits tower with private first layers for source and
  for generated images and shared upper layers (or one unified tower).

Every factory returns functional `keras.Model`s with fixed input shapes.
"""

import keras
from keras import layers

from kerasda.layers.residual import ResidualBlock
from kerasda.networks import digits

CLASSIFIER_KINDS = ("private_shared", "unified")


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

    x = layers.Dense(height * width, use_bias=False, kernel_initializer=init, name="noise_projection")(noise)
    x = layers.BatchNormalization(momentum=batch_norm_momentum, name="noise_projection_bn")(x)
    x = layers.ReLU(name="noise_projection_relu")(x)
    noise_map = layers.Reshape((height, width, 1), name="noise_map")(x)
    x = layers.Concatenate(name="image_and_noise")([images, noise_map])

    x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=init, name="conv_in")(x)
    for block in range(blocks):
        x = ResidualBlock(
            filters,
            kernel_size=3,
            batch_norm_momentum=batch_norm_momentum,
            kernel_initializer=init,
            name=f"residual_block_{block + 1}",
        )(x)
    generated = layers.Conv2D(
        output_channels,
        1,
        activation="tanh",
        kernel_initializer=init,
        dtype="float32",
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
            x = layers.GaussianNoise(noise_stddev, seed=seed + 1000 + index, name=f"noise{index}")(x)
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
    """The first conv + pool of the digits tower (networks/digits.py), one copy per domain."""
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
    label_predictor = digits.build_digits_label_predictor(x.shape[-1], num_classes)
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
        tower = digits.build_digits_classifier(image_shape, num_classes, name="task_classifier")
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
