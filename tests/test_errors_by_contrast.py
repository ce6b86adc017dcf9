"""benchmarks.errors_by_contrast: MNIST-M's digit contrast, and accuracy in equal-count bins of it."""

import numpy as np
import pytest

from benchmarks import errors_by_contrast


def test_half_contrast_is_the_digit_contrast_of_an_inverted_patch():
    ink = np.zeros((28, 28, 1), np.float32)
    ink[8:20, 12:16] = 1.0
    images = []
    for patch_value in (127.0, 200.0, 0.0):
        patch = np.full((28, 28, 3), patch_value, np.float32)
        images.append(np.abs(patch - 255.0 * ink).astype(np.uint8))  # MNIST-M's recipe
    contrast = errors_by_contrast.half_contrast(np.stack(images))
    # On a mid-grey patch the digit vanishes; digit and background are both |p - 127.5| from mid-grey.
    assert contrast == pytest.approx([0.5 / 127.5, 72.5 / 127.5, 1.0], abs=1e-6)


def test_accuracy_by_bin_orders_equal_count_bins_by_contrast():
    contrast = np.array([0.9, 0.1, 0.5, 0.2, 0.8, 0.6])
    correct = np.array([True, False, True, False, True, False])
    rows = errors_by_contrast.accuracy_by_bin(contrast, correct, bins=3)
    assert [row["examples"] for row in rows] == [2, 2, 2]
    assert [(row["low"], row["high"]) for row in rows] == [(0.1, 0.2), (0.5, 0.6), (0.8, 0.9)]
    assert [row["accuracy"] for row in rows] == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="cannot fill"):
        errors_by_contrast.accuracy_by_bin(contrast[:2], correct[:2], bins=3)
