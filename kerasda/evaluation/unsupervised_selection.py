"""Scores that rank adapted models without target labels (for choosing a checkpoint).

An unsupervised adaptation run has no labelled target data to stop on, so the
usual "best validation accuracy" is not available. The information
maximisation score (Gomes, Krause & Perona, NeurIPS 2010; used as a validator
by Musgrave et al., ECCV 2022) reads only the classifier's predictions on
unlabelled target images:

    IM = H(mean_i p_i) - mean_i H(p_i)

The first term is high when the predicted classes are spread over all
classes (it penalises a target mapped onto a few classes, the collapse an
adversarial feature alignment can cause); the second is low when each
prediction is confident (features far from the decision boundaries). Higher
is better; it ranges over [-log K, log K] nats for K classes.
"""

import numpy as np
from scipy import special, stats


def softmax(logits):
    """Row-wise softmax of a [N, K] array, in float64."""
    return special.softmax(np.asarray(logits, np.float64), axis=-1)


def information_maximization(probabilities):
    """{"information_maximization", "marginal_entropy", "conditional_entropy"} of [N, K] class probabilities."""
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.ndim != 2 or not len(probabilities):
        raise ValueError(f"expected [N, K] class probabilities with N > 0, got shape {probabilities.shape}.")
    marginal = stats.entropy(probabilities.mean(axis=0))
    conditional = float(stats.entropy(probabilities, axis=-1).mean())
    return {
        "information_maximization": float(marginal - conditional),
        "marginal_entropy": float(marginal),
        "conditional_entropy": conditional,
    }
