"""MirroredStrategy over 2 logical CPUs trains exactly like one device on the same global batch.

Logical devices must be configured before TensorFlow initialises its devices,
which the rest of the test session has long done; so one child process
(this file run as a script) builds every method twice, takes one SGD step on
one device and one on two replicas from the same weights and batch, and
prints the losses and the implied gradients (weight change / learning rate).
The tests compare them.
"""

import json
import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest

LEARNING_RATE = 0.1
REPO = pathlib.Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- child process
def _child():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from kerasda import distribute, precision
    from kerasda.layers import Sampling
    from kerasda.models import PixelDA, PixelDAConfig
    from kerasda.models.batch_statistics import adapt_batch_norm_statistics, batch_norm_layers
    from kerasda.models.builders import build_digits_dann, build_vae
    from kerasda.models.dcgan import DCGAN
    from kerasda.networks import gan as gan_networks
    from kerasda.networks.digits import build_digits_classifier

    local = threading.local()  # per replica thread: the noise of this replica's batch

    class NoiseFromBatchDCGAN(DCGAN):
        """DCGAN whose z comes with the batch, so both runs draw the same z per example."""

        def train_step(self, data):
            images, local.noise = data
            return super().train_step(images)

        def sample_noise(self, batch_size):
            return local.noise

    class NoiseFromBatchPixelDA(PixelDA):
        def train_step(self, data):
            (source, labels), (target, local.noise) = data
            return super().train_step(((source, labels), target))

        def sample_noise(self, batch_size):
            return local.noise

    class NoiseFromBatchSampling(Sampling):
        def call(self, inputs):
            mean, log_variance = inputs
            return mean + tf.exp(0.5 * log_variance) * local.noise

    class NoiseFromBatchVAE:
        """A VAE whose reparameterisation epsilon comes with the batch."""

        @staticmethod
        def build():
            model = build_vae((8, 8, 3), latent_dim=2, seed=0)
            model.sampling = NoiseFromBatchSampling(dtype="float32")
            plain_step = model.train_step

            def train_step(data):
                images, local.noise = data
                return plain_step(images)

            model.train_step = train_step
            model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
            return model

    rng = np.random.default_rng(0)
    batch = 8

    def images(shape):
        return rng.uniform(-1, 1, (batch, *shape)).astype("float32")

    def build_dann():
        model = build_digits_dann((28, 28, 3), padding="valid", total_steps=4, lambda_schedule="constant")
        model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
        return model

    def build_classifier():  # Keras' own train_step (compile with a loss), as the source-only app
        model = build_digits_classifier((28, 28, 3))
        model.compile(
            optimizer=keras.optimizers.SGD(LEARNING_RATE),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        return model

    def build_gan():
        model = NoiseFromBatchDCGAN(
            gan_networks.build_generator(latent_dim=4, ngf=4, image_shape=(8, 8, 1)),
            gan_networks.build_discriminator(ndf=4, image_shape=(8, 8, 1)),
        )
        model.compile(keras.optimizers.SGD(LEARNING_RATE), keras.optimizers.SGD(LEARNING_RATE))
        return model

    def build_pixelda():
        config = PixelDAConfig(
            image_shape=(8, 8, 3),
            noise_dim=3,
            generator_filters=4,
            generator_blocks=1,
            discriminator_filters=4,
            discriminator_dropout_rate=0.0,
            discriminator_noise_stddev=0.0,
        )
        model = NoiseFromBatchPixelDA(config)
        model.compile(keras.optimizers.SGD(LEARNING_RATE), keras.optimizers.SGD(LEARNING_RATE))
        return model

    dann_batch = ((images((28, 28, 3)), rng.integers(0, 10, batch)), images((28, 28, 3)))
    vae_batch = ((images((8, 8, 3)) + 1) / 2, rng.normal(size=(batch, 2)).astype("float32"))
    cases = {
        "dann": (build_dann, dann_batch),
        "dann_float16": (build_dann, dann_batch),  # loss-scaled optimizer under the strategy
        "source_only": (build_classifier, (images((28, 28, 3)), rng.integers(0, 10, batch))),
        "dcgan": (build_gan, (images((8, 8, 1)), rng.normal(size=(batch, 4)).astype("float32"))),
        "vae": (NoiseFromBatchVAE.build, vae_batch),
        "pixelda": (
            build_pixelda,
            (
                (images((8, 8, 3)), rng.integers(0, 10, batch)),
                (images((8, 8, 3)), rng.uniform(-1, 1, (batch, 3)).astype("float32")),
            ),
        ),
    }
    mirrored = distribute.build_strategy("mirrored", ["/cpu:0", "/cpu:1"])
    results = {}
    for name, (build, data) in cases.items():
        precision.set_precision("mixed_float16" if name.endswith("float16") else "float32")
        keras.utils.set_random_seed(1)
        single = build()
        with mirrored.scope():
            replicated = build()
        synchronized = distribute.synchronize_batch_norm(replicated, mirrored)
        replicated.set_weights(single.get_weights())
        before = [w.copy() for w in single.get_weights()]
        dataset = tf.data.Dataset.from_tensors(data)
        one = tf.function(lambda b: distribute.run_step(single, b, None))(next(iter(dataset)))
        two_iter = iter(distribute.distribute_dataset(dataset, mirrored))
        two = tf.function(lambda it: distribute.run_step(replicated, next(it), mirrored))(two_iter)
        run = {}
        for label, model, logs in (("one", single, one), ("two", replicated, two)):
            gradients = [((b - a) / LEARNING_RATE).ravel().tolist() for b, a in zip(before, model.get_weights())]
            run[label] = {"logs": {k: float(v) for k, v in logs.items()}, "gradients": gradients}
        run["synchronized_batch_norms"] = synchronized
        results[name] = run

    # AdaBN (apps.train_dann --target_batch_statistics) runs eagerly, outside the strategy's scope.
    precision.set_precision("float32")
    keras.utils.set_random_seed(1)
    single = build_digits_dann((28, 28, 3), padding="valid", batch_norm=True, total_steps=4)
    with mirrored.scope():
        replicated = build_digits_dann((28, 28, 3), padding="valid", batch_norm=True, total_steps=4)
    replicated.set_weights(single.get_weights())
    target_images = images((28, 28, 3)) * 0.5 + 0.3
    means = {}
    for label, model in (("one", single), ("two", replicated)):
        adapt_batch_norm_statistics(model.feature_extractor, target_images, batch_size=5)
        moving_mean = batch_norm_layers(model.feature_extractor)[-1].moving_mean.value
        means[label] = [replica.numpy().tolist() for replica in getattr(moving_mean, "values", [moving_mean])]
    results["adabn"] = means
    print("RESULTS " + json.dumps(results))


# ------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def results():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    completed = subprocess.run(
        [sys.executable, __file__], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULTS ")]
    assert completed.returncode == 0 and lines, completed.stderr[-4000:]
    return json.loads(lines[-1][len("RESULTS ") :])


@pytest.mark.parametrize(
    "method, tolerance",
    [
        ("dann", 1e-4),
        ("source_only", 1e-4),
        ("dcgan", 1e-4),
        ("pixelda", 1e-4),
        ("vae", 1e-4),
        ("dann_float16", 2e-2),  # float16 sums in a different order on two replicas
    ],
)
def test_two_replicas_give_one_devices_losses_and_gradients(results, method, tolerance):
    run = results[method]
    assert run["one"]["logs"].keys() == run["two"]["logs"].keys()
    for key, value in run["one"]["logs"].items():
        assert run["two"]["logs"][key] == pytest.approx(value, rel=tolerance, abs=tolerance / 10), key
    changed = 0
    for one, two in zip(run["one"]["gradients"], run["two"]["gradients"]):
        one, two = np.asarray(one), np.asarray(two)
        scale = max(1.0, np.abs(one).max())
        np.testing.assert_allclose(two, one, rtol=20 * tolerance, atol=2 * tolerance * scale)
        changed += np.abs(one).max() > 0
    assert changed >= 4  # the step moved real weights: the comparison is not of zeros


def test_target_batch_statistics_reach_every_replica(results):
    (one,) = results["adabn"]["one"]
    replicas = results["adabn"]["two"]
    assert len(replicas) == 2
    for replica in replicas:
        np.testing.assert_allclose(replica, one, rtol=1e-4, atol=1e-5)
    assert np.abs(one).max() > 0  # the statistics were set, not left at their initial zeros


def test_batch_norm_layers_are_synchronized_across_replicas(results):
    assert results["dcgan"]["synchronized_batch_norms"] > 0
    assert results["pixelda"]["synchronized_batch_norms"] > 0
    assert results["dann"]["synchronized_batch_norms"] == 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    _child()
