"""Kvasir-layout loader on synthetic class folders, and the BSDS500 stand-in."""

import logging

import numpy as np
import pytest
from PIL import Image

from kerasda.data import MissingDataError, kvasir
from kerasda.errors import DataError, FlagError

COUNTS = {"normal-z-line": 5, "normal-pylorus": 4, "normal-cecum": 3, "polyps": 6}


def _write_class_folders(root, counts=COUNTS, seed=0):
    """Uniform-colour images of assorted sizes and modes; polyps are bright red, normals are not."""
    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            if name == "polyps":
                colour = (250, int(rng.integers(0, 100)), int(rng.integers(0, 100)))
            else:
                colour = tuple(int(c) for c in rng.integers(0, 150, 3))
            size = (int(rng.integers(60, 300)), int(rng.integers(60, 300)))
            image = Image.new("RGB", size, colour)
            if i == 1:
                image = image.convert("RGBA")  # alpha is dropped
            suffix = ".png" if i % 2 else ".jpg"
            image.save(folder / f"{name}_{i}{suffix}")
    return root


def _add_bad_files(root):
    (root / "polyps" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    (root / "normal-cecum" / "notes.txt").write_text("not an image")
    good = root / "normal-z-line" / "normal-z-line_0.jpg"
    (root / "normal-z-line" / "truncated.jpg").write_bytes(good.read_bytes()[:200])


@pytest.fixture
def kvasir_root(tmp_path):
    return _write_class_folders(tmp_path / "kvasir")


def _load(root, tmp_path, **kwargs):
    kwargs.setdefault("cache_dir", tmp_path / "cache")
    return kvasir.load_anomaly_folders(root, **kwargs)


def test_loads_rgb_uint8_96x96_split_by_kind(kvasir_root, tmp_path):
    data = _load(kvasir_root, tmp_path)
    for x in (data.x_normal_train, data.x_normal_heldout, data.x_anomaly_train, data.x_anomaly_heldout):
        assert x.dtype == np.uint8 and x.shape[1:] == (96, 96, 3)
    assert len(data.x_normal_train) + len(data.x_normal_heldout) == 12
    assert len(data.x_anomaly_train) + len(data.x_anomaly_heldout) == 6
    # 20% of each class held out (rounded, at least one): 1 + 1 + 1 normal, 1 anomaly.
    assert len(data.x_normal_heldout) == 3 and len(data.x_anomaly_heldout) == 1
    # Uniform colours survive the bilinear resize unchanged.
    assert np.ptp(data.x_normal_train[0].reshape(-1, 3), axis=0).max() <= 1
    assert data.skipped_files == 0


@pytest.mark.parametrize("source", ["files", "cache"])
def test_corrupt_and_non_image_files_are_skipped_and_counted_once(kvasir_root, tmp_path, caplog, source):
    _add_bad_files(kvasir_root)
    if source == "cache":
        _load(kvasir_root, tmp_path)  # fills the cache; the load below reads it
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        data = _load(kvasir_root, tmp_path)
    assert data.skipped_files == 3
    assert data.summary()["skipped_files"] == 3
    warnings = [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 1 and "Skipped 3" in warnings[0].getMessage()
    assert len(data.x_normal_train) + len(data.x_normal_heldout) == 12


def test_missing_class_folder_error_names_the_expected_folders(kvasir_root, tmp_path):
    (kvasir_root / "polyps").rename(kvasir_root / "polyp")
    with pytest.raises(MissingDataError) as error:
        _load(kvasir_root, tmp_path)
    message = str(error.value)
    for name in COUNTS:
        assert name in message
    assert "missing: polyps" in message


def test_missing_kvasir_dir_error_says_where_and_what_to_do(tmp_path):
    with pytest.raises(MissingDataError) as error:
        kvasir.load_kvasir(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    message = str(error.value)
    assert message.startswith("Kvasir not found") and str(tmp_path / "kvasir") in message
    assert "normal-z-line, normal-pylorus, normal-cecum, polyps" in message
    assert "bsds500_standin" in message


def test_split_is_deterministic_disjoint_and_seed_dependent(kvasir_root, tmp_path):
    first = _load(kvasir_root, tmp_path, seed=0)
    again = _load(kvasir_root, tmp_path, seed=0)
    other = _load(kvasir_root, tmp_path, seed=5)
    np.testing.assert_array_equal(first.x_normal_heldout, again.x_normal_heldout)
    np.testing.assert_array_equal(first.x_anomaly_heldout, again.x_anomaly_heldout)
    colours = lambda x: {tuple(img[0, 0]) for img in x}  # noqa: E731
    assert not colours(first.x_normal_train) & colours(first.x_normal_heldout)
    assert colours(first.x_normal_heldout) != colours(other.x_normal_heldout)


def test_anomalies_enter_training_only_with_train_on_all(kvasir_root, tmp_path):
    normal_only = _load(kvasir_root, tmp_path, train_on="normal")
    assert normal_only.x_train[..., 0].max() < 200  # no bright-red polyp among them
    assert len(normal_only.x_train) == len(normal_only.x_normal_train)
    everything = _load(kvasir_root, tmp_path, train_on="all")
    assert len(everything.x_train) == len(everything.x_normal_train) + len(everything.x_anomaly_train)
    assert (everything.x_train[..., 0].max(axis=(1, 2)) >= 245).sum() == len(everything.x_anomaly_train)
    # Held-out images are the same in both settings, so their metrics compare.
    np.testing.assert_array_equal(normal_only.x_anomaly_heldout, everything.x_anomaly_heldout)
    with pytest.raises(FlagError, match="--train_on='some': expected one of normal, all"):
        _load(kvasir_root, tmp_path, train_on="some")


def test_class_lists_are_configurable_and_validated(kvasir_root, tmp_path):
    data = _load(kvasir_root, tmp_path, normal_classes=["normal-cecum"], anomaly_classes=["polyps"])
    assert len(data.x_normal_train) + len(data.x_normal_heldout) == 3
    with pytest.raises(FlagError, match="--normal_classes and --anomaly_classes both list polyps"):
        _load(kvasir_root, tmp_path, normal_classes=["polyps"], anomaly_classes=["polyps"])
    with pytest.raises(FlagError, match="expected at least one class folder of each kind"):
        _load(kvasir_root, tmp_path, normal_classes=["normal-cecum"], anomaly_classes=[])


def test_archive_unzipped_one_level_down_is_found(tmp_path):
    _write_class_folders(tmp_path / "kvasir" / "kvasir-dataset-v2")
    data = kvasir.load_kvasir(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert data.name == "kvasir" and data.summary()["num_normal_train"] == 9


def test_cache_follows_changes_to_the_folders(kvasir_root, tmp_path):
    assert _load(kvasir_root, tmp_path).summary()["num_anomaly_train"] == 5
    _write_class_folders(kvasir_root, {"polyps": 10}, seed=1)  # overwrites 6, adds 4
    assert _load(kvasir_root, tmp_path).summary()["num_anomaly_train"] == 8


def test_bsds500_standin_has_real_normal_crops_and_blob_anomalies(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 2), ("val", 1), ("test", 2)):
        folder = tmp_path / "data" / "bsds500" / split
        folder.mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{split}{i}.jpg", quality=95)
    data = kvasir.load_vae_dataset(
        "bsds500_standin", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", heldout_fraction=0.25
    )
    assert data.normal_classes == ("bsds-normal",) and data.anomaly_classes == ("bsds-blob",)
    assert data.summary()["num_normal_train"] + data.summary()["num_normal_heldout"] == 3 * 4
    assert data.summary()["num_anomaly_train"] + data.summary()["num_anomaly_heldout"] == 2 * 3
    anomalies = np.concatenate([data.x_anomaly_train, data.x_anomaly_heldout]).astype(float)
    normals = np.concatenate([data.x_normal_train, data.x_normal_heldout]).astype(float)
    red_excess = lambda x: (x[..., 0] - x[..., 1]).mean()  # noqa: E731
    # The pinkish blob covers ~4-23% of a crop, with red ~90 above green.
    assert red_excess(anomalies) > red_excess(normals) + 4
    root = kvasir.materialize_bsds500_standin(tmp_path / "data", tmp_path / "cache")
    assert (root / "README.txt").exists()  # the stand-in documents itself


def test_unknown_dataset_spec_is_rejected():
    with pytest.raises(FlagError, match="--dataset='mnist' is not a VAE dataset"):
        kvasir.load_vae_dataset("mnist")
    with pytest.raises(FlagError, match="names no path"):
        kvasir.load_vae_dataset("folder:")


def test_listed_classes_that_are_missing_give_one_warning_naming_them(tmp_path, caplog):
    # The offline HyperKvasir copy: the config lists three normal classes, one exists.
    root = _write_class_folders(tmp_path / "kvasir", {"normal-cecum": 5, "polyps": 5})
    with caplog.at_level(logging.WARNING):
        data = _load(root, tmp_path)
    warnings = [r.getMessage() for r in caplog.records if "not found" in r.getMessage()]
    assert len(warnings) == 1
    assert "normal-z-line, normal-pylorus" in warnings[0] and "normal-cecum, polyps" in warnings[0]
    assert data.normal_classes == ("normal-cecum",) and data.anomaly_classes == ("polyps",)
    assert data.missing_classes == ("normal-z-line", "normal-pylorus")
    assert data.summary()["missing_classes"] == ["normal-z-line", "normal-pylorus"]
    assert len(data.x_normal_train) + len(data.x_normal_heldout) == 5


def test_no_class_of_a_kind_left_is_one_error_naming_every_folder(tmp_path):
    root = _write_class_folders(tmp_path / "kvasir", {"normal-cecum": 3, "normal-pylorus": 3})
    with pytest.raises(MissingDataError) as error:
        _load(root, tmp_path)
    message = str(error.value)
    assert "missing: normal-z-line, polyps" in message
    assert "one normal and one anomaly class" in message


def test_app_with_missing_classes_prints_one_message_and_no_traceback(tmp_path):
    import subprocess
    import sys

    _write_class_folders(tmp_path / "kvasir", {"normal-cecum": 3})  # no polyps: nothing to detect
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "apps.train_vae",
            "--flagfile=apps/configs/endovae_kvasir.cfg",
            f"--data_dir={tmp_path}",
            f"--cache_dir={tmp_path / 'cache'}",
            f"--output_dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
    )
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Kvasir not found" in errors[0]
    assert "missing: normal-z-line, normal-pylorus, polyps" in errors[0]


def test_scope_guide_box_is_identical_across_images_and_the_rest_untouched():
    x = np.random.default_rng(0).integers(0, 256, (4, 96, 80, 3), dtype=np.uint8)
    masked = kvasir.neutralise_scope_guide(x, box=(0.65, 0.36))
    rows, cols = slice(62, 96), slice(0, 29)  # floor(0.65 * 96) = 62, ceil(0.36 * 80) = 29
    assert (masked[:, rows, cols] == 0).all()
    np.testing.assert_array_equal(masked[:, rows, cols], masked[:1, rows, cols].repeat(4, axis=0))
    outside = np.ones((96, 80), bool)
    outside[rows, cols] = False
    np.testing.assert_array_equal(masked[:, outside], x[:, outside])
    assert masked[:, 61, :29].any() and masked[:, 62:, 29].any()  # the box ends where it should
    assert x[:, rows, cols].any()  # the input was not modified in place


def test_loader_masks_every_split_only_when_asked(kvasir_root, tmp_path):
    raw = _load(kvasir_root, tmp_path)
    masked = _load(kvasir_root, tmp_path, mask_box=kvasir.SCOPE_GUIDE_BOX)
    assert raw.x_normal_train[:, 80, 5].any() and raw.mask_box is None
    for x in (masked.x_normal_train, masked.x_normal_heldout, masked.x_anomaly_train, masked.x_anomaly_heldout):
        assert (x[:, 62:, :35] == 0).all() and x[:, :62].any()
    assert masked.summary()["mask_box"] == list(kvasir.SCOPE_GUIDE_BOX)


def test_validation_split_is_disjoint_and_leaves_the_held_out_split_unchanged(tmp_path):
    root = _write_class_folders(tmp_path / "kvasir", {"normal-cecum": 20, "polyps": 20})
    plain = _load(root, tmp_path, normal_classes=["normal-cecum"])
    split = _load(root, tmp_path, normal_classes=["normal-cecum"], validation_fraction=0.25)
    np.testing.assert_array_equal(plain.x_normal_heldout, split.x_normal_heldout)
    np.testing.assert_array_equal(plain.x_anomaly_heldout, split.x_anomaly_heldout)
    assert len(split.x_normal_validation) == 5 and len(split.x_anomaly_validation) == 5
    assert len(split.x_normal_train) == 11 and len(plain.x_normal_validation) == 0
    colours = lambda x: {tuple(img[0, 0]) for img in x}  # noqa: E731
    assert not colours(split.x_normal_validation) & (colours(split.x_normal_train) | colours(split.x_normal_heldout))
    with pytest.raises(FlagError, match="the sum must be < 1"):
        _load(root, tmp_path, validation_fraction=0.8)


def test_split_is_stratified_by_class_and_the_same_for_the_same_seed():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    train, validation, heldout = kvasir.split_by_class(labels, 0.2, 0.1, seed=3)
    again = kvasir.split_by_class(labels, 0.2, 0.1, seed=3)
    other = kvasir.split_by_class(labels, 0.2, 0.1, seed=4)
    for mine, repeat in zip((train, validation, heldout), again):
        np.testing.assert_array_equal(mine, repeat)
    assert not np.array_equal(heldout, other[2])
    assert sorted(np.concatenate([train, validation, heldout]).tolist()) == list(range(100))
    # every class in proportion: 20% held out, 10% of all for validation
    assert np.bincount(labels[heldout]).tolist() == [10, 6, 4]
    assert np.bincount(labels[validation]).tolist() == [5, 3, 2]
    # the held-out images do not depend on the validation fraction
    np.testing.assert_array_equal(kvasir.split_by_class(labels, 0.2, 0.0, seed=3)[2], heldout)


def test_split_problems_name_the_flag_or_the_class_folder(caplog):
    labels = np.repeat([0, 1], [10, 1])
    with pytest.raises(DataError, match=r"Class folder\(s\) polyps \(1\) under k hold fewer than 2"):
        kvasir.split_by_class(labels, 0.2, 0.0, 0, class_names=("normal-cecum", "polyps"), where="k")
    with pytest.raises(FlagError, match=r"--heldout_fraction=0.05 holds out 1 of the 20 images"):
        kvasir.split_by_class(np.repeat([0, 1], 10), 0.05, 0.0, 0)
    with pytest.raises(FlagError, match=r"--heldout_fraction=1.5: expected a number in \(0, 1\)"):
        kvasir.split_by_class(np.repeat([0, 1], 10), 1.5, 0.0, 0)
    with caplog.at_level(logging.WARNING):  # too few images for a validation image per class: none
        _, validation, _ = kvasir.split_by_class(np.repeat([0, 1, 2], 4), 0.25, 0.1, 0)
    assert len(validation) == 0 and "no validation split" in caplog.text


def test_a_class_with_one_image_or_no_held_out_anomaly_is_a_data_error(tmp_path):
    root = _write_class_folders(tmp_path / "one", {"normal-cecum": 6, "polyps": 1})
    with pytest.raises(DataError, match=r"polyps \(1\) under .*one hold fewer than 2 readable images"):
        _load(root, tmp_path)
    root = _write_class_folders(tmp_path / "rare", {"normal-cecum": 40, "polyps": 2})
    with pytest.raises(DataError, match=r"held-out split of .*rare has no anomaly image"):
        _load(root, tmp_path, heldout_fraction=0.1)


def test_unreadable_class_folder_is_a_data_error(kvasir_root, tmp_path, monkeypatch):
    real_iterdir = type(kvasir_root).iterdir

    def iterdir(self):
        if self.name == "polyps":
            raise PermissionError(13, "Permission denied")
        return real_iterdir(self)

    monkeypatch.setattr(type(kvasir_root), "iterdir", iterdir)
    with pytest.raises(DataError, match=r"Cannot read class folder .*polyps \(Permission denied\)"):
        _load(kvasir_root, tmp_path)


def test_bsds500_standin_names_an_unreadable_photo_and_leaves_nothing_half_built(tmp_path):
    for split in ("train", "val", "test"):
        folder = tmp_path / "data" / "bsds500" / split
        folder.mkdir(parents=True)
        Image.fromarray(np.full((150, 200, 3), 90, np.uint8)).save(folder / f"{split}0.jpg")
    (tmp_path / "data" / "bsds500" / "test" / "test1.jpg").write_bytes(b"\xff\xd8 cut off")
    with pytest.raises(DataError, match=r"test1\.jpg cannot be read \(UnidentifiedImageError: .*replace it"):
        kvasir.materialize_bsds500_standin(tmp_path / "data", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []  # no stand-in, no temporary folder
    (tmp_path / "data" / "bsds500" / "test" / "test1.jpg").unlink()
    Image.fromarray(np.full((60, 200, 3), 90, np.uint8)).save(tmp_path / "data" / "bsds500" / "val" / "val1.jpg")
    with pytest.raises(DataError, match=r"val1\.jpg is 200x60; expected a BSDS500 photo of at least 128x128"):
        kvasir.materialize_bsds500_standin(tmp_path / "data", tmp_path / "cache")
