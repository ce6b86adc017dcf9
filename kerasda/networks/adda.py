"""ADDA's networks (Tzeng et al., CVPR 2017): encoders, classifier and feature discriminator.

The encoders and the classifier are the digits tower split in two
(`kerasda.networks.digits`), so ADDA and DANN adapt the same network.
"""

import keras
from keras import layers

from kerasda.networks import digits


def build_discriminator(feature_dim, hidden_units=500, name="discriminator"):
    """features -> fc500 ReLU -> fc500 ReLU -> fc1 domain logit (the paper's digits D).

    Args:
        feature_dim: size of the flat encoder features.
        hidden_units: width of both hidden layers (paper: 500).
    """
    if hidden_units < 1:
        raise ValueError(f"hidden_units must be >= 1, got {hidden_units}.")
    inputs = keras.Input(shape=(feature_dim,), name="features")
    x = layers.Dense(hidden_units, activation="relu", name="fc1")(inputs)
    x = layers.Dense(hidden_units, activation="relu", name="fc2")(x)
    logits = layers.Dense(1, dtype="float32", name="domain_logit")(x)  # float32 under mixed precision
    return keras.Model(inputs, logits, name=name)


def build_source_networks(input_shape=(32, 32, 3), num_classes=10, input_standardization=None, padding="same"):
    """The digits tower split as ADDA needs it: (source_encoder, source_classifier).

    The encoder is DANN's feature extractor (same `input_standardization` and
    `padding` options), the classifier its label predictor, so ADDA and DANN
    adapt the same network.
    """
    source_encoder = digits.build_feature_extractor(input_shape, input_standardization, padding)
    source_classifier = digits.build_digits_label_predictor(
        source_encoder.output.shape[-1], num_classes, name="source_classifier"
    )
    return source_encoder, source_classifier


def compose_classifier(encoder, classifier, name="classifier"):
    """A functional keras.Model images -> classifier(encoder(images)), sharing their weights.

    With the source encoder it is the model pre-trained in stage 1; with the
    target encoder it is ADDA's adapted classifier.
    """
    images = keras.Input(shape=encoder.input_shape[1:], name="images")
    return keras.Model(images, classifier(encoder(images)), name=name)


def copy_encoder(encoder, name="target_encoder"):
    """Same architecture and weights as `encoder`, separate variables."""
    copy = keras.models.clone_model(encoder)
    copy.name = name
    copy.set_weights(encoder.get_weights())
    return copy
