"""Geometric jitter: deterministic per (seed, step), shape- and range-preserving, and wired into pipelines."""

import numpy as np
import pytest
import tensorflow as tf

from kerasda.data import augmentation, pipeline


def _bar_images(n=8, size=28):
    x = np.zeros((n, size, size, 3), np.uint8)
    x[:, 10:18, 12:16] = 255
    return x


def test_none_builds_no_function_and_unknown_kind_is_rejected():
    assert augmentation.build_augmentation("none") is None
    with pytest.raises(ValueError, match="augmentation must be one of"):
        augmentation.build_augmentation("colour")


def test_out_of_range_jitter_is_rejected_with_its_value():
    with pytest.raises(ValueError, match="max_zoom.*0.7"):
        augmentation.GeometricJitter(max_zoom=0.7)


def test_zero_jitter_is_the_identity():
    augment = augmentation.build_augmentation("geometric", jitter=augmentation.GeometricJitter(0.0, 0.0, 0.0))
    images = pipeline.to_model_range(_bar_images())
    np.testing.assert_allclose(augment(tf.constant(images), 3).numpy(), images, atol=1e-5)


def test_jitter_is_deterministic_per_step_and_differs_between_steps_and_images():
    augment = augmentation.build_augmentation("geometric", seed=5)
    images = tf.constant(pipeline.to_model_range(_bar_images()))
    first, again, later = augment(images, 0).numpy(), augment(images, 0).numpy(), augment(images, 1).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, later)
    assert not np.allclose(first[0], first[1])  # each image its own transform
    assert first.shape == images.shape and first.dtype == np.float32
    assert first.min() >= -1.0 - 1e-5 and first.max() <= 1.0 + 1e-5
    # The bar moves but keeps (roughly) its amount of ink: shift/zoom/rotate, not erase.
    ink = (first > 0).sum(axis=(1, 2, 3)) / (images.numpy() > 0).sum(axis=(1, 2, 3))
    assert np.all((ink > 0.5) & (ink < 1.6))


def test_pipelines_apply_the_jitter_reproducibly():
    x, y = _bar_images(16), np.arange(16) % 10

    def first_batches(seed):
        augment = augmentation.build_augmentation("geometric", seed=seed)
        ds = pipeline.labeled_dataset(x, y, 8, shuffle=False, seed=0, augment=augment)
        return [images.numpy() for images, _ in ds.take(2)]

    plain = next(iter(pipeline.labeled_dataset(x, y, 8, shuffle=False, seed=0)))[0].numpy()
    run_a, run_b = first_batches(0), first_batches(0)
    for a, b in zip(run_a, run_b):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(run_a[0], plain)
    assert not np.allclose(run_a[0], run_a[1][:8])


def test_adaptation_dataset_jitters_source_and_target_differently():
    from kerasda.data import Domain

    x, y = _bar_images(16), np.arange(16) % 10
    domain = Domain("bars", x, y, x[:4], y[:4])
    augment = augmentation.build_augmentation("geometric", seed=0)
    (source_images, _), target_images = next(
        iter(pipeline.adaptation_dataset(domain, domain.unlabeled(), 8, seed=0, augment=augment))
    )
    assert source_images.shape == target_images.shape == (8, 28, 28, 3)
    assert not np.allclose(source_images.numpy(), target_images.numpy())


def _checkerboard(n=8, size=28):
    board = (np.indices((size, size)).sum(axis=0) % 2).astype(np.float32) * 2.0 - 1.0
    return tf.constant(np.repeat(board[None, :, :, None], 3, axis=-1).repeat(n, axis=0))


def _total_variation(images):
    return tf.image.total_variation(images).numpy()


def test_resolution_jitter_settings_are_checked_and_sizes_span_low_resolutions():
    with pytest.raises(ValueError, match="probability.*1.5"):
        augmentation.ResolutionJitter(probability=1.5)
    with pytest.raises(ValueError, match="min_fraction"):
        augmentation.ResolutionJitter(min_fraction=1.0)
    sizes = augmentation.ResolutionJitter().sizes(28)
    assert sizes == sorted(sizes) and sizes[0] == 8 and sizes[-1] < 28 and len(sizes) == 4


def test_resolution_jitter_blurs_every_chosen_image_and_keeps_the_others():
    images = _checkerboard()
    never = augmentation.reduce_resolution(images, augmentation.ResolutionJitter(probability=0.0), seed=[0, 0])
    np.testing.assert_array_equal(never.numpy(), images.numpy())
    always = augmentation.reduce_resolution(images, augmentation.ResolutionJitter(probability=1.0), seed=[0, 0])
    assert always.shape == images.shape and always.dtype == images.dtype
    # A checkerboard is all high frequency: any lower resolution removes most of its variation.
    assert np.all(_total_variation(always) < 0.5 * _total_variation(images))
    half = augmentation.reduce_resolution(_checkerboard(64), augmentation.ResolutionJitter(), seed=[3, 1])
    blurred = _total_variation(half) < 0.5 * _total_variation(_checkerboard(64))
    assert 16 < blurred.sum() < 48  # about half, the default probability


def test_resolution_jitter_resizes_each_image_once_at_a_size_of_its_own_in_any_batch():
    """Each output image is its input, or its input alone down- and up-sampled at one allowed size."""
    jitter = augmentation.ResolutionJitter()
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, (16, 28, 28, 3)).astype(np.float32))
    graph = tf.function(augmentation.reduce_resolution, reduce_retracing=True)
    out = graph(images, jitter, seed=tf.constant([5, 2], tf.int64)).numpy()  # as tf.data runs it: a graph
    picked = []
    for image, result in zip(images, out):
        candidates = [image.numpy()] + [
            tf.image.resize(tf.image.resize(image[None], (size, size), antialias=True), (28, 28)).numpy()[0]
            for size in jitter.sizes(28)
        ]
        matches = [k for k, candidate in enumerate(candidates) if np.array_equal(candidate, result)]
        assert matches, "an image is neither kept nor resized at one of the allowed sizes"
        picked.append(matches[0])
    assert 0 < sum(k > 0 for k in picked) < len(picked)  # some reduced, some kept
    single = augmentation.reduce_resolution(images[:1], jitter, seed=[5, 2]).numpy()  # empty size groups
    np.testing.assert_array_equal(single, out[:1])


def test_geometric_resolution_kind_is_deterministic_per_step_and_stays_in_range():
    augment = augmentation.build_augmentation(
        "geometric_resolution", seed=2, resolution=augmentation.ResolutionJitter(probability=1.0)
    )
    images = tf.constant(pipeline.to_model_range(_bar_images()))
    first, again, later = augment(images, 0).numpy(), augment(images, 0).numpy(), augment(images, 1).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, later)
    assert first.min() >= -1.0 - 1e-5 and first.max() <= 1.0 + 1e-5
    geometric_only = augmentation.build_augmentation("geometric", seed=2)(images, 0).numpy()
    assert np.all(_total_variation(tf.constant(first)) < _total_variation(tf.constant(geometric_only)))


def test_channel_inversion_mirrors_whole_channels_and_keeps_the_earlier_kinds_draws():
    images = tf.constant(np.random.default_rng(1).uniform(-1, 1, (32, 12, 12, 3)).astype(np.float32))
    inverted = augmentation.invert_channels(images, 0.5, seed=[4, 2]).numpy()
    flipped = np.isclose(inverted, -images.numpy()).all(axis=(1, 2))  # [B, C]: a channel is all or nothing
    kept = np.isclose(inverted, images.numpy()).all(axis=(1, 2))
    assert np.all(flipped | kept)
    assert 0.3 < flipped.mean() < 0.7  # about half the channels
    assert np.any(flipped.any(axis=1) & kept.any(axis=1))  # channels of one image are drawn apart
    in_unit_range = augmentation.invert_channels(images * 0.5 + 0.5, 1.0, seed=[0, 0], value_range=(0.0, 1.0))
    np.testing.assert_allclose(in_unit_range.numpy(), 0.5 - images.numpy() * 0.5, atol=1e-6)

    # The new kind is the previous one with channels inverted: the geometric and resolution draws are the same.
    step = tf.constant(5, tf.int64)
    before = augmentation.build_augmentation("geometric_resolution", seed=3)(images, step).numpy()
    after = augmentation.build_augmentation("geometric_resolution_inversion", seed=3)(images, step).numpy()
    same = np.isclose(after, before, atol=1e-6).all(axis=(1, 2))
    mirrored = np.isclose(after, -before, atol=1e-6).all(axis=(1, 2))
    assert np.all(same | mirrored) and mirrored.any() and same.any()


def test_inversion_probability_sets_the_share_of_inverted_channels():
    images = tf.constant(np.random.default_rng(2).uniform(-1, 1, (400, 8, 8, 3)).astype(np.float32))
    step = tf.constant(1, tf.int64)
    before = augmentation.build_augmentation("geometric_resolution", seed=3)(images, step).numpy()
    shares = []
    for probability in (0.0, 0.2, 1.0):
        augment = augmentation.build_augmentation(
            "geometric_resolution_inversion", seed=3, inversion_probability=probability
        )
        after = augment(images, step).numpy()
        shares.append(np.isclose(after, -before, atol=1e-6).all(axis=(1, 2)).mean())
    assert shares[0] == 0.0 and shares[2] == 1.0 and 0.15 < shares[1] < 0.25
    with pytest.raises(ValueError, match="inversion_probability.*1.5"):
        augmentation.build_augmentation("geometric_resolution_inversion", inversion_probability=1.5)
