"""kerasda.data.split_files: the shared loader of one-file-per-split digit datasets (USPS, SVHN)."""

import numpy as np
import pytest

from kerasda.data import split_files
from kerasda.data.paths import MissingDataError

FILES = {"train": "a.bin", "test": "b.bin"}


def make_files(root):
    folder = root / "toy"
    folder.mkdir(parents=True)
    for name in FILES.values():
        (folder / name).write_bytes(b"x")


class CountingReader:
    """Grey 8x8 images whose pixel value is the label; counts how often files are read."""

    def __init__(self):
        self.calls = 0

    def __call__(self, path):
        self.calls += 1
        y = np.arange(5, dtype=np.int64) % 10
        return np.repeat(y.astype(np.uint8)[:, None, None] * 20, 8, 1).repeat(8, 2), y


def test_missing_files_are_all_named(tmp_path):
    (tmp_path / "toy").mkdir()
    with pytest.raises(MissingDataError) as error:
        split_files.load_split_files("toy", FILES, CountingReader(), tmp_path, 16, tmp_path / "cache")
    assert "a.bin" in str(error.value) and "b.bin" in str(error.value)


def test_rgb_resized_and_read_once_then_cached(tmp_path):
    make_files(tmp_path)
    reader = CountingReader()
    first = split_files.load_split_files("toy", FILES, reader, tmp_path, 16, tmp_path / "cache")
    assert first.x_train.shape == (5, 16, 16, 3) and first.x_train.dtype == np.uint8
    assert np.array_equal(first.y_test, np.arange(5) % 10)
    assert np.all(first.x_train[1] == 20)  # constant images stay constant through the resize
    assert reader.calls == 2
    second = split_files.load_split_files("toy", FILES, reader, tmp_path, 16, tmp_path / "cache")
    assert reader.calls == 2  # served from the cache
    assert np.array_equal(second.x_test, first.x_test)


def test_native_size_skips_the_cache(tmp_path):
    make_files(tmp_path)
    reader = CountingReader()
    split_files.load_split_files("toy", FILES, reader, tmp_path, 8, tmp_path / "cache", native_size=8)
    split_files.load_split_files("toy", FILES, reader, tmp_path, 8, tmp_path / "cache", native_size=8)
    assert reader.calls == 4
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").glob("toy_*"))
