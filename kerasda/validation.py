"""Checks that run before any work: image and label arrays, output folders.

Each check either returns a clean value or raises a `kerasda.errors.UserError`
whose one-line message names the array, file or flag, what was found, what
was expected and how to fix it. Conversions that change values (e.g. float
images in [0, 1] scaled to 0..255) are logged, never silent.
"""

import os
import pathlib
import tempfile

import numpy as np
from absl import logging

from kerasda.errors import DataError, FlagError

CHANNELS = (1, 3, 4)  # grey, RGB, RGBA; images.to_rgb makes all of them RGB


def _range_text(x):
    return f"[{float(np.min(x)):.4g}, {float(np.max(x)):.4g}]"


def images_to_uint8(x, name):
    """Image array of any usual dtype and value range -> uint8 [N, H, W] or [N, H, W, 1|3|4].

    Accepted (anything else is refused, naming the range or shape found):
      - uint8: unchanged;
      - uint16: 16-bit images, divided by 257 (65535 -> 255);
      - other integers with every value in 0..255: cast;
      - floats without NaN/Inf: in [0, 1] -> x 255; else in [-1, 1] -> (x + 1) x 127.5;
        else in [0, 255] -> rounded. The range chosen is logged.

    Args:
        x: the array.
        name: what to call it in messages, e.g. "data.npz: x_train".
    """
    x = np.asarray(x)
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in CHANNELS):
        raise DataError(
            f"{name}: images have shape {x.shape}; expected [N, H, W] (grey) or [N, H, W, C] with "
            f"C in {CHANNELS}. Store images with the example axis first and channels last."
        )
    if len(x) == 0 or min(x.shape[1:3]) < 1:
        raise DataError(f"{name}: holds no images (shape {x.shape}); expected at least one image.")
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise DataError(
            f"{name}: images of dtype {x.dtype}; expected uint8 0..255, uint16, or floats in [0, 1] or [-1, 1]."
        )
    if x.dtype == np.uint16:
        logging.info("%s: uint16 images read as 16-bit (0..65535 -> 0..255).", name)
        return np.round(x.astype(np.float32) / 257.0).astype(np.uint8)
    if np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise DataError(
                f"{name}: integer images span {_range_text(x)}; expected 0..255. Convert to uint8 "
                "(or uint16 for 16-bit images) before saving."
            )
        return x.astype(np.uint8)
    finite = np.isfinite(x)
    if not finite.all():
        raise DataError(
            f"{name}: {int(x.size - finite.sum())} of {x.size} pixel values are NaN or Inf; expected finite "
            "values. Fix or drop those images."
        )
    low, high = float(x.min()), float(x.max())
    if low >= 0.0 and high <= 1.0:
        scale, offset, text = 255.0, 0.0, "[0, 1]"
    elif low >= -1.0 and high <= 1.0:
        scale, offset, text = 127.5, 1.0, "[-1, 1]"
    elif low >= 0.0 and high <= 255.0:
        scale, offset, text = 1.0, 0.0, "[0, 255]"
    else:
        raise DataError(
            f"{name}: float images span {_range_text(x)}; expected [0, 1], [-1, 1] or [0, 255]. "
            "Rescale them (or save uint8) first."
        )
    logging.info("%s: %s images span %s; read as %s and scaled to 0..255.", name, x.dtype, _range_text(x), text)
    # float32 is exact enough for 0..255 and halves the memory of float64 on large arrays
    return np.clip(np.round((x.astype(np.float32) + offset) * scale), 0, 255).astype(np.uint8)


def labels_to_int64(y, num_images, name):
    """Class ids [N] (ints, or floats holding whole numbers) -> int64, checked against the images."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = " (one-hot? store y.argmax(axis=1))" if y.ndim == 2 else ""
        raise DataError(f"{name}: labels have shape {y.shape}; expected class ids of shape [N]{hint}.")
    if len(y) != num_images:
        raise DataError(
            f"{name}: {num_images} images but {len(y)} labels; expected one label per image. Save matching arrays."
        )
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y):
        raise DataError(f"{name}: labels of dtype {y.dtype}; expected integer class ids 0..K-1.")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or not np.array_equal(y, np.round(y)):
            raise DataError(f"{name}: labels hold NaN, Inf or fractional values; expected integer class ids 0..K-1.")
    if len(y) and y.min() < 0:
        raise DataError(f"{name}: labels span {_range_text(y)}; expected class ids 0..K-1 (no negatives).")
    return y.astype(np.int64)


def check_num_classes(labels, name, minimum=2):
    """The number of classes (max label + 1) over `labels` arrays; at least `minimum`."""
    top = max((int(y.max()) for y in labels if len(y)), default=-1)
    if top + 1 < minimum:
        raise DataError(f"{name}: labels name {top + 1} class(es); expected at least {minimum} classes (0..K-1).")
    return top + 1


def _first_existing(path):
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_dir(path, flag):
    """Raise unless `path` is a folder we can write, or can be created as one; creates nothing.

    Args:
        path: the folder.
        flag: the flag that named it, e.g. "--output_dir".
    """
    path = pathlib.Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise FlagError(f"{flag}={path} is a file; expected a folder. Choose another path.")
    existing = _first_existing(path.absolute())
    if not existing.is_dir():
        raise FlagError(f"{flag}={path}: {existing} is a file, so the folder cannot be created. Choose another path.")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".kerasda-write-test-")
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        raise FlagError(
            f"{flag}={path} is not writable ({error.strerror or error} in {existing}); choose a writable folder."
        ) from error
    return path


def check_new_or_empty_dir(path, flag, fix="choose a new folder"):
    """Raise unless `path` is absent or an empty folder (and writable)."""
    path = pathlib.Path(path).expanduser()
    if path.is_dir():
        entries = sorted(p.name for p in path.iterdir())
        if entries:
            raise FlagError(
                f"{flag}={path} already holds {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} "
                f"(e.g. {entries[0]}); expected a new or empty folder: {fix}."
            )
    return check_writable_dir(path, flag)


def check_model_path(path, flag, keras_file=True):
    """Raise a FlagError unless `path` is a SavedModel folder (or, with `keras_file`, a `.keras` file).

    A folder of versions (`saved_models/<name>/`) is refused with the version to pass.

    Args:
        path: the model path.
        flag: the flag that named it, e.g. "--model".
        keras_file: whether a `.keras` file is accepted too.
    """
    path = pathlib.Path(path).expanduser()
    expected = "a SavedModel version folder (with saved_model.pb)" + (" or a .keras file" if keras_file else "")
    if keras_file and path.suffix == ".keras":
        if not path.is_file():
            raise FlagError(f"{flag}={path} does not exist; expected {expected}.")
        return path
    if not path.exists():
        raise FlagError(f"{flag}={path} does not exist; expected {expected}.")
    if not (path / "saved_model.pb").is_file():
        versions = (
            sorted((p.name for p in path.glob("*") if (p / "saved_model.pb").is_file()), key=lambda v: (len(v), v))
            if path.is_dir()
            else []
        )
        hint = (
            f"; it holds versions {', '.join(versions)}: pass {flag}={path / versions[-1]}"
            if versions
            else (f"; expected {expected}")
        )
        raise FlagError(f"{flag}={path} is not a SavedModel folder (no saved_model.pb){hint}.")
    return path


def parse_numbers(values, flag, kind=float, minimum=None):
    """A list flag's strings -> numbers of `kind`, each >= `minimum`; else a FlagError naming the flag."""
    try:
        numbers = [kind(value) for value in values]
    except (TypeError, ValueError):
        raise FlagError(
            f"--{flag}={','.join(map(str, values))}: expected comma-separated {kind.__name__} values."
        ) from None
    if not numbers or any(not np.isfinite(n) or (minimum is not None and n < minimum) for n in numbers):
        bound = f", each >= {minimum}" if minimum is not None else ""
        raise FlagError(
            f"--{flag}={','.join(map(str, values))}: expected one or more finite {kind.__name__} values{bound}."
        )
    return numbers


def check_choices(values, flag, choices):
    """Raise a FlagError naming `flag` unless every one of `values` is in `choices` (and there is one)."""
    unknown = [value for value in values if value not in choices]
    if unknown or not values:
        raise FlagError(
            f"--{flag}={','.join(values)}: {'unknown ' + ', '.join(unknown) if unknown else 'empty'}; "
            f"expected one or more of {', '.join(choices)}."
        )
    return tuple(values)
