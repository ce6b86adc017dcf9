"""UCI handwritten digits (scikit-learn's `load_digits`): 1,797 real 8x8 digits, no download.

A small, genuinely different digit domain (coarse 8x8 scans with 17 grey
levels) that ships with scikit-learn, so it is always available offline. Ink
is high, as in MNIST, so no inversion is needed. The train/test split is fixed
(stratified 70/30, random_state=0) and does not follow --seed, so every run and
every paper-style table tests on the same 540 images.
"""

import numpy as np

from kerasda.data import images
from kerasda.data.domain import DIGIT_CLASS_NAMES, Domain

TEST_SIZE = 0.3
SPLIT_RANDOM_STATE = 0
MAX_VALUE = 16  # load_digits counts ink in 4x4 blocks of a 32x32 bitmap: 0..16


def load_uci_digits(image_size=32):
    """UCI digits as a Domain named "uci_digits": RGB uint8, bilinearly upscaled to `image_size`."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    grey = np.round(digits.images * (255.0 / MAX_VALUE)).astype(np.uint8)
    x = images.resize_uint8(images.to_rgb(grey), image_size)
    y = digits.target.astype(np.int64)
    train, test = train_test_split(np.arange(len(y)), test_size=TEST_SIZE, stratify=y, random_state=SPLIT_RANDOM_STATE)
    return Domain("uci_digits", x[train], y[train], x[test], y[test], class_names=DIGIT_CLASS_NAMES)
