"""Fetch, verify and unpack the public datasets into the `<data_dir>` layout the loaders read.

Each `DatasetSpec` records where a dataset comes from (official URL first, then
mirrors), the checksum of every file, and how its archive becomes the layout
that `kerasda.data` reads (README.md, "Data"):

```
<data_dir>/downloads/<file>           verified archives (the cache: a second run never re-downloads)
<data_dir>/mnist/*-ubyte.gz           MNIST (4 gzipped IDX files, kept as downloaded)
<data_dir>/bsds500/{train,val,test}/*.jpg   the 500 BSDS500 photos out of BSR_bsds500.tgz
<data_dir>/svhn/{train,test}_32x32.mat      SVHN, cropped digits
<data_dir>/kvasir/<class>/*.jpg             Kvasir v2 class folders out of kvasir-dataset-v2.zip
<data_dir>/usps/usps.bz2  usps.t.bz2        USPS (libsvm format, read compressed by kerasda.data.usps)
```

Safety rules, in the order they apply:
- Files are downloaded with `keras.utils.get_file` (progress bar) to `<file>.part`;
  Keras deletes the part file when the transfer fails, and a part file left by
  a killed process is never trusted (the next run downloads afresh).
- A finished download is checked against its recorded sha256 (md5 where the
  publisher only gives md5) before it is renamed to `<file>`; on a mismatch it
  is deleted and `ChecksumError` says what was expected, what came, and where
  to put a good copy. A file without a published checksum is only accepted
  with `allow_unverified=True`, and its sha256 is logged.
- Archives are unpacked into a hidden staging folder next to the destination
  and moved into place file by file; a marker file written last records that
  the dataset is complete.
- Network failures are retried (`retries` per URL, then the next mirror);
  after that `DownloadError` says exactly which file to place where.

Nothing here runs unless asked: `python -m apps.prepare_data --datasets=...`,
or the apps' `--download` flag (off by default; see README.md, "Data").
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import shutil
import tarfile
import time
import zipfile

import keras
from absl import logging

from kerasda import errors
from kerasda.data import paths

DOWNLOADS_SUBDIR = "downloads"
MARKER = ".kerasda_prepared.json"


class DownloadError(paths.MissingDataError):
    """A file could not be fetched from any URL; the message says which file to place where."""


class ChecksumError(errors.DataError):
    """A downloaded or placed file does not match its recorded checksum."""


class UnverifiedFileError(errors.DataError):
    """A file has no published checksum and `allow_unverified` was not given."""


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One file to download.

    Attributes:
        name: file name in `<data_dir>/downloads/`.
        urls: the official URL first, then mirrors serving identical bytes.
        sha256: hex digest, or None when the publisher gives none.
        md5: hex digest, used only when no sha256 is recorded (BSDS500, USPS
            publish md5 only through their long-standing mirrors' tooling).
        size: bytes, for messages and a quick size check before hashing.
    """

    name: str
    urls: tuple
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    @property
    def checksum(self):
        """("sha256" | "md5", hex digest) or None."""
        if self.sha256:
            return "sha256", self.sha256.lower()
        if self.md5:
            return "md5", self.md5.lower()
        return None


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its files, how they are unpacked and how to tell that it is in place.

    Attributes:
        name: the `--datasets` name.
        title: human name for messages.
        subdir: folder under `<data_dir>` that the loaders read.
        files: the RemoteFiles to download.
        unpack: fn(archive paths, staging folder) that writes the loader layout into staging.
        expected: {glob under subdir: minimum count}; all met = already prepared
            (so a hand-prepared folder such as ../shared/data counts too).
        layout: one line describing the unpacked layout, for messages.
        homepage: where the dataset and its licence are described.
    """

    name: str
    title: str
    subdir: str
    files: tuple
    unpack: object
    expected: dict
    layout: str
    homepage: str


# ---------------------------------------------------------------------------
# Unpackers: each writes only plain files named after the archive members'
# base names, so an archive cannot write outside the staging folder.


def copy_files(archives, staging):
    """Files used as downloaded (MNIST's gzipped IDX, SVHN's .mat, USPS's .bz2)."""
    for archive in archives:
        shutil.copyfile(archive, staging / archive.name)


def unpack_bsds500(archives, staging):
    """`BSR/BSDS500/data/images/<split>/*.jpg` -> `<split>/*.jpg` (the .mat ground truth is not needed)."""
    (archive,) = archives
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = pathlib.PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) < 2 or parts[-3:-2] != ("images",):
                continue
            split, name = parts[-2], parts[-1]
            if split in ("train", "val", "test") and name.lower().endswith(".jpg"):
                (staging / split).mkdir(exist_ok=True)
                with tar.extractfile(member) as source, open(staging / split / name, "wb") as target:
                    shutil.copyfileobj(source, target)


def unpack_kvasir(archives, staging):
    """`kvasir-dataset-v2/<class>/*.jpg` -> `<class>/*.jpg` (every class folder of the archive)."""
    (archive,) = archives
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            parts = pathlib.PurePosixPath(member.filename).parts
            if member.is_dir() or len(parts) < 2 or parts[0] == "__MACOSX":
                continue
            class_name, name = parts[-2], parts[-1]
            if name.startswith(".") or not name.lower().endswith((".jpg", ".jpeg", ".png")):
                continue
            (staging / class_name).mkdir(exist_ok=True)
            with zipped.open(member) as source, open(staging / class_name / name, "wb") as target:
                shutil.copyfileobj(source, target)


# ---------------------------------------------------------------------------
# The datasets. MNIST's and SVHN's sha256 are the ones TensorFlow Datasets
# registers for the same URLs; BSDS500's and USPS's md5 are the digests the
# usual dataset libraries check (tensorpack / torchvision); Kvasir publishes none.

_MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


def _mnist_file(name, sha256, size):
    return RemoteFile(name, tuple(base + name for base in _MNIST_MIRRORS), sha256=sha256, size=size)


SPECS = {
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        subdir="mnist",
        files=(
            _mnist_file(
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                9912422,
            ),
            _mnist_file(
                "train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881
            ),
            _mnist_file(
                "t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877
            ),
            _mnist_file(
                "t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542
            ),
        ),
        unpack=copy_files,
        expected={
            "train-images-idx3-ubyte*": 1,
            "train-labels-idx1-ubyte*": 1,
            "t10k-images-idx3-ubyte*": 1,
            "t10k-labels-idx1-ubyte*": 1,
        },
        layout="<data_dir>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
        homepage="http://yann.lecun.com/exdb/mnist/",
    ),
    "bsds500": DatasetSpec(
        name="bsds500",
        title="BSDS500",
        subdir="bsds500",
        files=(
            RemoteFile(
                "BSR_bsds500.tgz",
                (
                    "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz",
                    "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/BSR_bsds500.tgz",
                ),
                md5="0b17383ff0b21fe43d2f28e624203169",
                size=70763455,
            ),
        ),
        unpack=unpack_bsds500,
        expected={"train/*.jpg": 200, "val/*.jpg": 100, "test/*.jpg": 200},
        layout="<data_dir>/bsds500/{train,val,test}/*.jpg (200 / 100 / 200 photos)",
        homepage="https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html",
    ),
    "svhn": DatasetSpec(
        name="svhn",
        title="SVHN",
        subdir="svhn",
        files=(
            RemoteFile(
                "train_32x32.mat",
                ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat",),
                sha256="435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8",
                size=182040794,
            ),
            RemoteFile(
                "test_32x32.mat",
                ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat",),
                sha256="cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b",
                size=64275384,
            ),
        ),
        unpack=copy_files,
        expected={"train_32x32.mat": 1, "test_32x32.mat": 1},
        layout="<data_dir>/svhn/train_32x32.mat, test_32x32.mat",
        homepage="http://ufldl.stanford.edu/housenumbers/",
    ),
    "kvasir": DatasetSpec(
        name="kvasir",
        title="Kvasir v2",
        subdir="kvasir",
        files=(
            RemoteFile(
                "kvasir-dataset-v2.zip",
                ("https://datasets.simula.no/downloads/kvasir/kvasir-dataset-v2.zip",),
            ),
        ),
        unpack=unpack_kvasir,
        expected={"polyps/*": 1, "normal-cecum/*": 1},
        layout="<data_dir>/kvasir/<class>/*.jpg (normal-cecum, normal-pylorus, normal-z-line, polyps, ...)",
        homepage="https://datasets.simula.no/kvasir/",
    ),
    "usps": DatasetSpec(
        name="usps",
        title="USPS",
        subdir="usps",
        files=(
            RemoteFile(
                "usps.bz2",
                ("https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/usps.bz2",),
                md5="ec16c51db3855ca6c91edd34d0e9b197",
            ),
            RemoteFile(
                "usps.t.bz2",
                ("https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/usps.t.bz2",),
                md5="8ea070ee2aca1ac39742fdd1ef5ed118",
            ),
        ),
        unpack=copy_files,
        expected={"usps.bz2": 1, "usps.t.bz2": 1},
        layout="<data_dir>/usps/usps.bz2, usps.t.bz2 (libsvm format, kept compressed)",
        homepage="https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass.html#usps",
    ),
}

# What each domain / VAE dataset name needs on disk (MNIST-M is synthesised from
# MNIST + BSDS500 when its original release is absent: that release has no live URL).
REQUIREMENTS = {
    "mnist": ("mnist",),
    "mnist_m": ("mnist", "bsds500"),
    "mnist_m_synth": ("mnist", "bsds500"),
    "svhn": ("svhn",),
    "kvasir": ("kvasir",),
    "bsds500_standin": ("bsds500",),
    "usps": ("usps",),
}


def file_digest(path, algorithm="sha256", chunk=1 << 20):
    """Hex digest of a file, read in chunks (archives are up to a few GB)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def mismatch(path, remote):
    """None if `path` matches `remote`'s checksum (and size), else a sentence saying how it differs."""
    size = os.path.getsize(path)
    if remote.size is not None and size != remote.size:
        return f"expected {remote.size} bytes, got {size} bytes"
    if remote.checksum is None:
        return None
    algorithm, expected = remote.checksum
    actual = file_digest(path, algorithm)
    if actual != expected:
        return f"expected {algorithm} {expected}, got {actual} ({size} bytes)"
    return None


def downloads_dir(data_dir=None, download_dir=None):
    return pathlib.Path(download_dir) if download_dir else paths.resolve_data_dir(data_dir) / DOWNLOADS_SUBDIR


def is_prepared(spec, data_dir=None):
    """True when `<data_dir>/<subdir>` holds the marker or every expected file (hand-prepared folders count)."""
    folder = paths.resolve_data_dir(data_dir) / spec.subdir
    if (folder / MARKER).exists():
        return True
    return all(len(list(folder.glob(pattern))) >= count for pattern, count in spec.expected.items())


def placement_hint(spec, remote, data_dir=None, download_dir=None):
    """Exactly which file(s) to place where, for messages (offline machines).

    Names `remote` first, then every other file of `spec` not yet in the
    downloads folder, so one message covers the whole dataset.
    """
    folder = downloads_dir(data_dir, download_dir)
    root = paths.resolve_data_dir(data_dir)
    wanted = [remote] + [f for f in spec.files if f is not remote and not (folder / f.name).exists()]

    def one(f):
        check = f" ({f.checksum[0]} {f.checksum[1]})" if f.checksum else ""
        return f"{f.urls[0]}{check} at {folder / f.name}"

    return (
        f"Without network access, download on another machine and place {'; '.join(one(f) for f in wanted)}; "
        f"then run `python -m apps.prepare_data --datasets={spec.name} --data_dir={root}`, which verifies "
        f"and unpacks into {root / spec.subdir}/. Or place the unpacked files yourself: "
        f"{spec.layout.replace('<data_dir>', str(root))}."
    )


def fetch(spec, remote, data_dir=None, download_dir=None, retries=3, backoff_seconds=2.0, allow_unverified=False):
    """Return the path of `remote` in the downloads folder, verified; download it if needed.

    A verified file already there is used as is (the cache). A file there that
    fails its checksum (e.g. placed by hand) is renamed to `<name>.rejected`
    and downloaded again.
    """
    folder = downloads_dir(data_dir, download_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / remote.name
    if remote.checksum is None and not allow_unverified:
        raise UnverifiedFileError(
            f"{spec.title} publishes no checksum for {remote.name}, so kerasda cannot verify "
            f"{remote.urls[0]}. Re-run with --allow_unverified to accept what that URL serves (its "
            f"sha256 is printed), or place a copy you trust at {target}."
        )
    if target.exists():
        problem = mismatch(target, remote)
        if problem is None:
            logging.info("Using the cached %s (checksum verified).", target)
            return target
        rejected = target.with_name(target.name + ".rejected")
        os.replace(target, rejected)
        logging.warning(
            "%s does not match its checksum (%s); moved to %s and downloading it again.", target, problem, rejected
        )

    part = folder / (remote.name + ".part")
    failures = []
    for url in remote.urls:
        for attempt in range(1, retries + 1):
            try:
                downloaded = pathlib.Path(
                    keras.utils.get_file(
                        fname=part.name, origin=url, cache_dir=str(folder), cache_subdir="", force_download=True
                    )
                )
            except Exception as error:  # get_file wraps HTTP / URL / short-read errors in Exception
                failures.append(f"{url} (try {attempt}): {error}")
                logging.warning("Download of %s failed (try %d of %d): %s", url, attempt, retries, error)
                part.unlink(missing_ok=True)
                if attempt < retries:
                    time.sleep(backoff_seconds * 2 ** (attempt - 1))
                continue
            if downloaded != part:  # get_file falls back to /tmp when the folder is not writable
                shutil.move(str(downloaded), part)
            problem = mismatch(part, remote)
            if problem is not None:
                part.unlink()
                raise ChecksumError(
                    f"Checksum mismatch for {spec.title} file {remote.name} downloaded from {url}: {problem}. "
                    f"The download was deleted and nothing was unpacked. The server may have changed the "
                    f"file or the transfer was corrupted: retry, or fetch {url} yourself, compare it with "
                    f"`sha256sum`/`md5sum`, and place a matching copy at {target}."
                )
            if remote.checksum is None:
                logging.warning(
                    "%s has no published checksum; accepted unverified, sha256 %s.", remote.name, file_digest(part)
                )
            os.replace(part, target)
            return target
    raise DownloadError(
        f"Could not download {spec.title} file {remote.name} from any of {', '.join(remote.urls)} "
        f"(last error: {failures[-1] if failures else 'none'}). " + placement_hint(spec, remote, data_dir, download_dir)
    )


def _install(staging, destination):
    """Move every staged file into `destination`, replacing files of the same name."""
    for source in sorted(p for p in staging.rglob("*") if p.is_file()):
        target = destination / source.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)


def prepare(name_or_spec, data_dir=None, download_dir=None, force=False, **fetch_kwargs):
    """Make one dataset ready under `<data_dir>`: fetch (or reuse) its files, verify, unpack.

    Args:
        name_or_spec: a key of SPECS or a DatasetSpec.
        data_dir: the data root (default $KERASDA_DATA_DIR, then ~/kerasda_data).
        download_dir: where verified archives are kept (default `<data_dir>/downloads`).
        force: unpack again even when the dataset looks prepared.
        **fetch_kwargs: retries, backoff_seconds, allow_unverified (see `fetch`).

    Returns:
        The dataset's folder, `<data_dir>/<subdir>`.
    """
    spec = SPECS[name_or_spec] if isinstance(name_or_spec, str) else name_or_spec
    root = paths.resolve_data_dir(data_dir)
    destination = root / spec.subdir
    if not force and is_prepared(spec, root):
        logging.info("%s is already in place at %s.", spec.title, destination)
        return destination
    archives = [fetch(spec, remote, root, download_dir, **fetch_kwargs) for remote in spec.files]
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{spec.subdir}.unpacking-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        spec.unpack(archives, staging)
        _install(staging, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not is_prepared(spec, root):
        raise ChecksumError(
            f"{spec.title} was unpacked into {destination} but does not hold the expected files "
            f"({spec.layout}); the archive's layout may have changed."
        )
    record = {
        "dataset": spec.name,
        "files": {
            remote.name: dict(zip(("algorithm", "digest"), remote.checksum or ("none", None))) for remote in spec.files
        },
        "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (destination / MARKER).write_text(json.dumps(record, indent=2))  # written last: the dataset is complete
    logging.info("%s is ready at %s.", spec.title, destination)
    return destination


def select(names):
    """`--datasets` values -> SPECS names ("all" = every dataset); unknown names are a FlagError."""
    names = list(SPECS) if list(names) == ["all"] else list(names)
    unknown = [name for name in names if name not in SPECS]
    if unknown:
        raise errors.FlagError(f"Unknown dataset(s) {unknown}; choose from {', '.join(SPECS)} or 'all'.")
    return names


def datasets_for(spec, data_dir=None):
    """The SPECS names that loading domain / dataset `spec` needs (empty for folder:, npz:, uci_digits...)."""
    name = str(spec).split(":", 1)[0]
    if name == "mnist_m":
        from kerasda.data import mnist_m_original

        if mnist_m_original.is_present(data_dir):
            return ()
    return REQUIREMENTS.get(name, ())


def ensure(spec, data_dir=None, **kwargs):
    """Prepare whatever loading `spec` needs and is missing (the apps' `--download`)."""
    for name in datasets_for(spec, data_dir):
        if not is_prepared(SPECS[name], data_dir):
            prepare(name, data_dir, **kwargs)
