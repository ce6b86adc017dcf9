"""Scores of generated samples from the classes a classifier predicts for them.

- label accuracy: the fraction of conditional samples G(z, c) assigned to the
  requested class c (does conditioning work?);
- class histogram with its entropy and max/min class ratio (mode coverage: a
  collapsed generator draws few classes, or some far more often).
"""

import math

import numpy as np


def label_accuracy(requested_labels, predicted_labels):
    """Fraction of samples classified as the label they were generated for."""
    requested, predicted = np.asarray(requested_labels), np.asarray(predicted_labels)
    if requested.shape != predicted.shape or requested.size == 0:
        raise ValueError(f"Need as many predictions as requests, got {predicted.shape} and {requested.shape}.")
    return float(np.mean(requested == predicted))


def class_histogram_scores(predicted_labels, num_classes=10):
    """Mode coverage of samples from their predicted classes.

    Returns:
        dict with `class_counts` (list), `classes_present`, `entropy` (nats;
        log(num_classes) when uniform), `normalized_entropy` (in [0, 1]) and
        `max_min_ratio` (most / least frequent class; None when a class is
        missing, since the ratio is then infinite).
    """
    predicted = np.asarray(predicted_labels).astype(np.int64).ravel()
    if predicted.size == 0:
        raise ValueError("class_histogram_scores needs at least one prediction.")
    if predicted.min() < 0 or predicted.max() >= num_classes:
        raise ValueError(f"Predictions must lie in [0, {num_classes}), got {predicted.min()}..{predicted.max()}.")
    counts = np.bincount(predicted, minlength=num_classes)
    frequencies = counts / counts.sum()
    nonzero = frequencies[frequencies > 0]
    entropy = max(0.0, float(-(nonzero * np.log(nonzero)).sum()))  # never -0.0
    return {
        "class_counts": counts.tolist(),
        "classes_present": int((counts > 0).sum()),
        "entropy": entropy,
        "normalized_entropy": entropy / math.log(num_classes),
        "max_min_ratio": float(counts.max() / counts.min()) if counts.min() > 0 else None,
    }
