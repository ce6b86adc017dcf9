"""The digits task tower shared by the source-only baseline, DANN, ADDA and PixelDA.

conv5x5-32 -> max-pool -> conv5x5-48 -> max-pool -> fc100 -> fc100 -> fc10,
ReLU throughout (Ganin & Lempitsky 2015; Bousmalis et al. 2017). The tower is
split into a feature extractor (the convolutional part) and a label predictor
so that DANN can attach its domain classifier between the two, and ADDA can
give each domain its own encoder.
"""

import keras
from keras import layers

from kerasda.layers.standardization import input_standardization_layer

PADDINGS = ("same", "valid")
INPUT_STANDARDIZATIONS = (None, "image", "channel", "principal_colour")
# The same settings as flag values: None is spelled "none".
INPUT_STANDARDIZATION_NAMES = tuple(kind or "none" for kind in INPUT_STANDARDIZATIONS)


def input_standardization_from_name(name):
    """A flag value of `INPUT_STANDARDIZATION_NAMES` -> the `input_standardization` argument."""
    return None if name == "none" else name


def build_digits_feature_extractor(
    input_shape=(32, 32, 3), padding="same", name="feature_extractor", batch_norm=False, feature_dropout=0.0
):
    """Convolutional part of the digits tower: images -> flat features.

    Args:
        padding: "same" keeps every pixel of a 32x32 input (8x8x48 = 3,072
            features; the PixelDA tower); "valid" is Ganin & Lempitsky's tower
            (28x28 input -> 4x4x48 = 768 features), ~3x cheaper per image.
        batch_norm: batch normalisation after each convolution (before ReLU).
            Adaptation methods that run source and target images through the
            extractor in one batch then normalise with statistics of both.
        feature_dropout: rate of spatial dropout (whole feature maps) after
            the last convolution, while training (public DANN re-implementations
            of this tower use one; docs/dann.md has what it measured here).
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}.")
    if not 0.0 <= feature_dropout < 1.0:
        raise ValueError(f"feature_dropout must be in [0, 1), got {feature_dropout!r}.")
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    conv_filters = (32, 48)
    for index, filters in enumerate(conv_filters, start=1):
        dropout = feature_dropout if index == len(conv_filters) else 0.0
        fused_relu = not (batch_norm or dropout)
        x = layers.Conv2D(
            filters,
            5,
            padding=padding,
            activation="relu" if fused_relu else None,
            use_bias=not batch_norm,
            name=f"conv{index}",
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn{index}")(x)
        if dropout:
            x = layers.SpatialDropout2D(dropout, name="feature_dropout")(x)
        if not fused_relu:
            x = layers.Activation("relu", name=f"relu{index}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{index}")(x)
    # float32 features and logits under mixed precision: embeddings, heads and losses read them.
    features = layers.Flatten(dtype="float32", name="flatten")(x)
    return keras.Model(inputs, features, name=name)


def build_digits_label_predictor(feature_dim, num_classes=10, name="label_predictor"):
    """Fully connected part of the digits tower: features -> class logits."""
    inputs = keras.Input(shape=(feature_dim,), name="features")
    x = layers.Dense(100, activation="relu", name="fc1")(inputs)
    x = layers.Dense(100, activation="relu", name="fc2")(x)
    logits = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def build_digits_classifier(input_shape=(32, 32, 3), num_classes=10, name="task_classifier"):
    """The whole digits tower: images in [-1, 1] -> class logits.

    Example:
        >>> model = build_digits_classifier()
        >>> model(np.zeros((2, 32, 32, 3))).shape
        TensorShape([2, 10])
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
    feature_extractor = build_digits_feature_extractor(input_shape)
    label_predictor = build_digits_label_predictor(feature_extractor.output.shape[-1], num_classes)
    inputs = keras.Input(shape=input_shape, name="images")
    logits = label_predictor(feature_extractor(inputs))
    return keras.Model(inputs, logits, name=name)


def build_feature_extractor(
    input_shape=(32, 32, 3), input_standardization=None, padding="same", batch_norm=False, feature_dropout=0.0
):
    """The digits feature extractor, optionally behind a per-image standardisation layer.

    This is the feature extractor of DANN and the encoder of ADDA.

    Args:
        padding: the convolutions' padding (see `build_digits_feature_extractor`).
        batch_norm: batch normalisation after each convolution.
        feature_dropout: spatial dropout rate after the last convolution.
        input_standardization: None (images go in as they are, the paper's
            setting up to its mean subtraction), "image" or "channel" (each
            image standardised on its own; see `PerImageStandardization`), or
            "principal_colour" (each image projected onto its own main colour
            axis first; see `PrincipalColourStandardization`).
    """
    if input_standardization not in INPUT_STANDARDIZATIONS:
        raise ValueError(
            f"input_standardization must be one of {INPUT_STANDARDIZATIONS}, got {input_standardization!r}."
        )
    extractor = build_digits_feature_extractor(
        input_shape, padding, batch_norm=batch_norm, feature_dropout=feature_dropout
    )
    if input_standardization is None:
        return extractor
    inputs = keras.Input(shape=input_shape, name="images")
    standardized = input_standardization_layer(input_standardization)(inputs)
    return keras.Model(inputs, extractor(standardized), name="standardized_feature_extractor")
