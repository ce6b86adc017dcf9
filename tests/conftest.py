"""Shared fixtures: a tiny synthetic data dir in the real file formats, and the real one."""

import gzip
import os
import pathlib
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    # One processed-data cache per test session: real datasets are synthesised once,
    # never into the user's ~/.cache.
    if "KERASDA_CACHE_DIR" not in os.environ:
        import tempfile

        os.environ["KERASDA_CACHE_DIR"] = tempfile.mkdtemp(prefix="kerasda-test-cache-")


def write_idx(path, array):
    """Write a uint8 array as a gzipped IDX file (the MNIST format)."""
    array = np.ascontiguousarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def make_digits(n, rng):
    """Grey 28x28 'digits': a bright bar whose position encodes the label."""
    labels = rng.integers(0, 10, n)
    x = np.zeros((n, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        x[i, 4:24, 2 + 2 * label : 5 + 2 * label] = 255
    return x, labels.astype(np.uint8)


def write_npz_domain(path, rng, invert):
    """An `npz:` domain of 28x28 RGB bar 'digits'; `invert` gives the colour-inverted, tinted target."""
    arrays = {}
    for split, n in (("train", 64), ("test", 32)):
        x, y = make_digits(n, rng)
        x = np.repeat(x[..., None], 3, axis=-1)
        if invert:
            x = (255 - x) // np.array([1, 2, 3], np.uint8)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    np.savez(path, **arrays)
    return f"npz:{path}"


# Four steps of 16 + 16 images, evaluating, logging and checkpointing every 2, small embedding sets.
TINY_ADAPTATION_FLAGS = [
    "--batch_size=16",
    "--max_steps=4",
    "--eval_every=2",
    "--log_every=2",
    "--checkpoint_every=2",
    "--tsne_examples=20",
    "--pad_examples=20",
]


def adaptation_app_command(app, tmp_path, source, target, *app_flags):
    """A tiny run of `apps.<app>` from `source` to `target`, writing `tmp_path/run` and `tmp_path/exports`."""
    return [
        sys.executable,
        "-m",
        f"apps.{app}",
        *app_flags,
        f"--source={source}",
        f"--target={target}",
        f"--output_dir={tmp_path / 'run'}",
        f"--export_root={tmp_path / 'exports'}",
        *TINY_ADAPTATION_FLAGS,
    ]


def served_accuracy(export_path, npz_path):
    """Accuracy of an export's `serving_default` on an npz domain's test split, as a client scores it."""
    import tensorflow as tf

    from kerasda.evaluation.served import serve_classes

    data = np.load(npz_path)
    loaded = tf.saved_model.load(export_path)  # kept alive while its signature is called
    classes = serve_classes(loaded.signatures["serving_default"], data["x_test"], 256)
    return float(np.mean(classes == data["y_test"]))


@pytest.fixture
def tiny_data_dir(tmp_path):
    """A data dir with 64/32 MNIST-format digits and three small BSDS500-like JPEGs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    mnist_dir = tmp_path / "mnist"
    mnist_dir.mkdir()
    for prefix, n in (("train", 64), ("t10k", 32)):
        x, y = make_digits(n, rng)
        write_idx(mnist_dir / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(mnist_dir / f"{prefix}-labels-idx1-ubyte.gz", y)
    bsds = tmp_path / "bsds500" / "train"
    bsds.mkdir(parents=True)
    for i, size in enumerate([(48, 40), (40, 48), (60, 50)]):
        pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(bsds / f"{i}.jpg", quality=95)
    return tmp_path


@pytest.fixture(scope="session")
def real_data_dir():
    """$KERASDA_DATA_DIR with MNIST and BSDS500, or skip with the reason."""
    value = os.environ.get("KERASDA_DATA_DIR")
    if not value:
        pytest.skip("KERASDA_DATA_DIR not set: integration tests need MNIST and BSDS500 files.")
    path = pathlib.Path(value)
    if not (path / "mnist" / "train-images-idx3-ubyte.gz").exists() or not (path / "bsds500" / "train").is_dir():
        pytest.skip(f"KERASDA_DATA_DIR={path} lacks mnist/*.gz or bsds500/train/.")
    return path
