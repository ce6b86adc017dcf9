"""EndoVAE's encoder and decoder (Diamantis et al., 2022) for 96x96 images in [0, 1].

A six-layer convolutional encoder down to 12x12x256, a 256-unit bottleneck and
a Gaussian latent (6 dimensions); a mirrored decoder of seven transposed
convolutions ending in a sigmoid, so reconstructions live in [0, 1] like the
inputs.
"""

import keras
from keras import layers

IMAGE_SHAPE = (96, 96, 3)
LATENT_DIM = 6
# (filters, stride) per layer. Three stride-2 layers take 96 -> 12 and back.
ENCODER_CONVS = ((16, 1), (32, 2), (32, 1), (64, 2), (128, 2), (256, 1))
DECODER_DECONVS = ((256, 1), (128, 2), (64, 1), (64, 2), (32, 1), (32, 2))
DOWNSAMPLING = 8  # product of the encoder strides


def _check_image_shape(image_shape):
    image_shape = tuple(int(d) for d in image_shape)
    if len(image_shape) != 3 or image_shape[0] % DOWNSAMPLING or image_shape[1] % DOWNSAMPLING or min(image_shape) < 1:
        raise ValueError(f"image_shape must be (H, W, C) with H and W multiples of {DOWNSAMPLING}, got {image_shape}.")
    return image_shape


def _check_latent_dim(latent_dim):
    if int(latent_dim) != latent_dim or latent_dim < 1:
        raise ValueError(f"latent_dim must be a positive integer, got {latent_dim}.")
    return int(latent_dim)


def build_encoder(image_shape=IMAGE_SHAPE, latent_dim=LATENT_DIM, name="encoder"):
    """Images in [0, 1] -> (mean, log_variance) of q(z | x), each [B, latent_dim].

    The encoder is deterministic; sampling happens in the VAE, so an exported
    `encode` signature returns the posterior's parameters, not a random draw.
    """
    image_shape = _check_image_shape(image_shape)
    latent_dim = _check_latent_dim(latent_dim)
    inputs = keras.Input(shape=image_shape, name="images")
    x = inputs
    for i, (filters, stride) in enumerate(ENCODER_CONVS, start=1):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu", name=f"conv{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, activation="relu", name="fc")(x)
    # float32 under mixed precision: the KL and the sampling read these
    mean = layers.Dense(latent_dim, dtype="float32", name="mean")(x)
    log_variance = layers.Dense(latent_dim, dtype="float32", name="log_variance")(x)
    return keras.Model(inputs, [mean, log_variance], name=name)


def build_decoder(image_shape=IMAGE_SHAPE, latent_dim=LATENT_DIM, name="decoder"):
    """Latent codes [B, latent_dim] -> images in [0, 1] of `image_shape`."""
    image_shape = _check_image_shape(image_shape)
    latent_dim = _check_latent_dim(latent_dim)
    height, width = image_shape[0] // DOWNSAMPLING, image_shape[1] // DOWNSAMPLING
    inputs = keras.Input(shape=(latent_dim,), name="latent")
    x = layers.Dense(height * width * 256, activation="relu", name="fc")(inputs)
    x = layers.Reshape((height, width, 256), name="unflatten")(x)
    for i, (filters, stride) in enumerate(DECODER_DECONVS, start=1):
        x = layers.Conv2DTranspose(filters, 3, strides=stride, padding="same", activation="relu", name=f"deconv{i}")(x)
    images = layers.Conv2DTranspose(  # float32 under mixed precision, like the images it is compared with
        image_shape[-1], 3, padding="same", activation="sigmoid", dtype="float32", name="deconv7"
    )(x)
    return keras.Model(inputs, images, name=name)
