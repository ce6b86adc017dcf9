"""`load_domain(spec)`: one entry point for every kind of domain."""

import pathlib

import numpy as np

from kerasda.data import folders, mnist, mnist_m, mnist_m_original, paths, svhn, uci_digits, usps
from kerasda.data.domain import Domain
from kerasda.errors import FlagError

SPLITS = ("standard", "shared_80_20")
DOMAIN_NAMES = ("mnist", "mnist_m", "mnist_m_original", "mnist_m_synth", "uci_digits", "svhn", "usps")
PATH_DOMAINS = ("folder:<path>", "npz:<path>")


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


def check_spec(spec, flag="--source"):
    """Raise a FlagError unless `spec` names a domain; a folder:/npz: path must exist. Reads no data."""
    known = ", ".join(DOMAIN_NAMES + PATH_DOMAINS)
    if not isinstance(spec, str) or not spec:
        raise FlagError(f"{flag} is empty; expected one of {known}.")
    for prefix, kind in (("folder:", "a folder with one sub-folder per class"), ("npz:", "an .npz file")):
        if spec.startswith(prefix):
            location = spec[len(prefix) :]
            if not location:
                raise FlagError(f"{flag}={spec} names no path; expected {prefix}<path to {kind}>.")
            path = pathlib.Path(location).expanduser()
            if not path.exists():
                raise paths.MissingDataError(f"{flag}={spec}: {path} does not exist; expected {kind}.")
            if prefix == "npz:":
                folders.check_npz(path)  # a damaged file or unknown arrays fail now, not after set-up
            elif not path.is_dir():
                raise FlagError(f"{flag}={spec}: {path} is a file; expected {kind}.")
            return
    if spec not in DOMAIN_NAMES and spec != "mnistm":
        raise FlagError(f"{flag}={spec} is not a known domain; expected one of {known}.")


def load_domain(spec, data_dir=None, image_size=32, seed=0, split="standard", download=False, cache_dir=None):
    """Load a domain by name.

    Args:
        spec: one of DOMAIN_NAMES, "folder:<path>" (one sub-folder per class,
            or train/ and test/ trees of them) or "npz:<path>" (arrays x, y).
            "mnist_m" is the original release when <data_dir>/mnist_m/ exists,
            else the synthesis (with a warning); "mnist_m_original" and
            "mnist_m_synth" choose one explicitly (see docs/data.md).
        data_dir: where datasets live (default $KERASDA_DATA_DIR, ~/kerasda_data).
        image_size: images are resized to image_size x image_size x 3.
        seed: MNIST-M synthesis seed and the seed of random splits (not of
            uci_digits' fixed split).
        split: "standard" (the dataset's own train/test) or "shared_80_20".
        download: allow TFDS to download when local files are missing.
    """
    if split not in SPLITS:
        raise FlagError(f"--split={split}: expected one of {', '.join(SPLITS)}.")
    check_spec(spec, "domain")
    if spec == "mnist":
        domain = mnist.load_mnist(data_dir, image_size, download, cache_dir)
    elif spec in ("mnist_m", "mnistm"):
        domain = mnist_m.load_mnist_m(data_dir, image_size, seed, download, cache_dir)
    elif spec == "mnist_m_original":
        domain = mnist_m_original.load_mnist_m_original(data_dir, image_size, cache_dir)
    elif spec == "mnist_m_synth":
        domain = mnist_m.load_mnist_m_synth(data_dir, image_size, seed, download, cache_dir)
    elif spec == "uci_digits":
        domain = uci_digits.load_uci_digits(image_size)
    elif spec == "svhn":
        domain = svhn.load_svhn(data_dir, image_size, cache_dir)
    elif spec == "usps":
        domain = usps.load_usps(data_dir, image_size, cache_dir)
    elif spec.startswith("folder:"):
        domain = folders.load_image_folder(spec[len("folder:") :], image_size, seed=seed)
    elif spec.startswith("npz:"):
        domain = folders.load_npz(spec[len("npz:") :], image_size, seed=seed)
    else:
        raise AssertionError(f"check_spec let {spec!r} through")
    if split == "shared_80_20":
        domain = shared_index_split(domain, seed)
    return domain
