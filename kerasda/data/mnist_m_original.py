"""The original MNIST-M release (Ganin & Lempitsky 2015), read from its official layout.

```
<data_dir>/mnist_m/mnist_m_train/*.png   mnist_m_train_labels.txt   ("<file> <label>" per line)
<data_dir>/mnist_m/mnist_m_test/*.png    mnist_m_test_labels.txt
```

Any number of images per split is accepted (a cut-down train split is common);
the label file decides which PNGs are read and in which order. Papers report
MNIST -> MNIST-M on this release's test split, so it is used whenever present.
"""

import hashlib
import pathlib

import numpy as np

from kerasda.data import cache, images, paths
from kerasda.data.domain import DIGIT_CLASS_NAMES, Domain
from kerasda.errors import DataError

RELEASE_SUBDIR = "mnist_m"
SPLITS = {
    "train": ("mnist_m_train", "mnist_m_train_labels.txt"),
    "test": ("mnist_m_test", "mnist_m_test_labels.txt"),
}
NUM_CLASSES = len(DIGIT_CLASS_NAMES)


def release_dir(data_dir=None):
    return paths.resolve_data_dir(data_dir) / RELEASE_SUBDIR


def is_present(data_dir=None):
    """True when `<data_dir>/mnist_m/` exists; its contents are checked when it is read."""
    return release_dir(data_dir).is_dir()


def read_label_file(path):
    """Parse "<file> <label>" lines into (file names, int64 labels); errors name file and line."""
    path = pathlib.Path(path)
    names, labels = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise DataError(f"{path}:{number}: expected '<file> <label>', got {line!r}.")
        label = int(parts[1])
        if not 0 <= label < NUM_CLASSES:
            raise DataError(f"{path}:{number}: label {label} is outside 0..{NUM_CLASSES - 1}.")
        names.append(parts[0])
        labels.append(label)
    if not names:
        raise DataError(f"{path} holds no '<file> <label>' lines.")
    return names, np.asarray(labels, np.int64)


def check_split(folder, label_path, names):
    """Every labelled PNG must exist and every PNG must be labelled (a short file is truncated)."""
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise paths.MissingDataError(
            f"{label_path} names {len(missing)} image(s) missing from {folder}, e.g. {folder / missing[0]}."
        )
    n_png = sum(1 for _ in folder.glob("*.png"))
    if n_png > len(names):
        raise DataError(
            f"{label_path} has {len(names)} labels but {folder} holds {n_png} PNGs: the label file "
            "looks truncated. Restore it, or remove the unlabelled PNGs."
        )


def read_pngs(folder, names):
    """The named PNGs as uint8 [N, H, W, 3], in label-file order."""
    from PIL import Image

    arrays = []
    for name in names:
        with Image.open(folder / name) as image:
            arrays.append(np.asarray(image.convert("RGB")))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise DataError(f"{folder}: the PNGs differ in size ({sorted(shapes)[:3]}); expected one size.")
    return np.stack(arrays)


def read_labels(data_dir=None):
    """{"train": (folder, label file, names, labels), "test": ...}; raises naming absent files."""
    root = release_dir(data_dir)
    expected = [name for pair in SPLITS.values() for name in pair]
    paths.require_files(root, expected, "The original MNIST-M release")
    result = {}
    for split, (folder_name, label_name) in SPLITS.items():
        names, labels = read_label_file(root / label_name)
        result[split] = (root / folder_name, root / label_name, names, labels)
    return result


def cache_key(labels_by_split, image_size):
    """Changes when a label file changes (count or content) or the release is read from elsewhere."""
    digest = hashlib.sha1()
    for folder, label_path, names, labels in labels_by_split.values():
        digest.update(cache.source_fingerprint([folder, label_path]).encode())
        digest.update("\n".join(names).encode())
        digest.update(labels.tobytes())
    counts = "+".join(str(len(entry[2])) for entry in labels_by_split.values())
    return f"mnist_m_original_{counts}_{digest.hexdigest()[:10]}_{image_size}px"


def load_mnist_m_original(data_dir=None, image_size=32, cache_dir=None):
    """The original release as a Domain named "mnist_m", resized to `image_size` (cached)."""
    labels_by_split = read_labels(data_dir)

    def build():
        arrays = {}
        for split, (folder, label_path, names, labels) in labels_by_split.items():
            check_split(folder, label_path, names)
            arrays[f"x_{split}"] = images.resize_uint8(read_pngs(folder, names), image_size)
            arrays[f"y_{split}"] = labels
        return arrays

    arrays = cache.cached_arrays(cache_key(labels_by_split, image_size), build, cache_dir)
    return Domain("mnist_m", **arrays, class_names=DIGIT_CLASS_NAMES)
