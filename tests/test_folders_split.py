"""The train/test split of folder and .npz domains: seeded, stratified by class."""

import numpy as np
import pytest

from kerasda.data import folders
from kerasda.errors import DataError


def _labels(counts):
    return np.repeat(np.arange(len(counts)), counts)


def test_split_keeps_each_class_in_proportion_and_follows_the_seed():
    y = _labels([50, 30, 20])
    x = np.arange(len(y))[:, None]
    x_train, y_train, x_test, y_test = folders.split_train_test(x, y, 0.2, seed=0)
    assert np.bincount(y_test).tolist() == [10, 6, 4]
    assert np.bincount(y_train).tolist() == [40, 24, 16]
    assert sorted(np.concatenate([x_train, x_test])[:, 0].tolist()) == list(range(100))  # a partition
    np.testing.assert_array_equal(y[x_test[:, 0]], y_test)  # images keep their labels
    again = folders.split_train_test(x, y, 0.2, seed=0)[2]
    other = folders.split_train_test(x, y, 0.2, seed=1)[2]
    np.testing.assert_array_equal(again, x_test)
    assert not np.array_equal(np.sort(other[:, 0]), np.sort(x_test[:, 0]))


def test_split_without_enough_examples_per_class_is_plain_but_still_sized_and_seeded():
    y = np.array([0, 0, 0, 0, 1, 2])  # classes 1 and 2 have one image: no stratified split exists
    x = np.arange(6)[:, None]
    _, y_train, x_test, y_test = folders.split_train_test(x, y, 0.5, seed=3)
    assert len(y_test) == 3 and len(y_train) == 3
    np.testing.assert_array_equal(folders.split_train_test(x, y, 0.5, seed=3)[2], x_test)
    assert len(folders.split_train_test(x[:2], y[:2], 0.01, seed=0)[2]) == 1  # at least one test example
    assert len(folders.split_train_test(x, y, 1.0, seed=0)[0]) == 1  # at least one train example
    with pytest.raises(DataError, match="need at least 2"):
        folders.split_train_test(x[:1], y[:1], 0.5, seed=0)


def test_npz_domain_is_split_by_class(tmp_path):
    rng = np.random.default_rng(0)
    y = _labels([40, 20, 20])
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (len(y), 8, 8, 3), dtype=np.uint8), y=y)
    domain = folders.load_npz(tmp_path / "d.npz", image_size=8, test_fraction=0.25, seed=0)
    assert np.bincount(domain.y_test).tolist() == [10, 5, 5]
    assert len(domain.x_train) == 60 and domain.x_train.shape[1:] == (8, 8, 3)
