"""Any image folder (one sub-folder per class) or .npz file (x, y) as a domain."""

import pathlib

import numpy as np
from absl import logging

from kerasda.data import images, paths
from kerasda.data.domain import Domain

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


def read_image_rgb(path, image_size):
    """One file -> uint8 [size, size, 3]; grey and RGBA become RGB. Raises on unreadable files."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
        return np.asarray(image, np.uint8)


def read_class_folders(root, image_size, class_names=None):
    """Read `root/<class>/*` into (x uint8 [N, s, s, 3], y int64, class_names).

    Unreadable files are skipped and counted in a single warning, so one bad
    file does not stop a run on thousands.
    """
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        raise paths.MissingDataError(
            f"Image folder {root} does not exist; expected one sub-folder per class."
        )
    if class_names is None:
        class_names = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not class_names:
        raise paths.MissingDataError(
            f"Image folder {root} has no class sub-folders; expected e.g. {root}/<class>/*.png."
        )
    xs, ys, skipped = [], [], []
    for label, name in enumerate(class_names):
        folder = root / name
        if not folder.is_dir():
            raise paths.MissingDataError(f"Class folder {folder} does not exist.")
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            try:
                xs.append(read_image_rgb(path, image_size))
                ys.append(label)
            except Exception:  # PIL raises many types for bad files
                skipped.append(path.name)
    if skipped:
        logging.warning(
            "Skipped %d unreadable file(s) under %s (e.g. %s).", len(skipped), root, skipped[:3]
        )
    if not xs:
        raise paths.MissingDataError(f"No readable images under {root}/{{{','.join(class_names)}}}.")
    return np.stack(xs), np.asarray(ys, np.int64), tuple(class_names)


def _split(x, y, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(round(len(x) * test_fraction)))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def load_image_folder(root, image_size=32, test_fraction=0.2, seed=0):
    """A class-folder tree as a Domain. Uses `root/train` and `root/test` when both exist."""
    root = pathlib.Path(root).expanduser()
    name = root.name
    if (root / "train").is_dir() and (root / "test").is_dir():
        x_train, y_train, classes = read_class_folders(root / "train", image_size)
        x_test, y_test, _ = read_class_folders(root / "test", image_size, classes)
    else:
        x, y, classes = read_class_folders(root, image_size)
        x_train, y_train, x_test, y_test = _split(x, y, test_fraction, seed)
    return Domain(name, x_train, y_train, x_test, y_test, class_names=classes)


def load_npz(path, image_size=32, test_fraction=0.2, seed=0):
    """An .npz with `x` (and `y`), or `x_train, y_train, x_test, y_test`, as a Domain."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise paths.MissingDataError(f"{path} does not exist; expected an .npz with arrays x, y.")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}

    def prepare(x):
        x = np.asarray(x)
        if x.dtype != np.uint8:
            if x.max() <= 1.0:
                x = x * 255.0
            x = np.clip(np.round(x), 0, 255).astype(np.uint8)
        return images.resize_uint8(images.to_rgb(x), image_size)

    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        parts = (arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"])
    elif {"x", "y"} <= arrays.keys():
        parts = _split(arrays["x"], arrays["y"], test_fraction, seed)
    else:
        raise ValueError(f"{path} holds {sorted(arrays)}; expected x, y or x_train/y_train/x_test/y_test.")
    x_train, y_train, x_test, y_test = parts
    return Domain(
        path.stem,
        prepare(x_train),
        np.asarray(y_train, np.int64),
        prepare(x_test),
        np.asarray(y_test, np.int64),
    )
