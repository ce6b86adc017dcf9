"""Kvasir (and any folder of normal / anomalous class folders) for the VAE.

Kvasir (Pogorelov et al., 2017) ships one folder per class of endoscopy frames.
EndoVAE treats `normal-z-line`, `normal-pylorus` and `normal-cecum` as normal
anatomy and `polyps` as the anomaly: the VAE is trained on normal images and
scored on how badly it reconstructs polyps.

The loader reads `<data_dir>/kvasir/<class>/*` (or any root of class folders),
converts every file to RGB and resizes it to 96x96 (bilinear), skipping files
that cannot be decoded with one counted warning. Images are kept as uint8 and
scaled to [0, 1] by the pipeline (`value_range=(0, 1)`). Each class is split
deterministically into train / validation / held-out (test), stratified by
class (`sklearn.model_selection.train_test_split(stratify=...)`, seeded);
anomalous images enter training only with `train_on="all"`.

Listed classes whose folders are missing are dropped with one warning that
names them, as long as one normal and one anomalous class remain (the offline
HyperKvasir copy has only normal-cecum and polyps); otherwise loading fails
with one MissingDataError naming every expected folder.

The ScopeGuide confound: the source of the offline Kvasir images painted the
ScopeGuide position box in the lower-left corner black in ~97% of cecum and
~55% of polyp images, so a detector can score by finding a black corner.
`neutralise_scope_guide` paints that box black in *every* image (on by default
for Kvasir through `mask_box`), so the region carries no class information.

Kvasir is not redistributable here, so `materialize_bsds500_standin` builds an
honest stand-in from BSDS500 photos (see its docstring): real photographs as
"normal", photographs with a synthetic polyp-like blob as "anomaly".
"""

import dataclasses
import functools
import hashlib
import os
import pathlib
import shutil

import numpy as np
from absl import logging
from sklearn import model_selection

from kerasda.data import cache, folders, paths
from kerasda.errors import DataError, FlagError

NORMAL_CLASSES = ("normal-z-line", "normal-pylorus", "normal-cecum")
ANOMALY_CLASSES = ("polyps",)
TRAIN_ON = ("normal", "all")
IMAGE_SIZE = 96
KVASIR_SUBDIR = "kvasir"
KVASIR_URL = "https://datasets.simula.no/kvasir/"

STANDIN_NORMAL_CLASS = "bsds-normal"
STANDIN_ANOMALY_CLASS = "bsds-blob"
STANDIN_VERSION = 1  # bump when the stand-in's content changes
LOADER_VERSION = 2  # bump when the cached arrays' layout changes
# The ScopeGuide box as (top, right) fractions of the image: rows [top * H, H) and
# columns [0, right * W). Measured on the offline Kvasir images resized to 192x192:
# the painted box spans rows 0.68-1.0 and columns 0-0.34; the margin covers its soft edge.
SCOPE_GUIDE_BOX = (0.65, 0.36)


def neutralise_scope_guide(x, box=SCOPE_GUIDE_BOX, value=0):
    """A copy of uint8 images [N, H, W, C] with the lower-left `box` set to `value` in every image.

    Painting the box the same way everywhere removes what the source's
    preprocessing made class-dependent (see the module docstring); every other
    pixel is left untouched.
    """
    top, right = box
    if not (0.0 <= top < 1.0 and 0.0 < right <= 1.0):
        raise ValueError(f"box must be (top in [0, 1), right in (0, 1]), got {box}.")
    x = np.array(x, copy=True)
    height, width = x.shape[1:3]
    x[:, int(np.floor(top * height)) :, : int(np.ceil(right * width))] = value
    return x


@dataclasses.dataclass
class AnomalyImages:
    """Normal and anomalous images, each split into train / validation / held-out (uint8 [N, H, W, 3]).

    `x_train` is what the VAE trains on: the normal train split, plus the
    anomalous train split only when `train_on == "all"`. Both settings are
    evaluated on the same held-out (test) images, which no setting trains on;
    the validation images (possibly empty) are for choices such as the anomaly
    score, so the held-out images stay untouched by them.
    """

    name: str
    x_normal_train: np.ndarray
    x_normal_heldout: np.ndarray
    x_anomaly_train: np.ndarray
    x_anomaly_heldout: np.ndarray
    normal_classes: tuple
    anomaly_classes: tuple
    train_on: str = "normal"
    skipped_files: int = 0
    x_normal_validation: np.ndarray = None
    x_anomaly_validation: np.ndarray = None
    missing_classes: tuple = ()
    mask_box: tuple = None

    def __post_init__(self):
        if self.train_on not in TRAIN_ON:
            raise FlagError(f"--train_on={self.train_on!r}: expected one of {', '.join(TRAIN_ON)}.")
        empty = self.x_normal_train[:0]
        if self.x_normal_validation is None:
            self.x_normal_validation = empty
        if self.x_anomaly_validation is None:
            self.x_anomaly_validation = empty

    @functools.cached_property
    def x_train(self):
        if self.train_on == "all":
            return np.concatenate([self.x_normal_train, self.x_anomaly_train])
        return self.x_normal_train

    @property
    def image_shape(self):
        return tuple(self.x_normal_train.shape[1:])

    def summary(self):
        """Counts per split, for logs and metrics.json."""
        return {
            "dataset": self.name,
            "train_on": self.train_on,
            "normal_classes": list(self.normal_classes),
            "anomaly_classes": list(self.anomaly_classes),
            "num_train": int(len(self.x_train)),
            "num_normal_train": int(len(self.x_normal_train)),
            "num_normal_heldout": int(len(self.x_normal_heldout)),
            "num_anomaly_train": int(len(self.x_anomaly_train)),
            "num_anomaly_heldout": int(len(self.x_anomaly_heldout)),
            "num_normal_validation": int(len(self.x_normal_validation)),
            "num_anomaly_validation": int(len(self.x_anomaly_validation)),
            "missing_classes": list(self.missing_classes),
            "mask_box": list(self.mask_box) if self.mask_box else None,
            "skipped_files": int(self.skipped_files),
        }


def _check_classes(normal_classes, anomaly_classes):
    normal_classes, anomaly_classes = tuple(normal_classes), tuple(anomaly_classes)
    if not normal_classes or not anomaly_classes:
        raise FlagError(
            f"--normal_classes={','.join(normal_classes)} --anomaly_classes={','.join(anomaly_classes)}: "
            "expected at least one class folder of each kind; name them both (comma-separated)."
        )
    overlap = set(normal_classes) & set(anomaly_classes)
    if overlap:
        raise FlagError(
            f"--normal_classes and --anomaly_classes both list {', '.join(sorted(overlap))}; expected each "
            "class folder in one of them only: remove it from one."
        )
    return normal_classes, anomaly_classes


def resolve_class_root(root, normal_classes, anomaly_classes, dataset="Kvasir", hint=""):
    """The class root under `root` and the listed classes present there.

    Picks `root` or one of its sub-folders (an archive unzipped as-is), the one
    holding the most listed class folders. Listed folders that are missing are
    dropped with one warning naming them, as long as one normal and one
    anomalous class remain; otherwise raises one MissingDataError naming every
    expected folder.

    Returns:
        (class_root, normal classes present, anomaly classes present, missing classes).
    """
    class_names = tuple(normal_classes) + tuple(anomaly_classes)
    root = pathlib.Path(root).expanduser()
    candidates = [root]
    if root.is_dir():
        candidates += sorted(p for p in root.iterdir() if p.is_dir())
    best = max(candidates, key=lambda c: sum((c / name).is_dir() for name in class_names))
    normal = tuple(name for name in normal_classes if (best / name).is_dir())
    anomaly = tuple(name for name in anomaly_classes if (best / name).is_dir())
    if not normal or not anomaly:
        missing = [name for name in class_names if not (root / name).is_dir()]
        raise paths.MissingDataError(
            f"{dataset} not found: expected class folders {', '.join(class_names)} under {root} "
            f"(missing: {', '.join(missing)}; at least one normal and one anomaly class are "
            f"needed).{hint}"
        )
    missing = tuple(name for name in class_names if name not in normal + anomaly)
    if missing:
        logging.warning(
            "%s: listed class folder(s) %s not found under %s; using the %d present: %s.",
            dataset,
            ", ".join(missing),
            best,
            len(normal + anomaly),
            ", ".join(normal + anomaly),
        )
    return best, normal, anomaly, missing


def _list_dir(folder):
    """The sorted entries of `folder`; an unreadable folder is a DataError naming it."""
    try:
        return sorted(folder.iterdir())
    except OSError as error:
        raise DataError(
            f"Cannot read class folder {folder} ({error.strerror or error}); check its permissions."
        ) from error


def _listing_signature(class_root, class_names):
    """A hash of file names, sizes and mtimes: the cache key changes when the folders do."""
    digest = hashlib.sha256(str(class_root.resolve()).encode())
    for name in class_names:
        for path in _list_dir(class_root / name):
            if path.is_file():
                stat = path.stat()
                digest.update(f"{name}/{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def read_classes(class_root, class_names, image_size=IMAGE_SIZE):
    """Read `class_root/<name>/*` for each name -> {"x", "y", "skipped"}.

    Every regular file is tried; one that PIL cannot decode (corrupt, truncated
    or not an image) is skipped and its name listed in "skipped", so one bad
    frame does not stop a run on thousands.
    """
    xs, ys, skipped = [], [], []
    for label, name in enumerate(class_names):
        for path in _list_dir(class_root / name):
            if not path.is_file():
                continue
            try:
                xs.append(folders.read_image_rgb(path, image_size))
                ys.append(label)
            except Exception:  # PIL raises many types for bad files.
                skipped.append(f"{name}/{path.name}")
    found = set(ys)
    empty = [n for i, n in enumerate(class_names) if i not in found]
    if empty:
        raise paths.MissingDataError(
            f"No readable images in class folder(s) {', '.join(empty)} under {class_root}; add images "
            "there, or leave the class out of --normal_classes / --anomaly_classes."
        )
    return {
        "x": np.stack(xs),
        "y": np.asarray(ys, np.int64),
        "skipped": np.asarray(skipped, dtype=str),
    }


def check_fractions(heldout_fraction, validation_fraction=0.0):
    """Raise a FlagError naming the flag unless the split fractions can work."""
    if not 0.0 < heldout_fraction < 1.0:
        raise FlagError(f"--heldout_fraction={heldout_fraction}: expected a number in (0, 1).")
    if not 0.0 <= validation_fraction < 1.0:
        raise FlagError(f"--validation_fraction={validation_fraction}: expected a number in [0, 1) (0: none).")
    if validation_fraction + heldout_fraction >= 1.0:
        raise FlagError(
            f"--heldout_fraction={heldout_fraction} --validation_fraction={validation_fraction}: the sum must "
            "be < 1 (training needs the rest); lower one of them."
        )


def split_by_class(labels, heldout_fraction, validation_fraction, seed, class_names=None, where="the data"):
    """(train, validation, held-out) index arrays (sorted), stratified by `labels`.

    `sklearn.model_selection.train_test_split(stratify=labels)` holds out
    `heldout_fraction` of the images (rounded up, in every class's proportion),
    then takes `round(len(labels) * validation_fraction)` of the rest, also
    stratified, as validation. The held-out split does not depend on
    `validation_fraction`, and both are the same for the same labels and seed.
    A validation split too small to give every class an image is skipped (empty,
    with a warning).

    Args:
        labels: int class id per image.
        heldout_fraction, validation_fraction: fractions of all images.
        seed: int >= 0.
        class_names: names of the class ids, for messages.
        where: the folder, for messages.
    """
    check_fractions(heldout_fraction, validation_fraction)
    labels = np.asarray(labels)
    indices = np.arange(len(labels))
    ids, counts = np.unique(labels, return_counts=True)
    name = (lambda i: class_names[i]) if class_names is not None else str
    small = [f"{name(int(i))} ({c})" for i, c in zip(ids, counts) if c < 2]
    if small:
        raise DataError(
            f"Class folder(s) {', '.join(small)} under {where} hold fewer than 2 readable images; expected at "
            "least 2 per class (one to train on, one held out). Add images or leave the class out."
        )
    num_heldout = int(np.ceil(heldout_fraction * len(labels)))
    if num_heldout < len(ids) or len(labels) - num_heldout < len(ids):
        raise FlagError(
            f"--heldout_fraction={heldout_fraction} holds out {num_heldout} of the {len(labels)} images under "
            f"{where}; expected at least one image of each of the {len(ids)} classes in both the held-out and "
            "the training part: change --heldout_fraction or add images."
        )
    train, heldout = model_selection.train_test_split(
        indices, test_size=heldout_fraction, stratify=labels, random_state=seed
    )
    validation = train[:0]
    num_validation = int(round(len(labels) * validation_fraction))
    if num_validation > 0:
        if num_validation >= len(ids) and len(train) - num_validation >= len(ids):
            train, validation = model_selection.train_test_split(
                train, test_size=num_validation, stratify=labels[train], random_state=seed + 1
            )
        else:
            logging.warning(
                "--validation_fraction=%g gives %d of %d images under %s, fewer than one per class (%d "
                "classes): no validation split.",
                validation_fraction,
                num_validation,
                len(labels),
                where,
                len(ids),
            )
    return np.sort(train), np.sort(validation), np.sort(heldout)


def load_anomaly_folders(
    root,
    normal_classes=NORMAL_CLASSES,
    anomaly_classes=ANOMALY_CLASSES,
    image_size=IMAGE_SIZE,
    heldout_fraction=0.2,
    train_on="normal",
    seed=0,
    cache_dir=None,
    use_cache=True,
    name=None,
    missing_hint="",
    validation_fraction=0.0,
    mask_box=None,
):
    """Any root of class folders as AnomalyImages (see the module docstring).

    Args:
        root: folder holding one sub-folder per class (or one level above it).
        normal_classes, anomaly_classes: class folder names of each kind; missing
            ones are dropped with one warning (see `resolve_class_root`).
        image_size: images are resized to image_size x image_size x 3 (bilinear).
        heldout_fraction: fraction of the images held out from training (the test
            split), stratified by class (see `split_by_class`).
        train_on: "normal" (anomaly detection) or "all" (normal + anomaly train splits).
        seed: seed of the train / validation / held-out split.
        cache_dir, use_cache: decoded arrays are cached as .npz, keyed by the
            folder listing, so a second run skips decoding thousands of JPEGs.
        validation_fraction: fraction of the images moved from train to a
            validation split, stratified by class (0: none); the held-out split does not change.
        mask_box: None, or (top, right) fractions: `neutralise_scope_guide`
            paints that lower-left box black in every image (after the cache,
            which keeps the raw pixels).
    """
    normal_classes, anomaly_classes = _check_classes(normal_classes, anomaly_classes)
    if train_on not in TRAIN_ON:
        raise FlagError(f"--train_on={train_on!r}: expected one of {', '.join(TRAIN_ON)}.")
    check_fractions(heldout_fraction, validation_fraction)
    display_name = "Kvasir" if name == "kvasir" else (name or pathlib.Path(root).name)
    class_root, normal_classes, anomaly_classes, missing = resolve_class_root(
        root, normal_classes, anomaly_classes, display_name, missing_hint
    )
    class_names = normal_classes + anomaly_classes

    def build():
        return read_classes(class_root, class_names, image_size)

    if use_cache:
        key = f"anomaly_folders{LOADER_VERSION}_{_listing_signature(class_root, class_names)}_{image_size}px"
        arrays = cache.cached_arrays(key, build, cache_dir)
    else:
        arrays = build()
    x, y, skipped = arrays["x"], arrays["y"], [str(name) for name in arrays["skipped"]]
    if skipped:  # one warning per load, also when the arrays come from the cache
        logging.warning(
            "Skipped %d unreadable or non-image file(s) under %s (e.g. %s).",
            len(skipped),
            class_root,
            ", ".join(skipped[:3]),
        )
    if mask_box:
        x = neutralise_scope_guide(x, tuple(mask_box))

    splits = split_by_class(y, heldout_fraction, validation_fraction, seed, class_names, class_root)
    is_normal = np.isin(y, [class_names.index(c) for c in normal_classes])
    take = {
        kind: [x[split[mask[split]]] for split in splits]  # train, validation, held-out
        for kind, mask in (("normal", is_normal), ("anomaly", ~is_normal))
    }
    for kind, (train, _, heldout) in take.items():
        if not len(heldout) or (kind == "normal" and not len(train)):
            part, change = ("held-out", "raise") if not len(heldout) else ("training", "lower")
            raise DataError(
                f"The {part} split of {class_root} has no {kind} image ({len(y)} images, "
                f"--heldout_fraction={heldout_fraction}); expected at least one: add {kind} images or {change} "
                "--heldout_fraction."
            )
    images = AnomalyImages(
        name=name or class_root.name,
        x_normal_train=take["normal"][0],
        x_normal_heldout=take["normal"][2],
        x_anomaly_train=take["anomaly"][0],
        x_anomaly_heldout=take["anomaly"][2],
        normal_classes=normal_classes,
        anomaly_classes=anomaly_classes,
        train_on=train_on,
        skipped_files=len(skipped),
        x_normal_validation=take["normal"][1],
        x_anomaly_validation=take["anomaly"][1],
        missing_classes=missing,
        mask_box=tuple(mask_box) if mask_box else None,
    )
    logging.info("Loaded %s", images.summary())
    return images


def load_kvasir(data_dir=None, **kwargs):
    """Kvasir from `<data_dir>/kvasir/` (default data dir: $KERASDA_DATA_DIR); see load_anomaly_folders."""
    root = paths.resolve_data_dir(data_dir) / KVASIR_SUBDIR
    hint = (
        f" Download Kvasir (v1 or v2) from {KVASIR_URL} and unzip it into {root}/, or point "
        f"--data_dir / ${paths.DATA_DIR_ENV} at the folder that holds 'kvasir/'. Without "
        "Kvasir, use --dataset=bsds500_standin."
    )
    return load_anomaly_folders(root, name="kvasir", missing_hint=hint, **kwargs)


# ---------------------------------------------------------------------------
# BSDS500 stand-in.


def _polyp_like_blob(image, rng):
    """Paint one smooth, shaded, pinkish ellipse with a specular highlight onto `image` (float [0, 1])."""
    size_y, size_x = image.shape[:2]
    radius_y, radius_x = rng.uniform(0.11, 0.27, size=2) * np.array([size_y, size_x])
    centre_y = rng.uniform(radius_y, size_y - radius_y)
    centre_x = rng.uniform(radius_x, size_x - radius_x)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:size_y, 0:size_x].astype(np.float64)
    dy, dx = yy - centre_y, xx - centre_x
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / radius_x
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) / radius_y
    r2 = u**2 + v**2
    edge = 2.5 / min(radius_y, radius_x)  # soft boundary about 2.5 px wide
    alpha = np.clip((1.0 - np.sqrt(r2)) / edge, 0.0, 1.0)[..., None]
    colour = np.array([rng.uniform(0.7, 0.9), rng.uniform(0.3, 0.45), rng.uniform(0.3, 0.45)])
    shading = (0.65 + 0.35 * np.clip(1.0 - r2, 0.0, 1.0))[..., None]  # a dome lit from the front
    highlight = np.exp(-((u + 0.35) ** 2 + (v + 0.35) ** 2) / 0.02)[..., None]
    blob = np.clip(colour * shading + 0.6 * highlight, 0.0, 1.0)
    return image * (1.0 - alpha) + blob * alpha


def _random_crops(photo, count, crop, rng):
    height, width = photo.shape[:2]
    for _ in range(count):
        top = int(rng.integers(0, height - crop + 1))
        left = int(rng.integers(0, width - crop + 1))
        yield photo[top : top + crop, left : left + crop]


def _read_photo(path, crop_size):
    """A BSDS500 photo as uint8 RGB; an unreadable or too small one is a DataError naming the file."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            photo = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:  # PIL: truncated, corrupt or not an image
        raise DataError(
            f"{path} cannot be read ({type(error).__name__}: {error}); replace it with the BSDS500 original "
            "or remove it."
        ) from error
    if min(photo.shape[:2]) < crop_size:
        raise DataError(
            f"{path} is {photo.shape[1]}x{photo.shape[0]}; expected a BSDS500 photo of at least "
            f"{crop_size}x{crop_size} (481x321). Replace it with the original."
        )
    return photo


def materialize_bsds500_standin(
    data_dir=None,
    cache_dir=None,
    seed=0,
    crop_size=128,
    normal_crops_per_photo=4,
    anomaly_crops_per_photo=3,
):
    """Write a Kvasir-shaped stand-in built from BSDS500 and return its root folder.

    - `bsds-normal/`: random `crop_size` crops of the 300 BSDS500 train + val photos.
    - `bsds-blob/`: random crops of the 200 BSDS500 *test* photos, each with one
      synthetic polyp-like blob (a shaded pinkish ellipse with a specular
      highlight, 11-27% of the crop in radius).

    Photos never straddle the two classes, and held-out normal crops are as
    unseen as the anomalous ones, so the only systematic difference a
    normal-trained VAE can pick up is the blob. This is a pipeline check on real
    photographs, not a substitute for Kvasir's results. Written once per
    (seed, settings) into the cache dir as PNG files, atomically.
    """
    from PIL import Image

    data_root = paths.resolve_data_dir(data_dir) / "bsds500"
    splits = {"normal": ("train", "val"), "anomaly": ("test",)}
    photo_files = {
        kind: sorted(f for split in subdirs for f in (data_root / split).glob("*.jpg"))
        for kind, subdirs in splits.items()
    }
    if not photo_files["normal"] or not photo_files["anomaly"]:
        raise paths.MissingDataError(
            f"BSDS500 not found: expected JPEG photos in {data_root}/{{train,val,test}}/*.jpg "
            f"(the VAE stand-in is built from them). Point --data_dir or ${paths.DATA_DIR_ENV} "
            "at the folder that holds 'bsds500/'."
        )
    settings = f"s{seed}_c{crop_size}_n{normal_crops_per_photo}_a{anomaly_crops_per_photo}"
    root = paths.resolve_cache_dir(cache_dir) / f"bsds500_standin_v{STANDIN_VERSION}_{settings}"
    if root.is_dir():
        return root
    tmp = root.with_name(f"{root.name}.tmp{os.getpid()}")
    rng = np.random.default_rng(seed)
    plan = (
        (STANDIN_NORMAL_CLASS, photo_files["normal"], normal_crops_per_photo, False),
        (STANDIN_ANOMALY_CLASS, photo_files["anomaly"], anomaly_crops_per_photo, True),
    )
    try:
        for class_name, files, crops_per_photo, with_blob in plan:
            (tmp / class_name).mkdir(parents=True)
            for path in files:
                photo = _read_photo(path, crop_size)
                for k, patch in enumerate(_random_crops(photo, crops_per_photo, crop_size, rng)):
                    if with_blob:
                        patch = _polyp_like_blob(patch / 255.0, rng)
                        patch = np.clip(np.round(patch * 255.0), 0, 255).astype(np.uint8)
                    Image.fromarray(patch).save(tmp / class_name / f"{path.stem}_{k}.png")
        (tmp / "README.txt").write_text(materialize_bsds500_standin.__doc__)
    except BaseException:  # a bad photo, a full disk, Ctrl-C: leave no half-built stand-in behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        tmp.rename(root)
    except OSError:  # another process finished first; use its copy
        if not root.is_dir():
            raise
    logging.info("Wrote the BSDS500 stand-in to %s", root)
    return root


DATASETS = ("kvasir", "bsds500_standin", "folder:<path>")


def load_vae_dataset(spec, data_dir=None, normal_classes=None, anomaly_classes=None, **kwargs):
    """One entry point for the VAE app.

    Args:
        spec: "kvasir" (`<data_dir>/kvasir/`), "bsds500_standin" (built from
            `<data_dir>/bsds500/` into the cache dir) or "folder:<path>" (any root
            of class folders).
        normal_classes, anomaly_classes: class folder names; None picks the
            dataset's defaults (Kvasir's, or the stand-in's).
        kwargs: passed to `load_anomaly_folders` (image_size, heldout_fraction,
            train_on, seed, cache_dir, use_cache).
    """
    if spec == "kvasir":
        return load_kvasir(
            data_dir,
            normal_classes=normal_classes or NORMAL_CLASSES,
            anomaly_classes=anomaly_classes or ANOMALY_CLASSES,
            **kwargs,
        )
    if spec == "bsds500_standin":
        root = materialize_bsds500_standin(data_dir, kwargs.get("cache_dir"))
        return load_anomaly_folders(
            root,
            normal_classes=normal_classes or (STANDIN_NORMAL_CLASS,),
            anomaly_classes=anomaly_classes or (STANDIN_ANOMALY_CLASS,),
            name="bsds500_standin",
            **kwargs,
        )
    if spec.startswith("folder:"):
        if not spec[len("folder:") :].strip():
            raise FlagError(f"--dataset={spec} names no path; expected folder:<root of class folders>.")
        return load_anomaly_folders(
            spec[len("folder:") :],
            normal_classes=normal_classes or NORMAL_CLASSES,
            anomaly_classes=anomaly_classes or ANOMALY_CLASSES,
            **kwargs,
        )
    raise FlagError(f"--dataset={spec!r} is not a VAE dataset; expected one of {', '.join(DATASETS)}.")
