import logging
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import write_idx

from kerasda.data import (
    Domain,
    MissingDataError,
    TargetLabelAccessError,
    load_domain,
    mnist,
    mnist_m,
    pipeline,
)
from kerasda.data import cache as data_cache
from kerasda.data.folders import load_image_folder
from kerasda.data.mnist import load_mnist_arrays


def test_mnist_from_idx_files_is_rgb_32px_uint8(tiny_data_dir, tmp_path):
    domain = load_domain("mnist", data_dir=tiny_data_dir, cache_dir=tmp_path / "cache")
    assert domain.x_train.shape == (64, 32, 32, 3)
    assert domain.x_test.shape == (32, 32, 32, 3)
    assert domain.x_train.dtype == np.uint8
    assert domain.num_classes == 10
    # grey digits: the three channels are equal
    np.testing.assert_array_equal(domain.x_train[..., 0], domain.x_train[..., 2])


def test_missing_mnist_error_names_expected_files(tmp_path):
    with pytest.raises(MissingDataError) as error:
        load_mnist_arrays(data_dir=tmp_path, download=False)
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert "KERASDA_DATA_DIR" in message


def test_missing_bsds500_error_names_folder(tiny_data_dir, tmp_path):
    import shutil

    shutil.rmtree(tiny_data_dir / "bsds500")
    with pytest.raises(MissingDataError, match="bsds500/train"):
        load_domain("mnist_m", data_dir=tiny_data_dir, cache_dir=tmp_path / "c")


def test_mnist_m_blends_binarised_padded_digit_with_patch_as_absolute_difference():
    digits = np.zeros((2, 28, 28), np.uint8)
    digits[:, 10:20, 10:20] = 255
    digits[:, 0, 0] = 1  # faint ink still inverts the photo fully, as in the original release
    photo = np.full((40, 40, 3), 100, np.uint8)
    photo[..., 1] = 30
    out = mnist_m.blend_with_random_patches(digits, [photo], np.random.default_rng(0))
    assert out.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(out[0, 0, 0], [100, 30, 100])  # 2-pixel border: the photo
    np.testing.assert_array_equal(out[0, 2, 2], [155, 225, 155])  # digit pixel (0, 0): |photo - 255|
    np.testing.assert_array_equal(out[0, 17, 17], [155, 225, 155])  # stroke: |photo - 255|
    np.testing.assert_array_equal(out[0, 3, 3], [100, 30, 100])  # background inside the digit box


def test_mnist_m_is_deterministic_for_a_seed_and_differs_across_seeds(tiny_data_dir):
    a = mnist_m.synthesize_mnist_m(tiny_data_dir, seed=3)
    b = mnist_m.synthesize_mnist_m(tiny_data_dir, seed=3)
    c = mnist_m.synthesize_mnist_m(tiny_data_dir, seed=4)
    np.testing.assert_array_equal(a["x_train"], b["x_train"])
    assert not np.array_equal(a["x_train"], c["x_train"])
    mnist = load_mnist_arrays(tiny_data_dir)
    np.testing.assert_array_equal(a["y_test"], mnist["test"][1])  # MNIST's labels and split


def test_mnist_m_second_load_comes_from_cache(tiny_data_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = load_domain("mnist_m", data_dir=tiny_data_dir, cache_dir=cache)
    monkeypatch.setattr(mnist_m, "synthesize_mnist_m", lambda *a, **k: pytest.fail("re-synthesised"))
    second = load_domain("mnist_m", data_dir=tiny_data_dir, cache_dir=cache)
    np.testing.assert_array_equal(first.x_train, second.x_train)


def test_one_cache_folder_keeps_datasets_from_different_data_dirs_apart(tiny_data_dir, tmp_path):
    cache = tmp_path / "shared_cache"
    first = load_domain("mnist", data_dir=tiny_data_dir, cache_dir=cache)
    other = tmp_path / "other_copy"
    shutil.copytree(tiny_data_dir / "mnist", other / "mnist")
    x = mnist.read_idx(other / "mnist" / "train-images-idx3-ubyte.gz")
    write_idx(other / "mnist" / "train-images-idx3-ubyte.gz", 255 - x)  # another dataset, same name
    second = load_domain("mnist", data_dir=other, cache_dir=cache)
    assert not np.array_equal(first.x_train, second.x_train)
    assert len(list(cache.glob("mnist_*.npz"))) == 2
    again = load_domain("mnist", data_dir=tiny_data_dir, cache_dir=cache)  # served from its own entry
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert data_cache.source_fingerprint([tiny_data_dir]) != data_cache.source_fingerprint([other])


def test_shared_80_20_split_keeps_source_and_target_index_paired(tiny_data_dir, tmp_path):
    cache = tmp_path / "cache"
    source = load_domain("mnist", data_dir=tiny_data_dir, split="shared_80_20", cache_dir=cache)
    target = load_domain("mnist_m", data_dir=tiny_data_dir, split="shared_80_20", cache_dir=cache)
    assert len(source.x_train) == int(96 * 0.8)
    np.testing.assert_array_equal(source.y_train, target.y_train)
    np.testing.assert_array_equal(source.y_test, target.y_test)
    # the index permutation differs from the identity, so pairing is not an accident of order
    assert not np.array_equal(
        source.y_train[:20], load_domain("mnist", data_dir=tiny_data_dir, cache_dir=cache).y_train[:20]
    )


def test_unlabeled_domain_refuses_training_labels_but_keeps_test_labels(tiny_data_dir, tmp_path):
    target = load_domain("mnist_m", data_dir=tiny_data_dir, cache_dir=tmp_path / "c").unlabeled()
    with pytest.raises(TargetLabelAccessError):
        _ = target.y_train
    assert len(target.y_test) == 32
    assert target.x_train.shape[0] == 64


def test_adaptation_dataset_never_reads_target_labels(tiny_data_dir, tmp_path):
    cache = tmp_path / "c"
    source = load_domain("mnist", data_dir=tiny_data_dir, cache_dir=cache)
    target = load_domain("mnist_m", data_dir=tiny_data_dir, cache_dir=cache).unlabeled()
    ds = pipeline.adaptation_dataset(source, target, batch_size=8, seed=0)
    (xs, ys), xt = next(iter(ds))
    assert xs.shape == (8, 32, 32, 3) and xt.shape == (8, 32, 32, 3)
    assert ys.dtype == tf.int64
    # the target side of every element is a lone image tensor: no labels to leak
    assert isinstance(ds.element_spec[1], tf.TensorSpec)


def test_pipeline_scales_to_requested_range_and_shuffles_deterministically():
    x = np.arange(16, dtype=np.uint8).reshape(16, 1, 1, 1).repeat(3, -1) * 17
    y = np.arange(16)
    a = next(iter(pipeline.labeled_dataset(x, y, 4, seed=1)))
    b = next(iter(pipeline.labeled_dataset(x, y, 4, seed=1)))
    np.testing.assert_array_equal(a[1], b[1])
    full = next(iter(pipeline.labeled_dataset(x, y, 16, shuffle=False)))[0].numpy()
    assert full.min() == -1.0 and full.max() == 1.0
    unit = next(iter(pipeline.image_dataset(x, 16, shuffle=False, value_range=(0.0, 1.0)))).numpy()
    assert unit.min() == 0.0 and unit.max() == 1.0
    with pytest.raises(ValueError, match="value_range"):
        pipeline.to_model_range(x, (1.0, 0.0))


def test_image_folder_converts_grey_and_rgba_and_counts_unreadable_files(tmp_path, caplog):
    from PIL import Image

    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        Image.fromarray(np.full((20, 30), 128, np.uint8), "L").save(tmp_path / cls / "grey.png")
        Image.fromarray(np.full((10, 10, 4), 200, np.uint8), "RGBA").save(tmp_path / cls / "rgba.png")
        Image.fromarray(np.full((12, 12, 3), 50, np.uint8)).save(tmp_path / cls / "rgb.jpg")
        (tmp_path / cls / "broken.jpg").write_bytes(b"not an image")
    with caplog.at_level(logging.WARNING):
        domain = load_image_folder(tmp_path, image_size=16, test_fraction=0.5)
    assert domain.class_names == ("cats", "dogs")
    assert len(domain.x_train) + len(domain.x_test) == 6
    assert domain.x_train.shape[1:] == (16, 16, 3)
    assert "Skipped 2 unreadable file(s)" in caplog.text


def test_empty_or_missing_image_folder_is_a_clear_error(tmp_path):
    with pytest.raises(MissingDataError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="no class sub-folders"):
        load_image_folder(tmp_path / "empty")


def test_npz_domain_accepts_float_grey_arrays(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((20, 28, 28)), y=rng.integers(0, 3, 20))
    domain = load_domain(f"npz:{tmp_path / 'd.npz'}")
    assert domain.x_train.shape == (16, 32, 32, 3) and domain.x_test.shape == (4, 32, 32, 3)
    assert domain.x_train.dtype == np.uint8


def test_domain_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="labels"):
        Domain("bad", np.zeros((3, 4, 4, 3), np.uint8), np.zeros(2), np.zeros((1, 4, 4, 3), np.uint8), np.zeros(1))


def test_real_mnist_and_mnist_m_shapes_and_ranges(real_data_dir):
    source = load_domain("mnist", data_dir=real_data_dir)
    target = load_domain("mnist_m_synth", data_dir=real_data_dir)  # index-aligned with all of MNIST
    assert source.x_train.shape == (60000, 32, 32, 3) and target.x_test.shape == (10000, 32, 32, 3)
    np.testing.assert_array_equal(source.y_test, target.y_test)
    assert target.x_train.std(axis=-1).mean() > 5  # coloured, unlike MNIST
    x, _ = next(iter(pipeline.labeled_dataset(target.x_test, target.y_test, 64)))
    assert -1.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
