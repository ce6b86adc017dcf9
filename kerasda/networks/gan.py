"""Generators and discriminators of the DCGAN family (Radford et al., 2016).

Factory functions return functional `keras.Model`s with fixed input shapes, so
the GAN models that own them are built (and checkpointable) at construction.

- Generator: z (optionally with a one-hot label) -> a stack of stride-2
  transposed convolutions with batch norm and ReLU, doubling the resolution
  from 4x4 to the image size, then tanh: images in [-1, 1].
- Discriminator: stride-2 convolutions with LeakyReLU(0.2), halving the
  resolution down to 4x4, batch norm on every layer but the first (DCGAN's
  recipe: normalising the input layer makes training unstable), then a dense
  real/fake logit. Conditional variants take the label as extra input
  channels (cGAN, Mirza & Osindero 2014) or predict it with a second head
  (ACGAN, Odena et al. 2017).

Channel widths follow DCGAN: the generator's first feature map has
`ngf * 2**(n-1)` channels and each doubling of resolution halves them; the
discriminator's first layer has `ndf` channels and each halving of resolution
doubles them. With 32x32 images, n = 3.

`init="normal_002"` draws conv/dense kernels from N(0, 0.02) and batch-norm
scales from N(1, 0.02) as in the DCGAN paper; `init="keras_default"` keeps
Keras' defaults (Glorot-uniform kernels, unit scales), the seeds' comparison.
"""

import math

import keras
from keras import layers

INITS = ("normal_002", "keras_default")
_BASE_RESOLUTION = 4


def _kernel_initializer(init):
    # A fresh object per layer: an unseeded initializer instance shared by
    # several layers may hand each of them the same values.
    if init == "normal_002":
        return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)
    return keras.initializers.GlorotUniform()


def _gamma_initializer(init):
    if init == "normal_002":
        return keras.initializers.RandomNormal(mean=1.0, stddev=0.02)
    return keras.initializers.Ones()


def _num_doublings(image_shape):
    """log2(size / 4) for square power-of-two images of at least 8x8."""
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels), got {image_shape}.")
    height, width, channels = image_shape
    doublings = math.log2(height / _BASE_RESOLUTION) if height else -1
    if height != width or doublings < 1 or doublings != int(doublings):
        raise ValueError(
            f"image_shape must be square with a power-of-two side >= 8 (e.g. (32, 32, 1)), got {image_shape}."
        )
    if channels < 1:
        raise ValueError(f"image_shape needs at least one channel, got {image_shape}.")
    return int(doublings)


def _validate(init, width_name, width, num_classes=None, latent_dim=None):
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}.")
    if int(width) < 1:
        raise ValueError(f"{width_name} must be a positive integer, got {width}.")
    if num_classes is not None and int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2 (or None), got {num_classes}.")
    if latent_dim is not None and int(latent_dim) < 1:
        raise ValueError(f"latent_dim must be a positive integer, got {latent_dim}.")


def _one_hot(labels, num_classes, name):
    return layers.CategoryEncoding(num_classes, output_mode="one_hot", name=name)(labels)


def build_generator(
    latent_dim=100,
    ngf=64,
    image_shape=(32, 32, 1),
    num_classes=None,
    init="normal_002",
    name="generator",
):
    """DCGAN generator: noise [B, latent_dim] (+ int labels [B]) -> images in [-1, 1].

    Args:
        latent_dim: size of z (`--nz`).
        ngf: width of the last hidden layer (`--ngf`); earlier layers are
            2x, 4x, ... wider.
        image_shape: (size, size, channels), size a power of two >= 8.
        num_classes: if given, the generator is conditional: it takes integer
            labels as a second input and concatenates their one-hot code to z
            (cGAN and ACGAN).
        init: "normal_002" (DCGAN) or "keras_default".
        name: model name.

    Returns:
        A functional `keras.Model` with inputs `noise` (and `labels`).

    Example:
        >>> g = build_generator(latent_dim=8, ngf=4, num_classes=10)
        >>> g([np.zeros((2, 8)), np.array([3, 7])]).shape
        TensorShape([2, 32, 32, 1])
    """
    _validate(init, "ngf", ngf, num_classes, latent_dim)
    doublings = _num_doublings(image_shape)
    noise = keras.Input(shape=(latent_dim,), name="noise")
    inputs = [noise]
    x = noise
    if num_classes is not None:
        labels = keras.Input(shape=(), dtype="int32", name="labels")
        inputs.append(labels)
        x = layers.Concatenate(name="noise_and_label")([noise, _one_hot(labels, num_classes, "label_one_hot")])
    # z as a 1x1 feature map; a 4x4 "valid" transposed conv projects it to 4x4.
    x = layers.Reshape((1, 1, x.shape[-1]), name="latent_map")(x)
    for i in range(doublings):
        filters = ngf * 2 ** (doublings - 1 - i)
        first = i == 0
        x = layers.Conv2DTranspose(
            filters,
            4,
            strides=1 if first else 2,
            padding="valid" if first else "same",
            use_bias=False,
            kernel_initializer=_kernel_initializer(init),
            name=f"deconv{i + 1}",
        )(x)
        x = layers.BatchNormalization(gamma_initializer=_gamma_initializer(init), name=f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
    x = layers.Conv2DTranspose(
        image_shape[-1],
        4,
        strides=2,
        padding="same",
        kernel_initializer=_kernel_initializer(init),
        name=f"deconv{doublings + 1}",
    )(x)
    images = layers.Activation("tanh", dtype="float32", name="images")(x)  # float32 under mixed precision
    return keras.Model(inputs if len(inputs) > 1 else noise, images, name=name)


def _discriminator_trunk(x, ndf, doublings, init):
    """Stride-2 convs down to 4x4, LeakyReLU(0.2), BN except on the first layer."""
    for i in range(doublings):
        first = i == 0
        x = layers.Conv2D(
            ndf * 2**i,
            4,
            strides=2,
            padding="same",
            use_bias=first,  # BN's offset replaces the bias elsewhere
            kernel_initializer=_kernel_initializer(init),
            name=f"conv{i + 1}",
        )(x)
        if not first:
            x = layers.BatchNormalization(gamma_initializer=_gamma_initializer(init), name=f"bn{i + 1}")(x)
        x = layers.LeakyReLU(negative_slope=0.2, name=f"lrelu{i + 1}")(x)
    return layers.Flatten(name="features")(x)


def _real_fake_head(features, init):
    return layers.Dense(1, kernel_initializer=_kernel_initializer(init), dtype="float32", name="real_fake_logits")(
        features
    )


def build_discriminator(ndf=64, image_shape=(32, 32, 1), init="normal_002", name="discriminator"):
    """DCGAN discriminator: images [B, H, W, C] -> real/fake logits [B, 1].

    Args:
        ndf: width of the first layer (`--ndf`); later layers are 2x, 4x, ... wider.
        image_shape: (size, size, channels), size a power of two >= 8.
        init: "normal_002" (DCGAN) or "keras_default".
        name: model name.
    """
    _validate(init, "ndf", ndf)
    doublings = _num_doublings(image_shape)
    images = keras.Input(shape=image_shape, name="images")
    features = _discriminator_trunk(images, ndf, doublings, init)
    return keras.Model(images, _real_fake_head(features, init), name=name)


def build_conditional_discriminator(
    num_classes=10, ndf=64, image_shape=(32, 32, 1), init="normal_002", name="discriminator"
):
    """cGAN discriminator: (images, int labels [B]) -> real/fake logits [B, 1].

    The one-hot label is broadcast over H x W and stacked with the image
    channels, so every first-layer filter sees the requested class at every
    position (Mirza & Osindero's D(x|y)).
    """
    _validate(init, "ndf", ndf, num_classes)
    doublings = _num_doublings(image_shape)
    images = keras.Input(shape=image_shape, name="images")
    labels = keras.Input(shape=(), dtype="int32", name="labels")
    one_hot = _one_hot(labels, num_classes, "label_one_hot")
    label_maps = layers.Reshape((1, 1, num_classes), name="label_pixel")(one_hot)
    # Nearest-neighbour upsampling of a 1x1 map tiles it: a cheap broadcast.
    label_maps = layers.UpSampling2D(size=image_shape[:2], name="label_maps")(label_maps)
    x = layers.Concatenate(name="images_and_label_maps")([images, label_maps])
    features = _discriminator_trunk(x, ndf, doublings, init)
    return keras.Model([images, labels], _real_fake_head(features, init), name=name)


def build_auxiliary_classifier_discriminator(
    num_classes=10, ndf=64, image_shape=(32, 32, 1), init="normal_002", name="discriminator"
):
    """ACGAN discriminator: images -> [real/fake logits [B, 1], class logits [B, K]].

    Both heads share the convolutional trunk; the class head is what makes the
    generator produce recognisable classes (Odena et al., 2017).
    """
    _validate(init, "ndf", ndf, num_classes)
    doublings = _num_doublings(image_shape)
    images = keras.Input(shape=image_shape, name="images")
    features = _discriminator_trunk(images, ndf, doublings, init)
    class_logits = layers.Dense(
        num_classes, kernel_initializer=_kernel_initializer(init), dtype="float32", name="class_logits"
    )(features)
    return keras.Model(images, [_real_fake_head(features, init), class_logits], name=name)
