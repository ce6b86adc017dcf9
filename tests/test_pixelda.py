"""PixelDA model: losses, networks, and which variables each step may change."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda import losses, runner
from kerasda.layers.residual import ResidualBlock
from kerasda.models import PixelDA, PixelDAConfig
from kerasda.networks import pixelda

BATCH = 4


def tiny_config(**overrides):
    """A PixelDA small enough for unit tests on 2 CPU cores."""
    values = dict(generator_filters=8, generator_blocks=1, discriminator_filters=8)
    values.update(overrides)
    return PixelDAConfig(**values)


def tiny_model(d_optimizer=None, g_optimizer=None, seed=0, **overrides):
    keras.utils.set_random_seed(seed)
    model = PixelDA(tiny_config(**overrides), seed=seed)
    model.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer)
    return model


def batch(seed=0):
    """((source_images, source_labels), target_images): digit-like bars and noisy colour images."""
    rng = np.random.default_rng(seed)
    source = -np.ones((BATCH, 32, 32, 3), np.float32)
    labels = rng.integers(0, 10, BATCH)
    for i, label in enumerate(labels):
        source[i, 6:26, 2 + 2 * label : 6 + 2 * label, :] = 1.0
    target = rng.uniform(-1, 1, (BATCH, 32, 32, 3)).astype(np.float32)
    return (tf.constant(source), tf.constant(labels, tf.int64)), tf.constant(target)


def snapshot(variables):
    return [v.numpy().copy() for v in variables]


def changed(variables, before):
    """One bool per variable: did any entry change?"""
    return [not np.array_equal(v.numpy(), b) for v, b in zip(variables, before)]


def train_on_one_batch(model, data, steps):
    """Runs train_step `1 + steps` times on `data`: (the first step's logs, the last step's)."""
    step = tf.function(model.train_step)
    first = logs = step(data)
    for _ in range(steps):
        model.reset_metrics()
        logs = step(data)
    return first, logs


def task_variables(model):
    task_ids = {id(v) for v in model.source_classifier.trainable_variables + model.task_classifier.trainable_variables}
    return [v for v in model.discriminator_step_variables if id(v) in task_ids]


# ----------------------------------------------------------------------------- losses
def test_content_similarity_loss_matches_hand_computed_masked_pmse():
    # 2x2 grey source (3 equal channels): foreground (> 0) = pixels (0, 0) and (1, 0).
    grey = np.array([[1.0, -1.0], [0.5, -1.0]], np.float32)
    source = np.repeat(grey[None, :, :, None], 3, axis=-1)
    generated = np.full_like(source, 0.9)  # the background pixels must not matter
    generated[0, 0, 0, :] = 0.5  # d = -0.5 on 3 entries
    generated[0, 1, 0, :] = 0.5  # d = 0 on 3 entries
    # k = 6 masked entries: mean(d^2) - mean(d)^2 = 0.75/6 - (1.5/6)^2 = 0.0625.
    loss = losses.content_similarity_loss(source, generated)
    np.testing.assert_allclose(float(loss), 0.0625, rtol=1e-6)

    # Pairwise MSE ignores a uniform shift of the whole foreground.
    shifted = np.where(source > 0, source - 0.3, 0.7).astype(np.float32)
    np.testing.assert_allclose(float(losses.content_similarity_loss(source, shifted)), 0.0, atol=1e-6)


def test_foreground_mask_marks_source_pixels_above_threshold():
    images = np.array([[[[-1.0, -1.0, -1.0], [0.2, 0.2, 0.2]]]], np.float32)
    np.testing.assert_array_equal(losses.foreground_mask(images, 0.0).numpy()[..., 0], [[[0, 1]]])
    np.testing.assert_array_equal(losses.foreground_mask(images, 0.5).numpy()[..., 0], [[[0, 0]]])


# --------------------------------------------------------------------------- networks
def test_generator_maps_source_and_noise_to_images_in_tanh_range():
    model = PixelDA(tiny_config())
    (source, _), _ = batch()
    noise_a = np.full((BATCH, 10), 1.0, np.float32)
    noise_b = np.full((BATCH, 10), -1.0, np.float32)
    out_a = model.adapt(source * 100.0, noise_a, training=True).numpy()  # saturate tanh
    out_b = model.adapt(source, noise_b).numpy()
    assert out_a.shape == out_b.shape == (BATCH, 32, 32, 3)
    assert out_a.min() >= -1.0 and out_a.max() <= 1.0
    assert out_b.min() >= -1.0 and out_b.max() <= 1.0
    # The noise is an input that matters, so one digit has many renderings.
    assert not np.allclose(model.adapt(source, noise_a).numpy(), out_b)


def test_discriminator_doubles_filters_until_map_is_at_most_4x4():
    disc = pixelda.build_discriminator((32, 32, 3), filters=8)
    convs = [layer for layer in disc.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [8, 16, 32, 64]
    assert [c.strides for c in convs] == [(1, 1), (2, 2), (2, 2), (2, 2)]
    assert convs[-1].output.shape[1:3] == (4, 4)
    norms = [layer for layer in disc.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 3  # every conv but the first
    assert disc.output.shape[1:] == (1,)


def test_private_shared_classifier_shares_only_upper_layers():
    source_clf, task_clf = pixelda.build_task_classifiers(kind="private_shared")
    source_ids = {id(v) for v in source_clf.trainable_variables}
    task_ids = {id(v) for v in task_clf.trainable_variables}
    shared = source_ids & task_ids
    # conv1 kernel+bias are private; conv2 and the three dense layers are shared.
    assert len(source_ids - shared) == len(task_ids - shared) == 2
    assert len(shared) == 8
    images = tf.zeros([2, 32, 32, 3])
    assert source_clf(images).shape == task_clf(images).shape == (2, 10)

    unified_source, unified_task = pixelda.build_task_classifiers(kind="unified")
    assert unified_source is unified_task


def test_residual_block_adds_its_input_and_round_trips_config():
    block = ResidualBlock(4, kernel_size=3)
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 4)).astype(np.float32)
    block(x)
    for conv in (block.conv1, block.conv2):
        conv.kernel.assign(np.zeros(conv.kernel.shape, np.float32))
    # Zero convs -> BN(0) = beta = 0 -> the block is the identity (the skip path).
    np.testing.assert_allclose(block(x, training=False).numpy(), x, atol=1e-6)
    clone = ResidualBlock.from_config(block.get_config())
    assert (clone.filters, clone.kernel_size, clone.batch_norm_momentum) == (4, 3, 0.9)
    with pytest.raises(ValueError, match="needs 4 input channels"):
        ResidualBlock(4)(np.zeros((1, 5, 5, 3), np.float32))


def test_config_validation_names_the_bad_value():
    with pytest.raises(ValueError, match="classifier must be one of .* got 'shared'"):
        PixelDAConfig(classifier="shared")
    with pytest.raises(ValueError, match="generator_filters must be >= 1, got 0"):
        PixelDAConfig(generator_filters=0)
    with pytest.raises(ValueError, match="discriminator_dropout_rate"):
        PixelDAConfig(discriminator_dropout_rate=1.0)
    with pytest.raises(ValueError, match="semantic_loss_weight > 0 needs classifier='private_shared'"):
        PixelDAConfig(classifier="unified", semantic_loss_weight=0.1)


# ------------------------------------------------------------------------------ steps
def test_discriminator_step_changes_discriminator_and_task_classifier_not_generator():
    model = tiny_model()
    (source, labels), target = batch()
    generated = model.adapt(source)
    g_vars, d_vars, t_vars = (
        model.generator.variables,  # trainable and batch-norm statistics
        model.discriminator.trainable_variables,
        task_variables(model),
    )
    before = [snapshot(g_vars), snapshot(d_vars), snapshot(t_vars)]
    model.discriminator_step(source, labels, target, generated)
    assert not any(changed(g_vars, before[0]))
    assert all(changed(d_vars, before[1]))
    assert all(changed(t_vars, before[2]))


def test_generator_step_changes_only_generator_variables():
    # With D/T's optimizer frozen, whatever a train_step changes comes from the G step.
    model = tiny_model(d_optimizer=keras.optimizers.Adam(0.0))
    g_vars = model.generator.trainable_variables
    dt_vars = model.discriminator_step_variables
    before_g, before_dt = snapshot(g_vars), snapshot(dt_vars)
    model.train_step(batch())
    assert all(changed(g_vars, before_g))
    assert not any(changed(dt_vars, before_dt))


def test_domain_loss_trains_only_discriminator_and_task_loss_only_task_classifier():
    (source, labels), target = batch()
    no_task = tiny_model(source_task_loss_weight=0.0, generated_task_loss_weight=0.0)
    t_before = snapshot(task_variables(no_task))
    no_task.discriminator_step(source, labels, target, no_task.adapt(source))
    assert not any(changed(task_variables(no_task), t_before))

    no_domain = tiny_model(domain_loss_weight=0.0)
    d_before = snapshot(no_domain.discriminator.trainable_variables)
    no_domain.discriminator_step(source, labels, target, no_domain.adapt(source))
    assert not any(changed(no_domain.discriminator.trainable_variables, d_before))


def test_train_step_reduces_task_loss_on_a_fixed_batch():
    first, logs = train_on_one_batch(tiny_model(), batch(), steps=15)
    assert float(logs["source_task_loss"]) < 0.5 * float(first["source_task_loss"])
    assert np.isfinite([float(v) for v in logs.values()]).all()


def test_semantic_loss_is_the_source_pathway_cross_entropy_on_generated_images():
    (source, labels), _ = batch()
    weight = 0.5
    anchored = tiny_model(semantic_loss_weight=weight)
    plain = tiny_model(semantic_loss_weight=0.0)  # same seed: the same initial weights
    generated = anchored.adapt(source, noise=np.zeros((BATCH, 10), np.float32))
    total, terms = anchored.generator_step_losses(source, labels, generated, training=False)
    plain_total, plain_terms = plain.generator_step_losses(source, labels, generated, training=False)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        labels, anchored.source_classifier(generated, training=False)
    )
    np.testing.assert_allclose(float(terms["semantic_loss"]), float(expected), rtol=1e-5)
    assert float(plain_terms["semantic_loss"]) == 0.0
    np.testing.assert_allclose(float(total), float(plain_total) + weight * float(expected), rtol=1e-5)


def test_semantic_loss_alone_trains_the_generator_towards_the_source_reading():
    # Only the semantic term drives G, and D/T stand still: its loss on a fixed batch must fall.
    model = tiny_model(
        d_optimizer=keras.optimizers.Adam(0.0),
        style_transfer_loss_weight=0.0,
        task_loss_in_g_weight=0.0,
        semantic_loss_weight=1.0,
        learning_rate=0.01,
    )
    source_before = snapshot(model.source_classifier.variables)
    first, logs = train_on_one_batch(model, batch(), steps=30)
    # An untrained source pathway gives near-uniform logits, so the fall is slow (2.30 -> ~1.98).
    assert float(logs["semantic_loss"]) < 0.9 * float(first["semantic_loss"])
    assert not any(changed(model.source_classifier.variables, source_before))


def test_semantic_loss_refuses_one_classifier_for_both_domains():
    tower = pixelda.build_task_classifiers(kind="unified")[0]
    with pytest.raises(ValueError, match="separate source and task classifiers"):
        PixelDA(tiny_config(semantic_loss_weight=0.1), source_classifier=tower, task_classifier=tower)


def test_train_step_refuses_target_labels():
    model = tiny_model()
    (source, labels), target = batch()
    with pytest.raises(ValueError, match="must not see target labels"):
        model.train_step(((source, labels), (target, labels)))


def test_fit_runs_two_steps_and_reports_every_loss_and_accuracy():
    model = tiny_model()
    dataset = tf.data.Dataset.from_tensors(batch()).repeat()
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0).history
    expected = {
        "d_loss",
        "domain_loss",
        "source_task_loss",
        "generated_task_loss",
        "discriminator_accuracy",
        "source_accuracy",
        "generated_accuracy",
        "g_loss",
        "style_transfer_loss",
        "content_loss",
        "g_task_loss",
        "semantic_loss",
    }
    assert set(history) == expected
    assert all(np.isfinite(values[0]) for values in history.values())
    assert int(model.g_optimizer.iterations) == int(model.d_optimizer.iterations) == 2


def test_evaluate_reports_target_accuracy_only_when_target_labels_are_given():
    model = tiny_model()
    (source, labels), target = batch()
    unlabeled = model.evaluate(tf.data.Dataset.from_tensors(((source, labels), target)), verbose=0, return_dict=True)
    assert "target_accuracy" not in unlabeled
    labeled = model.evaluate(
        tf.data.Dataset.from_tensors(((source, labels), (target, labels))),
        verbose=0,
        return_dict=True,
    )
    assert 0.0 <= labeled["target_accuracy"] <= 1.0


def test_classify_routes_domains_through_their_classifiers():
    model = PixelDA(tiny_config())
    images = batch()[1]
    np.testing.assert_allclose(model.classify(images), model.task_classifier(images), rtol=1e-6)
    np.testing.assert_allclose(model.classify(images, "source"), model.source_classifier(images), rtol=1e-6)
    with pytest.raises(ValueError, match="domain must be"):
        model.classify(images, "mnist")


def test_runner_checkpoint_restores_both_optimizers_and_resumes(tmp_path):
    dataset = tf.data.Dataset.from_tensors(batch()).repeat()

    def train(max_steps, seed):
        config = runner.RunConfig(
            "pixelda_test",
            output_dir=str(tmp_path),
            max_steps=max_steps,
            log_every=1,
            eval_every=100,
            checkpoint_every=1,
            seed=seed,
        )
        model = tiny_model(seed=seed)
        runner.Run(config).train(model, dataset)
        return model

    first = train(2, seed=0)
    resumed = train(3, seed=1)  # different initialisation, overwritten by the restore
    assert int(resumed.g_optimizer.iterations) == int(resumed.d_optimizer.iterations) == 3
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 3
    # Step 3 started from step 2's weights: close to them, far from a fresh seed-1 init.
    for a, b in zip(first.generator.trainable_variables, resumed.generator.trainable_variables):
        assert np.abs(a.numpy() - b.numpy()).max() < 0.05


def test_get_config_rebuilds_the_same_model():
    model = PixelDA(tiny_config(), seed=5)
    clone = PixelDA.from_config(model.get_config())
    assert clone.hparams == model.hparams and clone.seed == 5
    assert [tuple(v.shape) for v in clone.weights] == [tuple(v.shape) for v in model.weights]


def test_accuracies_are_keras_metrics_on_the_step_outputs():
    model = tiny_model(d_optimizer=keras.optimizers.SGD(0.0), g_optimizer=keras.optimizers.SGD(0.0))
    (source, labels), target = batch()
    logs = model.test_step(((source, labels), (target, labels)))
    source_logits = model.source_classifier(source, training=False).numpy()
    target_logits = model.task_classifier(target, training=False).numpy()
    assert float(logs["source_accuracy"]) == pytest.approx(np.mean(source_logits.argmax(-1) == labels.numpy()))
    assert float(logs["target_accuracy"]) == pytest.approx(np.mean(target_logits.argmax(-1) == labels.numpy()))
    assert isinstance(model.discriminator_accuracy, keras.metrics.BinaryAccuracy)


def test_train_step_runs_the_generator_forward_once():
    model = tiny_model()
    calls = []
    forward = model.generator.call

    def counting_call(*args, **kwargs):
        calls.append(kwargs.get("training"))
        return forward(*args, **kwargs)

    model.generator.call = counting_call
    logs = model.train_step(batch())
    assert len(calls) == 1
    assert int(model.d_optimizer.iterations) == int(model.g_optimizer.iterations) == 1
    assert np.isfinite(float(logs["g_loss"])) and np.isfinite(float(logs["d_loss"]))
