"""The digit domains beyond MNIST: original/synthesised MNIST-M, UCI digits, SVHN."""

import logging
import os
import pathlib

import numpy as np
import pytest

from kerasda.data import DOMAIN_NAMES, MissingDataError, load_domain, mnist_m, mnist_m_original, svhn, usps
from kerasda.data.mnist import load_mnist_arrays
from kerasda.errors import DataError


def write_release(data_dir, train_labels=(3, 1, 4, 1, 5), test_labels=(9, 2, 6)):
    """A tiny MNIST-M release in the official layout; image k is filled with value 10 * k + split offset."""
    from PIL import Image

    root = data_dir / "mnist_m"
    written = {}
    for split, labels, offset in (("train", train_labels, 0), ("test", test_labels, 100)):
        folder = root / f"mnist_m_{split}"
        folder.mkdir(parents=True)
        lines = []
        for k, label in enumerate(labels):
            name = f"{k:08d}.png"
            pixels = np.full((32, 32, 3), 10 * k + offset, np.uint8)
            pixels[..., 2] = 7  # a distinct blue channel: catches channel mix-ups
            Image.fromarray(pixels).save(folder / name)
            lines.append(f"{name} {label}")
        (root / f"mnist_m_{split}_labels.txt").write_text("\n".join(lines) + "\n")
        written[split] = labels
    return root


def test_original_release_reads_pngs_and_labels_in_label_file_order(tmp_path):
    root = write_release(tmp_path)
    # list the train images in reverse order: the label file, not the folder listing, decides
    lines = (root / "mnist_m_train_labels.txt").read_text().splitlines()
    (root / "mnist_m_train_labels.txt").write_text("\n".join(reversed(lines)) + "\n")
    domain = load_domain("mnist_m_original", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert domain.name == "mnist_m"
    assert domain.x_train.shape == (5, 32, 32, 3) and domain.x_test.shape == (3, 32, 32, 3)
    assert domain.x_train.dtype == np.uint8
    np.testing.assert_array_equal(domain.y_train, [5, 1, 4, 1, 3])
    np.testing.assert_array_equal(domain.y_test, [9, 2, 6])
    np.testing.assert_array_equal(domain.x_train[:, 0, 0, 0], [40, 30, 20, 10, 0])
    np.testing.assert_array_equal(domain.x_test[:, 5, 5], [[100, 100, 7], [110, 110, 7], [120, 120, 7]])


def test_original_release_is_resized_and_cached_per_label_content(tmp_path, monkeypatch):
    write_release(tmp_path)
    cache = tmp_path / "cache"
    small = load_domain("mnist_m_original", data_dir=tmp_path, image_size=16, cache_dir=cache)
    assert small.x_train.shape == (5, 16, 16, 3)
    monkeypatch.setattr(mnist_m_original, "read_pngs", lambda *a: pytest.fail("PNGs re-read"))
    again = load_domain("mnist_m_original", data_dir=tmp_path, image_size=16, cache_dir=cache)
    np.testing.assert_array_equal(small.x_train, again.x_train)
    # one more labelled image changes the key: the release is read again, not served stale
    root = tmp_path / "mnist_m"
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "mnist_m_test" / "00000003.png")
    with (root / "mnist_m_test_labels.txt").open("a") as f:
        f.write("00000003.png 0\n")
    with pytest.raises(pytest.fail.Exception, match="PNGs re-read"):
        load_domain("mnist_m_original", data_dir=tmp_path, image_size=16, cache_dir=cache)


def test_mnist_m_prefers_the_original_release_when_present(tiny_data_dir, tmp_path, monkeypatch):
    write_release(tiny_data_dir)
    monkeypatch.setattr(mnist_m, "synthesize_mnist_m", lambda *a, **k: pytest.fail("synthesised"))
    domain = load_domain("mnist_m", data_dir=tiny_data_dir, cache_dir=tmp_path / "cache")
    assert domain.name == "mnist_m"
    assert len(domain.x_train) == 5


def test_truncated_label_file_is_an_error_naming_file_and_counts(tmp_path):
    root = write_release(tmp_path)
    label_file = root / "mnist_m_train_labels.txt"
    label_file.write_text("\n".join(label_file.read_text().splitlines()[:3]) + "\n")
    with pytest.raises(DataError, match="truncated") as error:
        load_domain("mnist_m_original", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    message = str(error.value)
    assert str(label_file) in message
    assert "3 labels" in message and "5 PNGs" in message


def test_label_naming_a_missing_png_is_an_error_naming_it(tmp_path):
    root = write_release(tmp_path)
    (root / "mnist_m_test" / "00000001.png").unlink()
    with pytest.raises(MissingDataError, match="00000001.png") as error:
        load_domain("mnist_m_original", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert "mnist_m_test_labels.txt" in str(error.value)


def test_malformed_label_line_is_an_error_with_its_line_number(tmp_path):
    root = write_release(tmp_path)
    label_file = root / "mnist_m_train_labels.txt"
    lines = label_file.read_text().splitlines()
    lines[2] = "00000002.png"  # label missing, as when a download was cut mid-line
    label_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"mnist_m_train_labels\.txt:3: expected '<file> <label>'"):
        load_domain("mnist_m_original", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_label_outside_0_to_9_is_an_error(tmp_path):
    write_release(tmp_path, test_labels=(9, 10, 6))
    with pytest.raises(DataError, match=r"mnist_m_test_labels\.txt:2: label 10 is outside 0\.\.9"):
        load_domain("mnist_m_original", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_mnist_m_original_without_the_release_names_the_expected_files(tiny_data_dir, tmp_path):
    with pytest.raises(MissingDataError, match="mnist_m_train_labels.txt") as error:
        load_domain("mnist_m_original", data_dir=tiny_data_dir, cache_dir=tmp_path / "cache")
    assert "KERASDA_DATA_DIR" in str(error.value)


def test_mnist_m_falls_back_to_synthesis_with_one_warning(tiny_data_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        domain = load_domain("mnist_m", data_dir=tiny_data_dir, cache_dir=tmp_path / "cache")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "original MNIST-M release was not found" in warnings[0].getMessage()
    assert str(tiny_data_dir / "mnist_m") in warnings[0].getMessage()
    assert domain.name == "mnist_m_synth"
    explicit = load_domain("mnist_m_synth", data_dir=tiny_data_dir, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(domain.x_train, explicit.x_train)


def test_mnist_m_synth_is_32px_native_and_deterministic_per_seed(tiny_data_dir, tmp_path):
    write_release(tiny_data_dir)  # mnist_m_synth ignores the release
    a = load_domain("mnist_m_synth", data_dir=tiny_data_dir, seed=1, cache_dir=tmp_path / "a")
    b = load_domain("mnist_m_synth", data_dir=tiny_data_dir, seed=1, cache_dir=tmp_path / "b")
    c = load_domain("mnist_m_synth", data_dir=tiny_data_dir, seed=2, cache_dir=tmp_path / "a")
    assert a.name == "mnist_m_synth"
    assert a.x_train.shape == (64, 32, 32, 3) and a.x_test.shape == (32, 32, 32, 3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    np.testing.assert_array_equal(a.y_test, load_mnist_arrays(tiny_data_dir)["test"][1])
    # the native 32x32 synthesis is not resized: strokes are exactly |photo - 255| vs photo
    raw = mnist_m.synthesize_mnist_m(tiny_data_dir, seed=1)
    np.testing.assert_array_equal(a.x_train, raw["x_train"])


def test_mnist_m_synth_ignores_caches_of_the_old_recipe(tiny_data_dir, tmp_path):
    from kerasda.data import cache

    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    stale = np.zeros((1, 32, 32, 3), np.uint8)
    np.savez(
        cache_dir / f"mnist_m_seed0_32px.v{cache.CACHE_FORMAT}.npz",
        x_train=stale,
        y_train=np.zeros(1),
        x_test=stale,
        y_test=np.zeros(1),
    )
    domain = load_domain("mnist_m_synth", data_dir=tiny_data_dir, cache_dir=cache_dir)
    assert len(domain.x_train) == 64


def test_uci_digits_split_is_fixed_stratified_and_uint8(tmp_path):
    a = load_domain("uci_digits", seed=0)
    b = load_domain("uci_digits", seed=7)
    assert a.name == "uci_digits"
    assert a.x_train.shape == (1257, 32, 32, 3) and a.x_test.shape == (540, 32, 32, 3)
    assert a.x_train.dtype == np.uint8 and a.x_train.max() == 255 and a.x_train.min() == 0
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.num_classes == 10
    assert set(a.y_train.tolist()) == set(range(10)) == set(a.y_test.tolist())
    test_share = np.bincount(a.y_test, minlength=10) / np.bincount(np.concatenate([a.y_train, a.y_test]))
    assert np.all(np.abs(test_share - 0.3) < 0.02)  # stratified
    # ink is bright on a dark background, as in MNIST
    assert a.x_train[:, :2, :2].mean() < 20 and a.x_train[:, 12:20, 12:20].mean() > 60


def test_uci_digits_matches_sklearn_scaled_to_255():
    from sklearn.datasets import load_digits

    domain = load_domain("uci_digits", image_size=8)
    raw = load_digits()
    first_test = domain.x_test[0, ..., 0]
    matches = [i for i in range(len(raw.images)) if np.array_equal(np.round(raw.images[i] * 255 / 16), first_test)]
    assert matches and raw.target[matches[0]] == domain.y_test[0]


def write_svhn(data_dir, n_train=4, n_test=3):
    """Small .mat files in SVHN's layout: X [32, 32, 3, N], y [N, 1] in 1..10."""
    from scipy.io import savemat

    folder = data_dir / "svhn"
    folder.mkdir(parents=True)
    labels = {"train": np.array([[10], [1], [5], [10]])[:n_train], "test": np.array([[3], [10], [9]])[:n_test]}
    for split, n in (("train", n_train), ("test", n_test)):
        x = np.zeros((32, 32, 3, n), np.uint8)
        for k in range(n):
            x[..., k] = 20 * k + 1
            x[0, 1, :, k] = (200, 100, 50)  # row 0, column 1: catches a swapped H/W transpose
        savemat(folder / f"{split}_32x32.mat", {"X": x, "y": labels[split].astype(np.uint8)})


def test_svhn_maps_label_10_to_0_and_puts_images_first(tmp_path):
    write_svhn(tmp_path)
    domain = load_domain("svhn", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert domain.name == "svhn"
    assert domain.x_train.shape == (4, 32, 32, 3) and domain.x_test.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(domain.y_train, [0, 1, 5, 0])
    np.testing.assert_array_equal(domain.y_test, [3, 0, 9])
    np.testing.assert_array_equal(domain.x_train[:, 5, 5, 0], [1, 21, 41, 61])
    np.testing.assert_array_equal(domain.x_test[2, 0, 1], [200, 100, 50])
    np.testing.assert_array_equal(domain.x_test[2, 1, 0], [41, 41, 41])
    assert load_domain("svhn", data_dir=tmp_path, image_size=16, cache_dir=tmp_path / "cache").x_train.shape == (
        4,
        16,
        16,
        3,
    )


def test_svhn_missing_files_and_bad_labels_are_clear_errors(tmp_path):
    with pytest.raises(MissingDataError, match="train_32x32.mat") as error:
        load_domain("svhn", data_dir=tmp_path)
    assert "test_32x32.mat" in str(error.value)
    from scipy.io import savemat

    path = tmp_path / "bad.mat"
    savemat(path, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [3]])})
    with pytest.raises(DataError, match="expected 1..10"):
        svhn.read_svhn_mat(path)


def test_unknown_domain_error_lists_every_name():
    with pytest.raises(ValueError) as error:
        load_domain("mnist-m")
    for name in DOMAIN_NAMES + ("folder:<path>", "npz:<path>"):
        assert name in str(error.value)
    assert {"mnist_m", "mnist_m_original", "mnist_m_synth", "uci_digits", "svhn", "usps"} <= set(DOMAIN_NAMES)


def write_usps(data_dir, train_labels=(1, 10, 4), test_labels=(3, 1)):
    """bz2-compressed LIBSVM files as LIBSVM ships USPS: label 1..10, 256 pixels in [-1, 1], zeros omitted."""
    import bz2

    folder = data_dir / "usps"
    folder.mkdir(parents=True)
    for name, labels in (("usps.bz2", train_labels), ("usps.t.bz2", test_labels)):
        lines = []
        for k, label in enumerate(labels):
            pixels = np.full(256, -1.0)
            pixels[1] = 1.0  # row 0, column 1: ink; catches a transposed reshape
            pixels[16 * 8 + 8] = 0.0  # mid-grey, and left out of the sparse line as LIBSVM does
            pixels[255] = -1.0 + 0.5 * k
            items = " ".join(f"{i + 1}:{v:g}" for i, v in enumerate(pixels) if v != 0.0)
            lines.append(f"{label} {items}")
        (folder / name).write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))


def test_usps_reads_libsvm_files_digit_labels_and_ink_high(tmp_path):
    write_usps(tmp_path)
    domain = load_domain("usps", data_dir=tmp_path, image_size=16, cache_dir=tmp_path / "cache")
    assert domain.name == "usps"
    assert domain.x_train.shape == (3, 16, 16, 3) and domain.x_test.shape == (2, 16, 16, 3)
    assert domain.x_train.dtype == np.uint8
    np.testing.assert_array_equal(domain.y_train, [0, 9, 3])
    np.testing.assert_array_equal(domain.y_test, [2, 0])
    np.testing.assert_array_equal(domain.x_train[0, 0, 1], [255, 255, 255])  # ink is high
    np.testing.assert_array_equal(domain.x_train[0, 1, 0], [0, 0, 0])  # background is 0
    assert domain.x_train[0, 8, 8, 0] in (127, 128)  # an omitted (zero) pixel is mid-grey
    np.testing.assert_array_equal(domain.x_train[:, 15, 15, 0], [0, 64, 128])
    resized = load_domain("usps", data_dir=tmp_path, image_size=28, cache_dir=tmp_path / "cache")
    assert resized.x_test.shape == (2, 28, 28, 3)


def test_usps_missing_files_and_bad_labels_are_clear_errors(tmp_path):
    with pytest.raises(MissingDataError, match="usps.bz2") as error:
        load_domain("usps", data_dir=tmp_path)
    assert "usps.t.bz2" in str(error.value)
    write_usps(tmp_path, train_labels=(0, 3))
    with pytest.raises(DataError, match="expected integers 1..10"):
        usps.read_usps_svmlight(tmp_path / "usps" / "usps.bz2")


def real_release_dir():
    value = os.environ.get("KERASDA_DATA_DIR")
    if not value or not (pathlib.Path(value) / "mnist_m").is_dir():
        pytest.skip("KERASDA_DATA_DIR lacks mnist_m/ (the original MNIST-M release).")
    return pathlib.Path(value)


def test_real_original_release_counts_and_labels_match_mnist():
    data_dir = real_release_dir()
    domain = load_domain("mnist_m", data_dir=data_dir)
    counts = [
        sum(1 for line in (data_dir / "mnist_m" / f"mnist_m_{s}_labels.txt").read_text().splitlines() if line.strip())
        for s in ("train", "test")
    ]
    assert domain.name == "mnist_m"
    assert (len(domain.x_train), len(domain.x_test)) == tuple(counts)
    if counts == [20000, 9001]:  # the shared cut-down copy
        assert domain.x_train.shape == (20000, 32, 32, 3)
    mnist = load_mnist_arrays(data_dir)
    np.testing.assert_array_equal(domain.y_train[:1000], mnist["train"][1][:1000])
    np.testing.assert_array_equal(domain.y_test[:1000], mnist["test"][1][:1000])


def test_real_synthesis_matches_the_original_statistics():
    """The synthesis recipe (docs/data.md) reproduces the release's colour, contrast and sharpness."""
    data_dir = real_release_dir()
    original = load_domain("mnist_m_original", data_dir=data_dir).x_train[:4000].astype(np.float64)
    digits = load_mnist_arrays(data_dir)["train"][0][:4000]
    synthetic = mnist_m.blend_with_random_patches(
        digits, mnist_m.load_bsds500_train(data_dir), np.random.default_rng(0)
    ).astype(np.float64)

    def gradient(x):
        grey = x.mean(-1)
        return np.hypot(grey[:, 2:, 1:-1] - grey[:, :-2, 1:-1], grey[:, 1:-1, 2:] - grey[:, 1:-1, :-2]).mean() / 2

    # 3%: the old recipe (grey digit blended at 28px, then resized) was 6-7% too dark and flat
    np.testing.assert_allclose(synthetic.mean((0, 1, 2)), original.mean((0, 1, 2)), rtol=0.03)
    np.testing.assert_allclose(synthetic.std(), original.std(), rtol=0.03)
    np.testing.assert_allclose(gradient(synthetic), gradient(original), rtol=0.05)
