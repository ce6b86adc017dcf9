"""MNIST-M, the target domain, synthesised as Ganin & Lempitsky (2015) did.

Each MNIST digit is blended with a random 28x28 crop of a random BSDS500
*train* colour photo by per-channel absolute difference,
`out[i, j, k] = |patch[i, j, k] - digit[i, j]|`, so the digit shows as the
photo's colours inverted where the stroke is. Train/test splits and labels are
MNIST's. The result depends only on the seed and is cached on disk.
"""

import pathlib

import numpy as np
from absl import logging

from kerasda.data import cache, images, mnist, paths
from kerasda.data.domain import Domain

DIGIT_SIZE = 28
BSDS_TRAIN_SUBDIR = pathlib.Path("bsds500") / "train"


def load_bsds500_train(data_dir=None):
    """The BSDS500 train photos as a list of uint8 [H, W, 3] arrays (sorted by file name)."""
    from PIL import Image

    folder = paths.resolve_data_dir(data_dir) / BSDS_TRAIN_SUBDIR
    files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    if not files:
        raise paths.MissingDataError(
            f"BSDS500 not found: expected the 200 JPEG photos in {folder}/*.jpg (MNIST-M is "
            f"synthesised from them). Point --data_dir or ${paths.DATA_DIR_ENV} at the folder "
            "that holds 'bsds500/train/'."
        )
    photos = []
    for path in files:
        with Image.open(path) as image:
            photos.append(np.asarray(image.convert("RGB")))
    return photos


def blend_with_random_patches(digits, photos, rng):
    """Blend each grey digit [N, 28, 28] with a random crop of a random photo."""
    n, h, w = digits.shape
    out = np.empty((n, h, w, 3), np.uint8)
    choice = rng.integers(0, len(photos), size=n)
    unit_offsets = rng.random((n, 2))
    digits = digits.astype(np.int16)[..., None]
    for i in range(n):
        photo = photos[choice[i]]
        top = int(unit_offsets[i, 0] * (photo.shape[0] - h + 1))
        left = int(unit_offsets[i, 1] * (photo.shape[1] - w + 1))
        patch = photo[top : top + h, left : left + w].astype(np.int16)
        out[i] = np.abs(patch - digits[i])
    return out


def synthesize_mnist_m(data_dir=None, seed=0, download=False):
    """Synthesise all 70k MNIST-M images at 28x28: {"x_train", "y_train", "x_test", "y_test"}."""
    photos = load_bsds500_train(data_dir)
    arrays = mnist.load_mnist_arrays(data_dir, download)
    rng = np.random.default_rng(seed)
    result = {}
    for split in ("train", "test"):
        x, y = arrays[split]
        result[f"x_{split}"] = blend_with_random_patches(x, photos, rng)
        result[f"y_{split}"] = y
    logging.info("Synthesised MNIST-M (seed %d) from %d BSDS500 photos.", seed, len(photos))
    return result


def load_mnist_m(data_dir=None, image_size=32, seed=0, download=False, cache_dir=None):
    """MNIST-M as a Domain resized to `image_size`; synthesised once per seed, then cached."""

    def build_resized():
        raw = cache.cached_arrays(
            f"mnist_m_seed{seed}_{DIGIT_SIZE}px",
            lambda: synthesize_mnist_m(data_dir, seed, download),
            cache_dir,
        )
        return {
            key: images.resize_uint8(value, image_size) if key.startswith("x_") else value
            for key, value in raw.items()
        }

    arrays = cache.cached_arrays(f"mnist_m_seed{seed}_{image_size}px", build_resized, cache_dir)
    return Domain("mnist_m", **arrays, class_names=tuple(str(i) for i in range(10)))
