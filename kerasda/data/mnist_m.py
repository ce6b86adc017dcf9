"""MNIST-M: the original release when present, else a synthesis that follows its recipe.

`mnist_m` reads the original release from `<data_dir>/mnist_m/` (see
`mnist_m_original`); only when that folder is absent does it synthesise, with
one warning, so that a result labelled MNIST-M is never silently made on
different images. The Domain's name says which set was used: "mnist_m" for the
release, "mnist_m_synth" for the synthesis.

The synthesis reproduces the recipe that the original 32x32 images show when
compared pixel by pixel with MNIST (docs/data.md): each MNIST digit is
binarised (any ink -> 255), padded by 2 pixels to 32x32 and blended with a
random 32x32 crop of a random full-resolution BSDS500 *train* photo by
per-channel absolute difference, `out[i, j, k] = |patch[i, j, k] - digit[i, j]|`.
Train/test splits and labels are MNIST's; the result depends only on the seed
and is cached on disk.
"""

import pathlib

import numpy as np
from absl import logging

from kerasda.data import cache, images, mnist, mnist_m_original, paths
from kerasda.data.domain import DIGIT_CLASS_NAMES, Domain

SYNTH_SIZE = 32  # the original release's size; MNIST's 28x28 digit is padded into it
RECIPE_VERSION = 2  # in the cache key: 1 was the 28x28 grey-level blend, resized afterwards
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


def binarize_and_pad(digits, size=SYNTH_SIZE):
    """Grey digits [N, 28, 28] -> strokes [N, size, size] of 0 or 255, centred.

    The original release inverts the photo fully under every inked MNIST pixel,
    however faint, and keeps the digit at MNIST's scale inside a 2-pixel border.
    """
    digits = np.asarray(digits)
    pad_y, pad_x = size - digits.shape[1], size - digits.shape[2]
    if pad_y < 0 or pad_x < 0:
        raise ValueError(f"Digits {digits.shape[1:]} do not fit into {size}x{size}.")
    strokes = np.where(digits > 0, np.uint8(255), np.uint8(0))
    return np.pad(strokes, ((0, 0), (pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2)))


def blend_with_random_patches(digits, photos, rng, size=SYNTH_SIZE):
    """Blend each grey digit [N, 28, 28] with a random size x size crop of a random photo."""
    strokes = binarize_and_pad(digits, size).astype(np.int16)[..., None]
    n = len(strokes)
    out = np.empty((n, size, size, 3), np.uint8)
    choice = rng.integers(0, len(photos), size=n)
    unit_offsets = rng.random((n, 2))
    for i in range(n):
        photo = photos[choice[i]]
        top = int(unit_offsets[i, 0] * (photo.shape[0] - size + 1))
        left = int(unit_offsets[i, 1] * (photo.shape[1] - size + 1))
        patch = photo[top : top + size, left : left + size].astype(np.int16)
        out[i] = np.abs(patch - strokes[i])
    return out


def synthesize_mnist_m(data_dir=None, seed=0, download=False):
    """Synthesise all 70k MNIST-M images at 32x32: {"x_train", "y_train", "x_test", "y_test"}."""
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


def synth_cache_key(seed, image_size, data_dir=None):
    """Changes with the recipe, the seed, the size and the MNIST / BSDS500 files it is made from."""
    bsds = paths.resolve_data_dir(data_dir) / BSDS_TRAIN_SUBDIR
    sources = cache.source_fingerprint([*mnist.source_files(data_dir), bsds])
    return f"mnist_m_synth_v{RECIPE_VERSION}_seed{seed}_{sources}_{image_size}px"


def load_mnist_m_synth(data_dir=None, image_size=32, seed=0, download=False, cache_dir=None):
    """Synthesised MNIST-M as a Domain named "mnist_m_synth"; built once per seed, then cached."""
    native = cache.cached_arrays(
        synth_cache_key(seed, SYNTH_SIZE, data_dir),
        lambda: synthesize_mnist_m(data_dir, seed, download),
        cache_dir,
    )
    if image_size == SYNTH_SIZE:
        arrays = native
    else:
        arrays = cache.cached_arrays(
            synth_cache_key(seed, image_size, data_dir),
            lambda: {k: images.resize_uint8(v, image_size) if k.startswith("x_") else v for k, v in native.items()},
            cache_dir,
        )
    return Domain("mnist_m_synth", **arrays, class_names=DIGIT_CLASS_NAMES)


def load_mnist_m(data_dir=None, image_size=32, seed=0, download=False, cache_dir=None):
    """The original MNIST-M when `<data_dir>/mnist_m/` exists, else the synthesis (one warning)."""
    if mnist_m_original.is_present(data_dir):
        return mnist_m_original.load_mnist_m_original(data_dir, image_size, cache_dir)
    logging.warning(
        "The original MNIST-M release was not found at %s; using synthesised MNIST-M "
        "(domain 'mnist_m_synth', seed %d) instead.",
        mnist_m_original.release_dir(data_dir),
        seed,
    )
    return load_mnist_m_synth(data_dir, image_size, seed, download, cache_dir)
