"""MNIST, the source domain: raw IDX files under the data dir, else TFDS."""

import gzip
import pathlib

import numpy as np
from absl import logging

from kerasda.data import cache, images, paths, tfds
from kerasda.data.domain import DIGIT_CLASS_NAMES, Domain
from kerasda.errors import DataError

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path):
    """Parse one (optionally gzipped) IDX file into a numpy array."""
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise DataError(
            f"{path} cannot be read ({type(error).__name__}: {error}); download the MNIST file again."
        ) from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file; download the MNIST file again.")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise DataError(
            f"{path}: header says {shape} but holds {array.size} values (truncated?); download the MNIST file again."
        )
    return array.reshape(shape)


def _idx_path(mnist_dir, name):
    """Accept both gzipped and uncompressed IDX files."""
    gz = mnist_dir / name
    return gz if gz.exists() else mnist_dir / name[: -len(".gz")]


def load_mnist_arrays(data_dir=None, download=False):
    """{"train": (x uint8 [N,28,28], y int64), "test": ...} from IDX files or TFDS."""
    data_dir = paths.resolve_data_dir(data_dir)
    mnist_dir = data_dir / "mnist"
    names = [n for pair in IDX_FILES.values() for n in pair]
    if all(_idx_path(mnist_dir, n).exists() for n in names):
        return {
            split: (
                read_idx(_idx_path(mnist_dir, x_name)),
                read_idx(_idx_path(mnist_dir, y_name)).astype(np.int64),
            )
            for split, (x_name, y_name) in IDX_FILES.items()
        }
    arrays = tfds.load_tfds_arrays("mnist", data_dir / "tensorflow_datasets", download)
    if arrays is not None:
        logging.info("MNIST loaded through TFDS.")
        return {s: (x[..., 0], y.astype(np.int64)) for s, (x, y) in arrays.items()}
    paths.require_files(mnist_dir, names, "MNIST")  # raises, naming the files
    raise AssertionError("unreachable")


def source_files(data_dir=None):
    """The files MNIST is read from: the IDX files when present, else the TFDS folder."""
    mnist_dir = paths.resolve_data_dir(data_dir) / "mnist"
    idx = [_idx_path(mnist_dir, n) for pair in IDX_FILES.values() for n in pair]
    if all(path.exists() for path in idx):
        return idx
    return [paths.resolve_data_dir(data_dir) / "tensorflow_datasets"]


def source_fingerprint(data_dir=None):
    return cache.source_fingerprint(source_files(data_dir))


def load_mnist(data_dir=None, image_size=32, download=False, cache_dir=None):
    """MNIST as a Domain of RGB uint8 images resized to `image_size` (cached)."""

    def build():
        arrays = load_mnist_arrays(data_dir, download)
        return {
            f"{key}_{split}": value
            for split, (x, y) in arrays.items()
            for key, value in (("x", images.resize_uint8(images.to_rgb(x), image_size)), ("y", y))
        }

    key = f"mnist_{source_fingerprint(data_dir)}_{image_size}px"
    arrays = cache.cached_arrays(key, build, cache_dir)
    return Domain("mnist", **arrays, class_names=DIGIT_CLASS_NAMES)
