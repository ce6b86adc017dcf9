"""Mixed precision: every method trains a few steps in bfloat16 and float16 with float32 outputs.

Also: float16 steps are loss-scaled (one SGD step matches float32's), and a
run resumes from a float32 checkpoint in mixed_bfloat16.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda import precision, runner
from kerasda.models import ADDA, PixelDA, PixelDAConfig, build_digits_dann, build_gan, build_vae
from kerasda.networks.adda import build_source_networks
from kerasda.networks.digits import build_digits_classifier

MIXED = ("mixed_bfloat16", "mixed_float16")
BATCH = 4


@pytest.fixture(autouse=True)
def float32_after():
    yield
    precision.set_precision("float32")


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (BATCH, *shape)).astype("float32")


def _labels(seed=0):
    return np.random.default_rng(seed).integers(0, 10, BATCH)


def _adaptation_batch(shape):
    return (_images(shape, 1), _labels(1)), _images(shape, 2)


def _classifier():
    model = build_digits_classifier((28, 28, 3))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, (_images((28, 28, 3)), _labels()), lambda: model(_images((28, 28, 3)))


def _dann():
    model = build_digits_dann((28, 28, 3), padding="valid", total_steps=10)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    return model, _adaptation_batch((28, 28, 3)), lambda: model.classifier(_images((28, 28, 3)))


def _adda():
    encoder, classifier = build_source_networks((28, 28, 3), 10, padding="valid")
    model = ADDA(encoder, classifier)
    model.compile()
    return model, _adaptation_batch((28, 28, 3)), lambda: model.classifier(_images((28, 28, 3)))


def _pixelda():
    config = PixelDAConfig(
        image_shape=(8, 8, 3), noise_dim=3, generator_filters=4, generator_blocks=1, discriminator_filters=4
    )
    model = PixelDA(config)
    model.compile()
    return model, _adaptation_batch((8, 8, 3)), lambda: model.adapt(_images((8, 8, 3)))


def _gan(kind):
    def build():
        model = build_gan(kind, 4, 4, 4, (8, 8, 1), 10)
        model.compile()
        data = (_images((8, 8, 1)), _labels())
        noise = np.zeros((BATCH, 4), "float32")
        if kind == "dcgan":
            return model, data, lambda: model.generate(noise)
        return model, data, lambda: model.generate(noise, _labels())

    return build


def _vae():
    model = build_vae((8, 8, 3), latent_dim=2, seed=0, free_bits=0.1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = (_images((8, 8, 3)) + 1) / 2  # the VAE works in [0, 1]
    return model, images, lambda: model.reconstruct(images)


METHODS = {
    "source_only": _classifier,
    "dann": _dann,
    "adda": _adda,
    "pixelda": _pixelda,
    "dcgan": _gan("dcgan"),
    "cgan": _gan("cgan"),
    "acgan": _gan("acgan"),
    "vae": _vae,
}


@pytest.mark.parametrize("policy", MIXED)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_mixed_precision_trains_with_finite_losses_and_float32_outputs(method, policy):
    precision.set_precision(policy)
    model, batch, outputs = METHODS[method]()
    compute = policy.removeprefix("mixed_")
    layer_dtypes = {layer.compute_dtype for layer in model._flatten_layers() if layer.weights}
    assert compute in layer_dtypes  # the policy reached the networks
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    before = [v.numpy().copy() for v in model.trainable_variables]
    step = tf.function(model.train_step)
    for _ in range(2):
        logs = step(batch)
    assert logs
    for name, value in logs.items():
        assert value.dtype == tf.float32, name
        assert np.isfinite(float(value)), f"{name} = {float(value)}"
    moved = [not np.allclose(a, v.numpy()) for a, v in zip(before, model.trainable_variables)]
    assert sum(moved) >= len(moved) // 2
    assert keras.ops.convert_to_numpy(outputs()).dtype == np.float32


def test_float16_optimizers_are_loss_scaled():
    precision.set_precision("mixed_float16")
    model, *_ = _dann()
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(_pixelda()[0].d_optimizer, keras.optimizers.LossScaleOptimizer)
    precision.set_precision("mixed_bfloat16")
    assert not isinstance(_dann()[0].optimizer, keras.optimizers.LossScaleOptimizer)


def _one_sgd_step_update(policy, weights, batch):
    precision.set_precision(policy)
    keras.utils.set_random_seed(0)
    model = build_digits_dann((28, 28, 3), padding="valid", total_steps=10, lambda_schedule="constant")
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    if weights is not None:
        model.set_weights(weights)
    start = model.get_weights()
    tf.function(model.train_step)(batch)
    return start, [(b - a) / 0.1 for a, b in zip(model.get_weights(), start)]


def test_float16_step_is_unscaled_to_float32_gradients():
    """A scaled loss with no unscaling would give 2**15 x the gradients; none would underflow."""
    batch = _adaptation_batch((28, 28, 3))
    weights, reference = _one_sgd_step_update("float32", None, batch)
    _, half = _one_sgd_step_update("mixed_float16", weights, batch)
    kernels = [i for i, g in enumerate(reference) if g.ndim >= 2]
    for i in kernels:
        norm = np.linalg.norm(reference[i])
        assert norm > 0
        assert np.linalg.norm(half[i]) / norm == pytest.approx(1.0, abs=0.1)
        assert np.linalg.norm(half[i] - reference[i]) / norm < 0.15


def test_run_resumes_a_float32_checkpoint_in_bfloat16_then_float16_then_float32(tmp_path):
    dataset = tf.data.Dataset.from_tensors(_adaptation_batch((28, 28, 3))).repeat()

    def train(policy, max_steps):
        precision.set_precision(policy)
        model, *_ = _dann()
        run = runner.Run(
            runner.RunConfig(
                "precision", output_dir=str(tmp_path), max_steps=max_steps, log_every=1, checkpoint_every=2
            )
        )
        return model, run, run.train(model, dataset)

    model32, _, _ = train("float32", 2)
    saved = [v.numpy() for v in model32.trainable_variables]
    model16, run, result = train("mixed_bfloat16", 4)
    assert run.initial_step == 2 and result.steps == 4
    assert int(model16.optimizer.iterations) == 4  # the optimizer state came back too
    assert [r["step"] for r in result.history] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) for r in result.history)
    assert all(v.dtype == "float32" for v in model16.trainable_variables)
    # The bfloat16 steps started from the float32 weights, not from a fresh initialisation.
    fresh = [v.numpy() for v in _dann()[0].trainable_variables]
    after = [v.numpy() for v in model16.trainable_variables]
    distance_saved = sum(np.abs(a - s).sum() for a, s in zip(after, saved))
    distance_fresh = sum(np.abs(a - f).sum() for a, f in zip(after, fresh))
    assert distance_saved < 0.5 * distance_fresh

    # float16 (a loss-scaled optimizer) resumes the bfloat16 checkpoint, and float32 resumes its one.
    for policy, steps in (("mixed_float16", 6), ("float32", 8)):
        model, run, result = train(policy, steps)
        assert run.initial_step == steps - 2 and result.steps == steps
        assert int(model.optimizer.iterations) == steps
        assert all(np.isfinite(r["loss"]) for r in result.history)
    assert isinstance(train("mixed_float16", 8)[0].optimizer, keras.optimizers.LossScaleOptimizer)
