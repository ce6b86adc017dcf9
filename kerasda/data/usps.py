"""USPS handwritten digits (Hull 1994), as LIBSVM distributes them: `usps.bz2`, `usps.t.bz2`.

The classic 7,291 train / 2,007 test split of 16x16 grey scans. LIBSVM stores
each image as 256 pixels scaled to [-1, 1] (ink high, as in MNIST) with labels
1..10 for the digits 0..9; scikit-learn's `load_svmlight_file` reads the
compressed files as they are, and both are converted to kerasda's layout
(RGB uint8, y in 0..9). The digit fills the 16x16 frame, unlike MNIST's
20-in-28 box, which is part of the domain shift.
"""

import numpy as np

from kerasda.data import split_files
from kerasda.errors import DataError

SUBDIR = "usps"
FILES = {"train": "usps.bz2", "test": "usps.t.bz2"}
SIDE = 16


def read_usps_svmlight(path):
    """One LIBSVM USPS file -> (x uint8 [N, 16, 16] grey, y int64 in 0..9)."""
    from sklearn.datasets import load_svmlight_file

    try:
        features, labels = load_svmlight_file(str(path), n_features=SIDE * SIDE)
    except ValueError as error:  # also raised for more than 256 features
        raise DataError(f"{path} is not a 256-pixel LIBSVM file ({error}).") from error
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 1 or labels.max() > 10 or np.any(labels != np.round(labels))):
        raise DataError(f"{path}: labels span {labels.min():g}..{labels.max():g}, expected integers 1..10 (digit + 1).")
    pixels = features.toarray()
    if pixels.size and (pixels.min() < -1.0 - 1e-6 or pixels.max() > 1.0 + 1e-6):
        raise DataError(f"{path}: pixels span {pixels.min():g}..{pixels.max():g}, expected [-1, 1].")
    grey = np.round((pixels + 1.0) * 127.5).astype(np.uint8).reshape(-1, SIDE, SIDE)
    return grey, labels.astype(np.int64) - 1


def load_usps(data_dir=None, image_size=32, cache_dir=None):
    """USPS as a Domain named "usps": RGB uint8, bilinearly resized to `image_size`; cached."""
    return split_files.load_split_files(SUBDIR, FILES, read_usps_svmlight, data_dir, image_size, cache_dir)
