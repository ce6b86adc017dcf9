"""SVHN (Netzer et al. 2011), the cropped-digit format: `train_32x32.mat`, `test_32x32.mat`.

The official files store images as X [32, 32, 3, N] and labels y [N, 1] in
1..10, where 10 stands for the digit 0; both are converted to kerasda's
layout (x [N, 32, 32, 3], y in 0..9). `extra_32x32.mat` is not used.
"""

import numpy as np

from kerasda.data import split_files
from kerasda.errors import DataError

SUBDIR = "svhn"
FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
NATIVE_SIZE = 32


def read_svhn_mat(path):
    """One official .mat file -> (x uint8 [N, 32, 32, 3], y int64 in 0..9)."""
    from scipy.io import loadmat

    data = loadmat(path)
    if "X" not in data or "y" not in data:
        raise DataError(f"{path} holds {sorted(k for k in data if not k.startswith('__'))}; expected X and y.")
    x, y = data["X"], np.asarray(data["y"]).reshape(-1).astype(np.int64)
    if x.ndim != 4 or x.shape[2] != 3 or x.shape[3] != len(y):
        raise DataError(f"{path}: X has shape {x.shape}, expected [H, W, 3, N] with N = {len(y)} labels.")
    if y.size and (y.min() < 1 or y.max() > 10):
        raise DataError(f"{path}: labels span {y.min()}..{y.max()}, expected 1..10 (10 is the digit 0).")
    return np.ascontiguousarray(np.transpose(x, (3, 0, 1, 2)), np.uint8), y % 10


def load_svhn(data_dir=None, image_size=32, cache_dir=None):
    """SVHN as a Domain named "svhn", resized to `image_size`; cached when resized."""
    return split_files.load_split_files(
        SUBDIR, FILES, read_svhn_mat, data_dir, image_size, cache_dir, native_size=NATIVE_SIZE
    )
