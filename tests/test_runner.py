import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda import export, runner
from kerasda.data import pipeline
from kerasda.models.classifiers import build_digits_classifier


def _classifier():
    model = build_digits_classifier((32, 32, 3), 10)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def _dataset(seed=0):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 64)
    return pipeline.labeled_dataset(x, y, 8, seed=seed)


class _InterruptAt(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.step:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_at_its_last_step(tmp_path):
    config = runner.RunConfig("t", output_dir=str(tmp_path), max_steps=8, log_every=2, eval_every=4, checkpoint_every=100)
    run = runner.Run(config)
    model = _classifier()
    with pytest.raises(KeyboardInterrupt):
        run.train(model, _dataset(), callbacks=[_InterruptAt(5)], examples_per_step=8)
    weights_at_interrupt = [w.numpy().copy() for w in model.weights]

    resumed_run = runner.Run(config)
    assert resumed_run.initial_step == 5
    assert resumed_run.data_seed == 5
    resumed = _classifier()
    started = []

    class _RecordStart(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            started.append(batch)

    resumed.optimizer.build(resumed.trainable_variables)
    result = resumed_run.train(resumed, _dataset(), callbacks=[_RecordStart()], examples_per_step=8)
    assert started[0] == 5 and result.steps == 8
    assert int(resumed.optimizer.iterations) == 8  # optimizer state came back too
    # the resumed model started from the interrupted weights, then moved on
    assert not np.allclose(resumed.weights[0].numpy(), weights_at_interrupt[0])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["steps"] == 8 and metrics["wall_seconds"] > 0
    steps = [r["step"] for r in resumed_run.read_history()]
    assert steps == [2, 4, 6, 8]


def test_restored_weights_equal_interrupted_weights(tmp_path):
    config = runner.RunConfig("t", output_dir=str(tmp_path), max_steps=3, checkpoint_every=3)
    model = _classifier()
    runner.Run(config).train(model, _dataset())
    again = _classifier()
    # already at max_steps: restoring only, no further update
    runner.Run(config).train(again, _dataset())
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy())


class _NoisyClassifier(keras.Model):
    """A classifier whose train_step draws noise from a SeedGenerator."""

    def __init__(self):
        super().__init__()
        self.net = build_digits_classifier((32, 32, 3), 10)
        self.seed_generator = keras.random.SeedGenerator(7)

    def compile(self):
        super().compile(optimizer=keras.optimizers.Adam(1e-3))
        self.optimizer.build(self.net.trainable_variables)

    def train_step(self, data):
        x, y = data
        x = x + 0.1 * keras.random.normal(tf.shape(x), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, self.net(x, training=True), from_logits=True)
            )
        grads = tape.gradient(loss, self.net.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.net.trainable_variables))
        return {"loss": loss}


def test_resume_restores_seed_generator_state(tmp_path):
    config = runner.RunConfig("t", output_dir=str(tmp_path), max_steps=4, checkpoint_every=4)
    model = _NoisyClassifier()
    model.compile()
    runner.Run(config).train(model, _dataset())
    state = model.seed_generator.state.numpy().copy()
    assert not np.array_equal(state, _NoisyClassifier().seed_generator.state.numpy())
    again = _NoisyClassifier()
    again.compile()
    runner.Run(config).train(again, _dataset())  # at max_steps: restore only
    np.testing.assert_array_equal(again.seed_generator.state.numpy(), state)


def test_train_logs_loss_to_tensorboard_and_decreasing_loss(tmp_path):
    config = runner.RunConfig("t", output_dir=str(tmp_path), max_steps=40, log_every=10, steps_per_execution=2)
    result = runner.Run(config).train(_classifier(), _dataset(), examples_per_step=8)
    losses = [r["loss"] for r in result.history]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert result.examples_per_second > 0


def test_wall_clock_budget_stops_early_with_a_checkpoint(tmp_path):
    config = runner.RunConfig("t", output_dir=str(tmp_path), max_steps=10_000, checkpoint_every=10_000,
                              max_seconds=1e-6)
    result = runner.Run(config).train(_classifier(), _dataset())
    assert result.steps == 1
    assert runner.Run(config).initial_step == 1


def test_run_config_rejects_non_positive_intervals():
    with pytest.raises(ValueError, match="log_every"):
        runner.RunConfig("t", log_every=0)


def test_export_versions_increase_and_never_overwrite(tmp_path):
    model = _classifier()
    first = export.export_classifier(model, "clf", export_root=tmp_path)
    second = export.export_classifier(model, "clf", export_root=tmp_path)
    assert first.name == "1" and second.name == "2"
    with pytest.raises(FileExistsError, match="already holds"):
        export.export_classifier(model, "clf", export_dir=first)


def test_exported_classifier_predicts_the_same_in_a_fresh_process(tmp_path):
    model = _classifier()
    model.fit(_dataset(), steps_per_epoch=3, epochs=1, verbose=0)
    path = export.export_classifier(model, "clf", export_root=tmp_path)
    images = np.random.default_rng(1).uniform(-1, 1, (5, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    expected = tf.nn.softmax(model(images)).numpy()
    script = (
        "import numpy as np, tensorflow as tf, sys\n"
        f"m = tf.saved_model.load({str(path)!r})\n"
        f"out = m.signatures['serving_default'](images=tf.constant(np.load({str(tmp_path / 'images.npy')!r})))\n"
        f"np.save({str(tmp_path / 'probs.npy')!r}, out['probabilities'].numpy())\n"
        f"np.save({str(tmp_path / 'classes.npy')!r}, out['classes'].numpy())\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    probabilities = np.load(tmp_path / "probs.npy")
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "classes.npy"), expected.argmax(-1))


def test_progress_bar_after_a_resume_times_only_the_new_steps():
    bar = runner.ResumedProgbar(1000, initial_step=500)
    t = bar._start
    bar._estimate_step_duration(501, t + 2.0)  # the first update, slow from tracing
    # 10 steps in 1 s: 0.1 s a step, where a count from step 0 would say 3 s / 511 steps.
    assert bar._estimate_step_duration(511, t + 3.0) == pytest.approx(0.1)
