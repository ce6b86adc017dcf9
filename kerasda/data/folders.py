"""Any image folder (one sub-folder per class) or .npz file (x, y) as a domain."""

import pathlib

import numpy as np
from absl import logging

from kerasda import validation
from kerasda.data import images, paths
from kerasda.data.domain import Domain
from kerasda.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def read_image_rgb(path, image_size):
    """One file -> uint8 [size, size, 3]; grey, RGBA, palette and 16-bit become 8-bit RGB.

    16-bit images are divided by 257 (PIL's own conversion would clip them to
    white). Raises on unreadable or truncated files (PIL decodes lazily, so the
    pixels are loaded here, inside the caller's try).
    """
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        if image.mode in SIXTEEN_BIT_MODES:
            pixels = np.asarray(image).astype(np.float64)
            if pixels.min() < 0 or pixels.max() > 65535:
                raise DataError(f"{path}: 32-bit integer pixels outside 0..65535; save it as 8- or 16-bit.")
            image = Image.fromarray(np.round(pixels / 257.0).astype(np.uint8), "L")
        elif image.mode == "F":
            raise DataError(f"{path}: 32-bit float pixels; save it as an 8- or 16-bit image.")
        image = image.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
        return np.asarray(image, np.uint8)


def _list_dir(folder):
    try:
        return sorted(folder.iterdir())
    except OSError as error:
        raise DataError(f"Cannot read folder {folder} ({error.strerror or error}); check its permissions.") from error


def read_class_folders(root, image_size, class_names=None, require_every_class=True):
    """Read `root/<class>/*` into (x uint8 [N, s, s, 3], y int64, class_names).

    Files with an image suffix that cannot be read (truncated, corrupt, no
    permission, broken link) are skipped and reported in one warning that names
    them, so one bad file does not stop a run on thousands; hidden files and
    other suffixes are ignored. A class folder without a single readable image
    is an error when `require_every_class` (its class could not be learnt).
    """
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        raise paths.MissingDataError(f"Image folder {root} {what}; expected a folder with one sub-folder per class.")
    if class_names is None:
        class_names = [p.name for p in _list_dir(root) if p.is_dir() and not p.name.startswith(".")]
    if not class_names:
        raise paths.MissingDataError(
            f"Image folder {root} has no class sub-folders; expected e.g. {root}/<class>/*.png."
        )
    if len(class_names) < 2:
        raise DataError(
            f"Image folder {root} has {len(class_names)} class sub-folder(s) {list(class_names)}; expected "
            f"at least two, e.g. {root}/<class>/*.png."
        )
    xs, ys, skipped, ignored = [], [], [], 0
    for label, name in enumerate(class_names):
        folder = root / name
        if not folder.is_dir():
            raise paths.MissingDataError(
                f"Class folder {folder} does not exist (the class is listed by the train folder)."
            )
        count = 0
        for path in _list_dir(folder):
            if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                ignored += 1
                continue
            try:
                xs.append(read_image_rgb(path, image_size))
                ys.append(label)
                count += 1
            except Exception as error:  # PIL raises many types for bad files
                skipped.append(f"{path.relative_to(root)} ({type(error).__name__}: {error})")
        if count == 0 and require_every_class:
            raise DataError(f"Class folder {folder} holds no readable images; add images or remove the folder.")
    if skipped:
        logging.warning("Skipped %d unreadable file(s) under %s: %s", len(skipped), root, "; ".join(skipped[:5]))
    if ignored:
        logging.info("Ignored %d hidden or non-image file(s) under %s.", ignored, root)
    if not xs:
        raise paths.MissingDataError(f"No readable images under {root}/{{{','.join(class_names)}}}.")
    return np.stack(xs), np.asarray(ys, np.int64), tuple(class_names)


def split_train_test(x, y, test_fraction, seed):
    """Seeded train/test split, stratified by class (`sklearn.model_selection.train_test_split`).

    The test split holds `max(1, round(len(x) * test_fraction))` examples (at
    most all but one) and each class in proportion. When a class has a single
    example, or the test or train split would hold fewer examples than there
    are classes, stratifying is impossible and the split is a plain seeded one.

    Returns:
        (x_train, y_train, x_test, y_test).
    """
    from sklearn.model_selection import train_test_split

    if len(x) < 2:
        raise DataError(f"Only {len(x)} example(s); need at least 2 to split into train and test.")
    n_test = min(max(1, int(round(len(x) * test_fraction))), len(x) - 1)
    _, class_counts = np.unique(y, return_counts=True)
    stratifiable = class_counts.min() >= 2 and min(n_test, len(x) - n_test) >= len(class_counts)
    train, test = train_test_split(
        np.arange(len(x)), test_size=n_test, random_state=seed, stratify=y if stratifiable else None
    )
    return x[train], y[train], x[test], y[test]


def load_image_folder(root, image_size=32, test_fraction=0.2, seed=0):
    """A class-folder tree as a Domain. Uses `root/train` and `root/test` when both exist,
    else `split_train_test` (seeded, stratified by class)."""
    root = pathlib.Path(root).expanduser()
    name = root.name
    if (root / "train").is_dir() and (root / "test").is_dir():
        x_train, y_train, classes = read_class_folders(root / "train", image_size)
        x_test, y_test, _ = read_class_folders(root / "test", image_size, classes, require_every_class=False)
    else:
        x, y, classes = read_class_folders(root, image_size)
        x_train, y_train, x_test, y_test = split_train_test(x, y, test_fraction, seed)
    return Domain(name, x_train, y_train, x_test, y_test, class_names=classes)


def read_npz(path, keys_only=False):
    """{name: array} of an .npz file (or only its names, cheaply); a file that cannot be read is a
    DataError naming it."""
    path = pathlib.Path(path).expanduser()
    if not path.exists():
        raise paths.MissingDataError(
            f"{path} does not exist; expected an .npz with arrays x, y (or x_train, y_train, x_test, y_test)."
        )
    if path.is_dir():
        raise DataError(f"{path} is a folder; use folder:{path} for class folders, npz:<file> for .npz files.")
    try:
        with path.open("rb") as f:
            magic = f.read(6)
    except OSError as error:
        raise DataError(f"{path} cannot be read ({error.strerror or error}); check its permissions.") from error
    if magic == b"\x93NUMPY":
        raise DataError(f"{path} is a single .npy array; save x and y with numpy.savez(path, x=..., y=...).")
    if not magic.startswith(b"PK"):
        raise DataError(
            f"{path} is not an .npz file (no zip header); create it with numpy.savez(path, x=images, y=labels)."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files} if keys_only is False else list(data.files)
    except Exception as error:  # zipfile, zlib, pickle and OS errors: all mean "not a valid .npz"
        raise DataError(
            f"{path} is not a readable .npz file ({type(error).__name__}: {error}); re-create it with "
            "numpy.savez(path, x=images, y=labels)."
        ) from error


SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")
WHOLE_KEYS = ("x", "y")


def npz_layout(path, names):
    """The keys of the layout an .npz uses (SPLIT_KEYS or WHOLE_KEYS); a DataError if neither."""
    if set(SPLIT_KEYS) <= set(names):
        return SPLIT_KEYS
    if set(WHOLE_KEYS) <= set(names):
        return WHOLE_KEYS
    raise DataError(f"{path} holds arrays {sorted(names)}; expected x and y, or x_train, y_train, x_test and y_test.")


def check_npz(path):
    """Cheap check of an .npz (readable zip, known array names) without loading its arrays."""
    npz_layout(path, read_npz(path, keys_only=True))


def load_npz(path, image_size=32, test_fraction=0.2, seed=0):
    """An .npz with `x` and `y` (split by `split_train_test`) or `x_train, y_train, x_test, y_test`,
    as a Domain.

    Every array is checked before use (`kerasda.validation`): shapes, dtypes,
    value range, NaN/Inf, label range and one label per image.
    """
    path = pathlib.Path(path).expanduser()
    arrays = read_npz(path)

    def prepare(x, key):
        x = validation.images_to_uint8(x, f"{path}: {key}")
        return images.resize_uint8(images.to_rgb(x), image_size)

    keys = npz_layout(path, arrays)
    if keys == SPLIT_KEYS:
        x_train, x_test = (prepare(arrays[k], k) for k in ("x_train", "x_test"))
        y_train = validation.labels_to_int64(arrays["y_train"], len(x_train), f"{path}: y_train")
        y_test = validation.labels_to_int64(arrays["y_test"], len(x_test), f"{path}: y_test")
    else:
        x = prepare(arrays["x"], "x")
        y = validation.labels_to_int64(arrays["y"], len(x), f"{path}: y")
        x_train, y_train, x_test, y_test = split_train_test(x, y, test_fraction, seed)
    unused = sorted(set(arrays) - set(keys))
    if unused:
        logging.info("%s: ignored arrays %s.", path, unused)
    validation.check_num_classes([y_train, y_test], str(path))
    return Domain(path.stem, x_train, y_train, x_test, y_test)
