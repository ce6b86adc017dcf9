"""DANN model: one train_step, lambda schedule, reversed domain gradient, no target labels."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda.callbacks.lambda_scheduler import GradientReversalScheduler
from kerasda.data import Domain, TargetLabelAccessError, pipeline
from kerasda.layers.gradient_reversal import GradientReversal
from kerasda.models.batch_statistics import batch_norm_layers
from kerasda.models.builders import build_digits_dann
from kerasda.models.dann import DANN
from kerasda.networks.dann import build_domain_classifier
from kerasda.schedules import AdaptationSchedule, build_optimizer

SHAPE = (16, 16, 3)


def _batch(seed=0, n=4):
    rng = np.random.default_rng(seed)
    source = rng.uniform(-1, 1, (n, *SHAPE)).astype("float32")
    labels = rng.integers(0, 10, n).astype("int64")
    target = rng.uniform(-1, 1, (n, *SHAPE)).astype("float32")
    return (tf.constant(source), tf.constant(labels)), tf.constant(target)


def _dann(total_steps=10, **kwargs):
    keras.utils.set_random_seed(0)
    model = build_digits_dann(SHAPE, 10, total_steps=total_steps, **kwargs)
    model.compile(optimizer=build_optimizer("sgd", 0.01, total_steps=total_steps))
    return model


def _domain(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, *SHAPE), dtype=np.uint8)
    y = rng.integers(0, 10, n)
    y[:10] = np.arange(10)
    return Domain("synthetic", x, y, x[:8], y[:8])


def test_train_step_returns_every_tracker():
    logs = _dann().train_step(_batch())
    assert set(logs) == {"loss", "label_loss", "label_accuracy", "domain_loss", "domain_accuracy", "lambda"}
    assert float(logs["loss"]) == pytest.approx(float(logs["label_loss"]) + float(logs["domain_loss"]), rel=1e-6)
    assert 0.0 <= float(logs["domain_accuracy"]) <= 1.0


def test_lambda_follows_the_paper_schedule_step_by_step():
    model = _dann(total_steps=10, gamma=10.0)
    schedule = AdaptationSchedule(10, gamma=10.0)
    step = tf.function(model.train_step)
    for k in range(4):
        step(_batch(k))
        # lambda for step k is set from optimizer.iterations == k before the update.
        assert float(model.gradient_reversal.lambda_.numpy()) == pytest.approx(float(schedule(k)), abs=1e-6)
    assert int(model.optimizer.iterations.numpy()) == 4


def test_constant_schedule_uses_lambda_max_from_the_first_step():
    model = _dann(lambda_schedule="constant", lambda_max=0.3)
    model.train_step(_batch())
    assert float(model.gradient_reversal.lambda_.numpy()) == pytest.approx(0.3)


def test_domain_gradient_reaches_features_negated_and_scaled_by_lambda():
    """Same weights with and without the GRL: feature-extractor gradients differ by -lambda."""
    with_grl = _dann()
    without = _dann(use_gradient_reversal=False)
    for a, b in zip(with_grl.trainable_variables, without.trainable_variables):
        b.assign(a)
    with_grl.gradient_reversal.set_lambda(0.4)
    data = _batch(3)

    def domain_gradients(model):
        with tf.GradientTape() as tape:
            loss = model.compute_losses(data, training=True)["domain_loss"]
        return tape.gradient(loss, model.trainable_variables)

    g_grl, g_plain = domain_gradients(with_grl), domain_gradients(without)
    features = {id(v) for v in with_grl.feature_extractor.trainable_variables}
    domain = {id(v) for v in with_grl.domain_classifier.trainable_variables}
    checked = 0
    for variable, a, b in zip(with_grl.trainable_variables, g_grl, g_plain):
        if id(variable) in features:
            np.testing.assert_allclose(a.numpy(), -0.4 * b.numpy(), rtol=1e-4, atol=1e-7)
            checked += 1
        elif id(variable) in domain:  # the domain classifier itself learns normally
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-8)
        else:  # the label predictor does not see the domain loss
            assert a is None or not np.any(a.numpy())
    assert checked == 4  # two conv kernels and biases


def test_without_gradient_reversal_there_is_no_grl_and_no_lambda_tracker():
    model = _dann(use_gradient_reversal=False)
    assert model.gradient_reversal is None
    assert "lambda" not in model.train_step(_batch())


def test_target_labels_never_reach_the_loss():
    """Training from an unlabeled target domain works, and never reads its labels."""
    source, target = _domain(seed=1), _domain(seed=2).unlabeled()
    with pytest.raises(TargetLabelAccessError):
        target.y_train
    dataset = pipeline.adaptation_dataset(source, target, batch_size=4, seed=0)
    (_, _), target_images = next(iter(dataset))
    assert target_images.shape == (4, *SHAPE)  # images only: no label tensor on the target side
    model = _dann()
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_loss_is_identical_whatever_the_target_labels_are():
    """The step's signature has no slot for target labels; permuting them changes nothing."""
    rng = np.random.default_rng(0)
    labeled_target = _domain(seed=2)
    permuted = Domain(
        "p",
        labeled_target.x_train,
        rng.permutation(labeled_target.y_train),
        labeled_target.x_test,
        labeled_target.y_test,
    )
    source = _domain(seed=1)
    losses = []
    for target in (labeled_target, permuted):
        model = _dann()
        dataset = pipeline.adaptation_dataset(source, target, batch_size=4, seed=0)
        logs = [model.train_step(batch) for batch in dataset.take(2)]
        losses.append([float(step["loss"]) for step in logs])
    assert losses[0] == losses[1]


def test_fit_runs_two_steps_and_evaluate_mirrors_train_step():
    source, target = _domain(seed=1), _domain(seed=2).unlabeled()
    dataset = pipeline.adaptation_dataset(source, target, batch_size=4, seed=0)
    model = _dann()
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2
    weights = [w.numpy().copy() for w in model.trainable_weights]
    results = model.evaluate(dataset, steps=2, return_dict=True, verbose=0)
    assert {"label_loss", "domain_loss", "domain_accuracy"} <= set(results)
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_label_loss_decreases_on_a_learnable_problem():
    rng = np.random.default_rng(0)
    labels = np.arange(8) % 4
    source = np.zeros((8, *SHAPE), np.float32) - 1
    for i, label in enumerate(labels):
        source[i, :, 4 * label : 4 * label + 4] = 1.0  # a bar whose position is the class
    target = rng.uniform(-1, 1, (8, *SHAPE)).astype("float32")
    data = ((tf.constant(source), tf.constant(labels)), tf.constant(target))
    keras.utils.set_random_seed(0)
    model = build_digits_dann(SHAPE, 4, total_steps=60)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    step = tf.function(model.train_step)
    first = float(model.compute_losses(data, training=False)["label_loss"])
    for _ in range(40):
        step(data)
    last = float(model.compute_losses(data, training=False)["label_loss"])
    assert last < 0.5 * first


def test_classifier_and_call_share_weights_and_embed_returns_features():
    model = _dann()
    (images, _), _ = _batch(n=5)
    np.testing.assert_allclose(model.classifier(images).numpy(), model(images).numpy(), rtol=1e-6)
    model.train_step(_batch())
    np.testing.assert_allclose(model.classifier(images).numpy(), model(images).numpy(), rtol=1e-6)
    features = model.embed(images.numpy(), batch_size=2)
    assert features.shape == (5, 4 * 4 * 48)


def test_saved_dann_reloads_with_weights_lambda_and_optimizer(tmp_path):
    model = _dann()
    step = tf.function(model.train_step)
    for k in range(3):
        step(_batch(k))
    path = tmp_path / "dann.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, DANN)
    assert isinstance(loaded.gradient_reversal, GradientReversal)
    assert float(loaded.gradient_reversal.lambda_.numpy()) == pytest.approx(
        float(model.gradient_reversal.lambda_.numpy())
    )
    assert int(loaded.optimizer.iterations.numpy()) == 3
    (images, _), _ = _batch(9)
    np.testing.assert_allclose(loaded(images).numpy(), model(images).numpy(), rtol=1e-5)
    assert loaded.get_config()["total_steps"] == 10


def test_external_schedule_is_left_to_the_callback():
    source, target = _domain(seed=1), _domain(seed=2).unlabeled()
    dataset = pipeline.adaptation_dataset(source, target, batch_size=4, seed=0)
    model = _dann(lambda_schedule="external")
    model.fit(
        dataset,
        steps_per_epoch=3,
        epochs=1,
        verbose=0,
        callbacks=[GradientReversalScheduler(lambda step: 0.1 * (step + 1))],
    )
    # The callback set lambda = 0.1 * (2 + 1) before the third step.
    assert float(model.gradient_reversal.lambda_.numpy()) == pytest.approx(0.3)


def test_domain_classifier_without_grl_is_rejected_when_reversal_is_asked():
    extractor_dim = 12
    plain = build_domain_classifier(extractor_dim, use_gradient_reversal=False)
    model = build_digits_dann(SHAPE, 10)
    with pytest.raises(ValueError, match="exactly one GradientReversal"):
        DANN(model.feature_extractor, model.label_predictor, plain)
    with pytest.raises(ValueError, match="lambda_schedule"):
        build_digits_dann(SHAPE, 10, lambda_schedule="linear")


@pytest.mark.parametrize(
    "image_size, padding, feature_dim",
    [
        (28, "valid", 4 * 4 * 48),  # Ganin & Lempitsky's MNIST tower
        (32, "valid", 5 * 5 * 48),
        (32, "same", 8 * 8 * 48),  # PixelDA's tower
    ],
)
def test_tower_padding_sets_the_feature_size(image_size, padding, feature_dim):
    model = build_digits_dann((image_size, image_size, 3), 10, padding=padding, input_standardization="image")
    images = tf.zeros([2, image_size, image_size, 3])
    assert model.embed(images).shape == (2, feature_dim)
    assert model.classifier(images).shape == (2, 10)


def test_unknown_padding_is_rejected_with_its_value():
    with pytest.raises(ValueError, match="'full'"):
        build_digits_dann((28, 28, 3), 10, padding="full")


def test_batch_norm_tower_normalises_source_and_target_together():
    """With batch_norm, one train step moves BN statistics towards the mixed source + target batch."""
    model = _dann(batch_norm=True, padding="same")
    bn = batch_norm_layers(model.feature_extractor)
    assert len(bn) == 2
    before = keras.ops.convert_to_numpy(bn[0].moving_mean).copy()
    (source, labels), target = _batch()
    model.train_step(((source, labels), target + 5.0))  # a far-off target batch
    after = keras.ops.convert_to_numpy(bn[0].moving_mean)
    assert not np.allclose(before, after)
    # The plain tower has no batch normalisation at all.
    plain = _dann(padding="same")
    assert not batch_norm_layers(plain.feature_extractor)


def test_separate_domain_batches_normalise_each_domain_with_its_own_statistics():
    """Training-mode source features do not depend on the target batch only when the domains pass apart."""
    (source, labels), target = _batch()
    source_losses = {}
    for separate in (False, True):
        model = _dann(batch_norm=True, padding="same", separate_domain_batches=separate)
        near = model.compute_losses(((source, labels), target), training=True)["label_loss"]
        far = model.compute_losses(((source, labels), target * 3.0 + 5.0), training=True)["label_loss"]
        source_losses[separate] = (float(near), float(far))
    joint_near, joint_far = source_losses[False]
    separate_near, separate_far = source_losses[True]
    assert separate_near == pytest.approx(separate_far, rel=1e-5)
    assert abs(joint_near - joint_far) > 1e-3
    # Without batch normalisation the two ways are the same network and the same loss.
    plain = [
        float(_dann(separate_domain_batches=separate).compute_losses(((source, labels), target), training=True)["loss"])
        for separate in (False, True)
    ]
    assert plain[0] == pytest.approx(plain[1], rel=1e-5)
    assert DANN.from_config(_dann(separate_domain_batches=True).get_config()).separate_domain_batches


def test_feature_dropout_drops_whole_feature_maps_only_while_training():
    model = _dann(padding="same", feature_dropout=0.5)
    images = tf.constant(np.random.default_rng(3).uniform(-1, 1, (8, *SHAPE)).astype("float32"))
    # 16x16 'same' tower: 4x4 positions x 48 maps after the last pooling.
    maps_alive = {
        training: (keras.ops.convert_to_numpy(model.feature_extractor(images, training=training)).reshape(8, 16, 48))
        .any(axis=1)
        .mean()
        for training in (False, True)
    }
    assert maps_alive[False] > 0.8
    assert 0.3 * maps_alive[False] < maps_alive[True] < 0.7 * maps_alive[False]
    np.testing.assert_array_equal(model.classifier(images), model.classifier(images))  # no dropout at inference
    # The same weights as the paper's tower: dropout adds no variable.
    plain = _dann(padding="same")
    assert [w.shape for w in model.feature_extractor.weights] == [w.shape for w in plain.feature_extractor.weights]
    with pytest.raises(ValueError, match="feature_dropout"):
        build_digits_dann(SHAPE, 10, feature_dropout=1.0)


def test_target_entropy_term_is_tracked_and_added_to_the_loss():
    model = _dann(target_entropy_weight=0.5)
    logs = model.train_step(_batch())
    assert "target_entropy" in logs
    entropy = float(logs["target_entropy"])
    assert 0.0 < entropy <= np.log(10.0) + 1e-5
    assert float(logs["loss"]) == pytest.approx(
        float(logs["label_loss"]) + float(logs["domain_loss"]) + 0.5 * entropy, rel=1e-5
    )
    with pytest.raises(ValueError, match="target_entropy_weight"):
        _dann(target_entropy_weight=-1.0)
