"""`load_domain(spec)`: one entry point for every kind of domain."""

import numpy as np

from kerasda.data import folders, mnist, mnist_m
from kerasda.data.domain import Domain

SPLITS = ("standard", "shared_80_20")


def shared_index_split(domain, seed=0, train_fraction=0.8):
    """Re-split train+test 80/20 with indices shared across domains.

    MNIST and MNIST-M are index-aligned, so the same seed keeps source image i
    and target image i together on the same side (for side-by-side figures).
    """
    x = np.concatenate([domain.x_train, domain.x_test])
    y = np.concatenate([domain.__dict__["y_train"], domain.y_test])
    order = np.random.default_rng(seed).permutation(len(x))
    n_train = int(len(x) * train_fraction)
    train, test = order[:n_train], order[n_train:]
    return Domain(domain.name, x[train], y[train], x[test], y[test], domain.class_names)


def load_domain(spec, data_dir=None, image_size=32, seed=0, split="standard", download=False, cache_dir=None):
    """Load a domain by name.

    Args:
        spec: "mnist", "mnist_m", "folder:<path>" (one sub-folder per class, or
            train/ and test/ trees of them) or "npz:<path>" (arrays x, y).
        data_dir: where datasets live (default $KERASDA_DATA_DIR, ~/kerasda_data).
        image_size: images are resized to image_size x image_size x 3.
        seed: MNIST-M synthesis seed and the seed of random splits.
        split: "standard" (the dataset's own train/test) or "shared_80_20".
        download: allow TFDS to download when local files are missing.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if spec == "mnist":
        domain = mnist.load_mnist(data_dir, image_size, download, cache_dir)
    elif spec in ("mnist_m", "mnistm"):
        domain = mnist_m.load_mnist_m(data_dir, image_size, seed, download, cache_dir)
    elif spec.startswith("folder:"):
        domain = folders.load_image_folder(spec[len("folder:") :], image_size, seed=seed)
    elif spec.startswith("npz:"):
        domain = folders.load_npz(spec[len("npz:") :], image_size, seed=seed)
    else:
        raise ValueError(
            f"Unknown domain {spec!r}: use mnist, mnist_m, folder:<path> or npz:<path>."
        )
    if split == "shared_80_20":
        domain = shared_index_split(domain, seed)
    return domain
