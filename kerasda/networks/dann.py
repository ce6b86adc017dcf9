"""DANN's domain classifier (Ganin & Lempitsky, ICML 2015).

Its feature extractor and label predictor are the digits tower's
(`kerasda.networks.digits`).
"""

import keras
from keras import layers

from kerasda.layers.gradient_reversal import GradientReversal


def build_domain_classifier(feature_dim, hidden_units=100, use_gradient_reversal=True, name="domain_classifier"):
    """features -> [gradient reversal] -> fc100 ReLU -> fc1 domain logit.

    Args:
        feature_dim: size of the flat features.
        hidden_units: width of the hidden layer (paper: 100).
        use_gradient_reversal: False builds the same network without the
            reversal layer (the ablation: the features then *help* the domain
            classifier instead of fighting it).
    """
    if hidden_units < 1:
        raise ValueError(f"hidden_units must be >= 1, got {hidden_units}.")
    inputs = keras.Input(shape=(feature_dim,), name="features")
    x = inputs
    if use_gradient_reversal:
        x = GradientReversal(lambda_=0.0, name="gradient_reversal")(x)
    x = layers.Dense(hidden_units, activation="relu", name="fc1")(x)
    logits = layers.Dense(1, dtype="float32", name="domain_logit")(x)  # float32 under mixed precision
    return keras.Model(inputs, logits, name=name)
