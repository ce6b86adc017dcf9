"""DCGAN, CGAN and ACGAN: objectives against hand-computed values, and the training steps."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda import losses
from kerasda.losses import acgan_discriminator_loss, acgan_generator_loss
from kerasda.models import ACGAN, CGAN, DCGAN
from kerasda.networks import gan as gan_networks

LATENT, BATCH, CLASSES = 8, 4, 10
DCGAN_TRACKERS = ("d_loss", "g_loss", "d_real", "d_fake")
TRACKERS = {
    "dcgan": DCGAN_TRACKERS,
    "cgan": DCGAN_TRACKERS,
    "acgan": DCGAN_TRACKERS + ("d_class_loss", "g_class_loss", "class_acc_real", "class_acc_fake"),
}


def softplus(x):
    return math.log1p(math.exp(x))


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def make_model(kind, seed=0, condition_discriminator=True, init="normal_002"):
    conditional = kind != "dcgan"
    generator = gan_networks.build_generator(LATENT, ngf=4, num_classes=CLASSES if conditional else None, init=init)
    if kind == "dcgan":
        return DCGAN(generator, gan_networks.build_discriminator(ndf=4, init=init), seed=seed)
    if kind == "cgan":
        discriminator = (
            gan_networks.build_conditional_discriminator(CLASSES, ndf=4, init=init)
            if condition_discriminator
            else gan_networks.build_discriminator(ndf=4, init=init)
        )
        return CGAN(generator, discriminator, CLASSES, condition_discriminator=condition_discriminator, seed=seed)
    discriminator = gan_networks.build_auxiliary_classifier_discriminator(CLASSES, ndf=4, init=init)
    return ACGAN(generator, discriminator, CLASSES, seed=seed)


def batch(seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (BATCH, 32, 32, 1)).astype(np.float32)
    labels = rng.integers(0, CLASSES, BATCH).astype(np.int64)
    return tf.constant(images), tf.constant(labels)


def values(variables):
    return [np.array(v) for v in variables]


def changed(before, variables):
    return [not np.array_equal(b, np.asarray(v)) for b, v in zip(before, variables)]


# ----------------------------------------------------------------- objectives


def test_dcgan_discriminator_objective_is_bce_and_reports_mean_probabilities():
    model = make_model("dcgan")
    model.compile()
    real, fake = tf.constant([[2.0], [-1.0]]), tf.constant([[0.0], [1.0]])
    loss, logs = model.discriminator_objective(real, fake)
    # BCE(1, x) = softplus(-x), BCE(0, x) = softplus(x); each batch weighted 1/2.
    expected = 0.5 * ((softplus(-2) + softplus(1)) / 2 + (softplus(0) + softplus(1)) / 2)
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert float(logs["d_real"]) == pytest.approx((sigmoid(2) + sigmoid(-1)) / 2, rel=1e-6)
    assert float(logs["d_fake"]) == pytest.approx((sigmoid(0) + sigmoid(1)) / 2, rel=1e-6)


def test_label_smoothing_lowers_only_the_real_target():
    model = make_model("dcgan")
    model.compile(label_smoothing=0.1)
    loss, _ = model.discriminator_objective(tf.constant([[2.0]]), tf.constant([[1.0]]))
    # BCE(t, x) = softplus(x) - t x.
    expected = 0.5 * ((softplus(2) - 0.9 * 2) + softplus(1))
    assert float(loss) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("non_saturating", (softplus(-0.5) + softplus(2.0)) / 2),  # -log D(G(z))
        ("minimax", -(softplus(0.5) + softplus(-2.0)) / 2),  # log(1 - D(G(z)))
    ],
)
def test_generator_objective_follows_the_chosen_loss(name, expected):
    model = make_model("dcgan")
    model.compile(generator_loss=name)
    loss, logs = model.generator_objective(tf.constant([[0.5], [-2.0]]))
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert float(logs["g_loss"]) == pytest.approx(expected, rel=1e-6)


def _cross_entropy(logits, label):
    return math.log(sum(math.exp(v) for v in logits)) - logits[label]


def test_acgan_discriminator_loss_is_minus_half_of_ls_plus_lc():
    real_logits, fake_logits = [[1.0]], [[-0.5]]
    real_class, fake_class = [[2.0, 0.0, -1.0]], [[0.5, 0.5, 1.0]]
    loss = acgan_discriminator_loss(
        tf.constant(real_logits),
        tf.constant(fake_logits),
        tf.constant(real_class),
        tf.constant(fake_class),
        tf.constant([0]),
        tf.constant([2]),
    )
    log_p_real = -softplus(-1.0)  # log P(S=real | X_real)
    log_p_fake = -softplus(-0.5)  # log P(S=fake | X_fake) = log(1 - sigmoid(-0.5))
    l_s = log_p_real + log_p_fake
    l_c = -_cross_entropy([2.0, 0.0, -1.0], 0) - _cross_entropy([0.5, 0.5, 1.0], 2)
    assert float(loss) == pytest.approx(-(l_s + l_c) / 2, rel=1e-6)


def test_acgan_minimax_generator_loss_is_ls_minus_lc_of_the_fake_batch():
    fake_logits, fake_class = [[0.3]], [[0.0, 1.0, 2.0]]
    loss = acgan_generator_loss(
        tf.constant(fake_logits),
        tf.constant(fake_class),
        tf.constant([1]),
        adversarial_loss=losses.generator_loss_minimax,
    )
    l_s_fake = math.log(1 - sigmoid(0.3))
    l_c_fake = -_cross_entropy([0.0, 1.0, 2.0], 1)
    assert float(loss) == pytest.approx(l_s_fake - l_c_fake, rel=1e-6)
    non_saturating = acgan_generator_loss(tf.constant(fake_logits), tf.constant(fake_class), tf.constant([1]))
    assert float(non_saturating) == pytest.approx(softplus(-0.3) - l_c_fake, rel=1e-6)


# -------------------------------------------------------------- training steps


@pytest.mark.parametrize("kind", ["dcgan", "cgan", "acgan"])
def test_discriminator_step_updates_only_the_discriminator(kind):
    model = make_model(kind)
    model.compile()
    images, labels = batch()
    g_before = values(model.generator.trainable_variables)
    d_before = values(model.discriminator.trainable_variables)
    model.discriminator_step(images, None if kind == "dcgan" else tf.cast(labels, tf.int32))
    assert not any(changed(g_before, model.generator.trainable_variables))
    assert all(changed(d_before, model.discriminator.trainable_variables))
    assert int(model.d_optimizer.iterations) == 1 and int(model.g_optimizer.iterations) == 0


@pytest.mark.parametrize("kind", ["dcgan", "cgan", "acgan"])
def test_generator_step_updates_only_the_generator(kind):
    model = make_model(kind)
    model.compile()
    _, labels = batch()
    g_before = values(model.generator.trainable_variables)
    d_before = values(model.discriminator.trainable_variables)
    model.generator_step(BATCH, None if kind == "dcgan" else tf.cast(labels, tf.int32))
    assert not any(changed(d_before, model.discriminator.trainable_variables))
    assert all(changed(g_before, model.generator.trainable_variables))
    assert int(model.g_optimizer.iterations) == 1 and int(model.d_optimizer.iterations) == 0


def test_cgan_cdx_ablation_trains_with_an_image_only_discriminator():
    model = make_model("cgan", condition_discriminator=False)
    model.compile()
    assert len(model.discriminator.inputs) == 1
    logs = model.train_step(batch())
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake"}


def test_cgan_rejects_a_discriminator_that_does_not_match_condition_flag():
    generator = gan_networks.build_generator(LATENT, ngf=4, num_classes=CLASSES)
    with pytest.raises(ValueError, match="2 input"):
        CGAN(generator, gan_networks.build_discriminator(ndf=4), CLASSES, condition_discriminator=True)
    with pytest.raises(ValueError, match="1 input"):
        CGAN(
            generator,
            gan_networks.build_conditional_discriminator(CLASSES, ndf=4),
            CLASSES,
            condition_discriminator=False,
        )


def test_acgan_rejects_class_head_of_wrong_size():
    generator = gan_networks.build_generator(LATENT, ngf=4, num_classes=CLASSES)
    discriminator = gan_networks.build_auxiliary_classifier_discriminator(num_classes=5, ndf=4)
    with pytest.raises(ValueError, match="5 outputs but num_classes=10"):
        ACGAN(generator, discriminator, CLASSES)


def test_conditional_models_need_labels_in_the_batch():
    model = make_model("cgan")
    model.compile()
    with pytest.raises(ValueError, match="without labels"):
        model.train_step(batch()[0])


def test_compile_rejects_unknown_generator_loss_and_bad_smoothing():
    model = make_model("dcgan")
    with pytest.raises(ValueError, match="generator_loss must be one of"):
        model.compile(generator_loss="wasserstein")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\)"):
        model.compile(label_smoothing=1.0)


def test_noise_is_reproducible_from_the_seed():
    first, second = make_model("dcgan", seed=3), make_model("dcgan", seed=3)
    other = make_model("dcgan", seed=4)
    np.testing.assert_array_equal(first.sample_noise(5), second.sample_noise(5))
    assert not np.array_equal(first.sample_noise(5), other.sample_noise(5))


def test_repeated_discriminator_steps_lower_the_discriminator_loss():
    model = make_model("dcgan", init="keras_default")
    model.compile(d_optimizer=keras.optimizers.Adam(1e-2, beta_1=0.5))
    images, _ = batch()
    first = float(model.discriminator_step(images)["d_loss"])
    for _ in range(15):
        last = float(model.discriminator_step(images)["d_loss"])
    assert last < 0.5 * first


@pytest.mark.parametrize("kind", ["dcgan", "cgan", "acgan"])
def test_fit_runs_two_steps_and_reports_every_tracker(kind):
    model = make_model(kind)
    model.compile()
    images, labels = batch()
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    if kind == "dcgan":
        dataset = dataset.map(lambda x, y: x)  # unconditional: images only
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    assert set(history.history) == set(TRACKERS[kind])
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert int(model.d_optimizer.iterations) == 2 and int(model.g_optimizer.iterations) == 2


@pytest.mark.parametrize("kind", ["dcgan", "acgan"])
def test_test_step_reports_the_same_trackers_without_updating_weights(kind):
    model = make_model(kind)
    model.compile()
    before = values(model.trainable_variables)
    logs = model.test_step(batch())
    assert set(logs) == set(TRACKERS[kind])
    assert not any(changed(before, model.trainable_variables))


def test_generate_returns_images_in_range_and_conditional_generate_needs_labels():
    model = make_model("cgan")
    images = model.generate(model.sample_noise(3), tf.constant([0, 1, 2]))
    assert images.shape == (3, 32, 32, 1)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    with pytest.raises(ValueError, match="needs labels"):
        model.generate(model.sample_noise(3))
    assert model.sample_labels(100).numpy().max() < CLASSES


@pytest.mark.parametrize("kind", ["dcgan", "cgan", "acgan"])
def test_get_config_rebuilds_the_same_model(kind):
    model = make_model(kind, seed=3)
    clone = type(model).from_config(model.get_config())
    assert type(clone) is type(model) and clone.seed == 3
    assert [tuple(v.shape) for v in clone.generator.weights] == [tuple(v.shape) for v in model.generator.weights]
    assert [tuple(v.shape) for v in clone.discriminator.weights] == [
        tuple(v.shape) for v in model.discriminator.weights
    ]
    assert [m.name for m in clone.metrics] == list(TRACKERS[kind])
    if kind != "dcgan":
        assert clone.num_classes == CLASSES


def test_acgan_accuracies_are_keras_metrics_of_the_class_head():
    model = make_model("acgan")
    model.compile(d_optimizer=keras.optimizers.SGD(0.0), g_optimizer=keras.optimizers.SGD(0.0))
    images, labels = batch()
    logs = model.test_step((images, labels))
    _, real_class_logits = model.discriminator(images, training=False)
    expected = np.mean(np.argmax(real_class_logits.numpy(), -1) == labels.numpy())
    assert float(logs["class_acc_real"]) == pytest.approx(expected)
    assert isinstance(model.class_acc_real, keras.metrics.SparseCategoricalAccuracy)
