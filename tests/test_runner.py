import json
import subprocess
import sys
import time
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda import export, runner
from kerasda.callbacks import ClassifierEvaluation, FigureCallback, RunCallback
from kerasda.data import pipeline
from kerasda.data.domain import DIGIT_CLASS_NAMES
from kerasda.networks.digits import build_digits_classifier


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


def _eval_set():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 16)


class _InterruptAt(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.step:
            raise KeyboardInterrupt


def test_interrupted_run_resumes_at_its_last_step(tmp_path):
    config = runner.RunConfig(
        "t", output_dir=str(tmp_path), max_steps=8, log_every=2, eval_every=4, checkpoint_every=100
    )
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


def test_evaluation_is_a_named_event_at_the_steps_it_falls_on(tmp_path):
    # steps_per_execution=3: executions end at 3, 6, 9, 11; eval_every=4 falls inside 4 and 8
    config = runner.RunConfig(
        "t", output_dir=str(tmp_path), max_steps=11, log_every=100, eval_every=4, steps_per_execution=3
    )
    evaluated, epochs = [], []

    class _Evaluated(RunCallback):
        def on_evaluate(self, step, logs=None):
            evaluated.append((step, sorted(logs)))

    class _PlainKeras(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs.append(epoch)

    runner.Run(config).train(_classifier(), _dataset(), callbacks=[_Evaluated(), _PlainKeras()])
    assert evaluated == [(6, ["accuracy", "loss"]), (9, ["accuracy", "loss"])]
    assert epochs == [0, 1]  # plain Keras callbacks: epoch index step // eval_every - 1


def test_throughput_leaves_out_the_first_execution(tmp_path):
    config = runner.RunConfig("t", output_dir=str(tmp_path), max_steps=1)
    result = runner.Run(config).train(_classifier(), _dataset(), examples_per_step=8)
    assert np.isnan(result.examples_per_second)  # one execution: all of it was tracing
    assert json.loads((tmp_path / "metrics.json").read_text())["train_examples_per_second"] is None


def test_wall_clock_budget_stops_early_with_a_checkpoint(tmp_path):
    config = runner.RunConfig(
        "t", output_dir=str(tmp_path), max_steps=10_000, checkpoint_every=10_000, max_seconds=1e-6
    )
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


class _PoisonedClassifier(_NoisyClassifier):
    """Sets its output kernel to NaN at the end of step `poison_at`, as a diverging update would.

    The output layer's, so the next loss is NaN on every host: with oneDNN (AVX512
    hosts) a NaN first conv kernel left the next loss finite.
    """

    def __init__(self, poison_at):
        super().__init__()
        self.poison_at = poison_at

    def train_step(self, data):
        logs = super().train_step(data)
        kernel = next(v for v in reversed(self.net.trainable_variables) if v.path.endswith("kernel"))
        poison = tf.equal(self.optimizer.iterations, self.poison_at)
        kernel.assign(tf.where(poison, tf.fill(tf.shape(kernel), float("nan")), kernel))
        return logs


def _poisoned_run(tmp_path, poison_at, checkpoint_every):
    config = runner.RunConfig(
        "t", output_dir=str(tmp_path), max_steps=20, log_every=1, checkpoint_every=checkpoint_every
    )
    model = _PoisonedClassifier(poison_at)
    model.compile()
    with pytest.raises(runner.TrainingDiverged) as caught:
        runner.Run(config).train(model, _dataset())
    return caught.value, config


def test_nan_loss_stops_the_run_at_its_step_and_keeps_the_last_finite_checkpoint(tmp_path):
    # weights turn NaN at the end of step 5, so step 6's loss is the first NaN
    error, config = _poisoned_run(tmp_path, poison_at=5, checkpoint_every=2)
    assert (error.step, error.checkpoint_step) == (6, 4)
    assert "step 6: loss = nan" in str(error) and "\n" not in str(error)
    assert not (tmp_path / "metrics.json").exists()  # the run did not finish
    history = [json.loads(line)["step"] for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert history == [1, 2, 3, 4, 5]  # step 6, non-finite, is not logged
    resumed = runner.Run(config)
    assert resumed.initial_step == 4
    assert [r["step"] for r in resumed.read_history()] == [1, 2, 3, 4]
    restored = _NoisyClassifier()
    restored.compile()
    checkpoint = tf.train.Checkpoint(model=restored)
    checkpoint.restore(tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))).expect_partial()
    assert all(np.isfinite(w.numpy()).all() for w in restored.net.weights)


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    # step 4's loss is still finite (computed before the update), but its weights are not
    error, _ = _poisoned_run(tmp_path, poison_at=4, checkpoint_every=2)
    assert (error.step, error.checkpoint_step) == (4, 2)
    assert "is NaN or infinite" in str(error) and "kernel" in str(error)
    latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert latest.endswith("ckpt-2")


def test_progress_bar_total_and_eta_end_at_the_time_budget():
    bar = runner.ResumedProgbar(1000, deadline=None)
    bar._estimate_step_duration(11, bar._start + 1.0)
    assert bar.target == 1000  # no budget: max_steps
    bar = runner.ResumedProgbar(1000, deadline=time.time() + 10.0)
    t = bar._start
    bar._estimate_step_duration(1, t + 1.0)  # tracing
    assert bar._estimate_step_duration(11, t + 2.0) == pytest.approx(0.1)
    # ~8 s left at 0.1 s a step: the budget ends near step 11 + 80, not at 1000
    assert bar.target == pytest.approx(91, abs=1)
    with mock.patch.object(keras.utils.Progbar, "update") as keras_update:
        bar.update(91)  # the estimate reached early: the bar stays open while training goes on
        bar.finish(95)  # the budget ran out here
    assert [c.kwargs["finalize"] for c in keras_update.call_args_list] == [False, True]
    assert bar.target == 95


def _summary_steps(tensorboard_dir, tag):
    steps = []
    for path in sorted(tensorboard_dir.glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return steps


def test_a_run_stopped_by_its_time_budget_logs_final_figures_at_the_step_it_reached(tmp_path):
    import matplotlib.pyplot as plt

    config = runner.RunConfig("t", output_dir=str(tmp_path), max_steps=10_000, eval_every=10_000, max_seconds=1e-6)
    run = runner.Run(config)
    model = _classifier()
    evaluation = ClassifierEvaluation(run, model, {"source": _eval_set()}, list(DIGIT_CLASS_NAMES))
    figure = FigureCallback(run, "figure", lambda: plt.figure(figsize=(1, 1)))
    result = run.train(model, _dataset(), callbacks=[evaluation, figure])
    assert result.steps == run.step == 1
    assert _summary_steps(tmp_path / "tensorboard", "figure") == [1]
    assert _summary_steps(tmp_path / "tensorboard", "confusion_source") == [1]


def test_resume_cuts_history_and_events_written_after_the_checkpoint(tmp_path):
    config = runner.RunConfig("t", output_dir=str(tmp_path), max_steps=4, log_every=1, checkpoint_every=2)
    runner.Run(config).train(_classifier(), _dataset())
    # what a process killed after step 6 of a longer run would have left past checkpoint 4
    later = runner.Run(config)
    later.log_scalars({"loss": 1.0}, 5)
    later.log_scalars({"loss": 1.0}, 6)
    with (tmp_path / "history.jsonl").open("a") as f:
        f.write('{"step": 5, "loss": 1.0}\n{"step": 6, "lo')  # torn by the kill
    resumed = runner.Run(config)
    assert resumed.initial_step == 4
    assert [r["step"] for r in resumed.read_history()] == [1, 2, 3, 4]
    assert sorted(_summary_steps(tmp_path / "tensorboard", "loss")) == [1, 2, 3, 4]
    assert len(list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))) == 2  # merged + the new writer's


def test_purge_keeps_the_events_before_a_torn_record(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in (1, 2, 3):
            tf.summary.scalar("loss", float(step), step=step)
    writer.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    path.write_bytes(path.read_bytes()[:-7])  # a kill in the middle of step 3's record
    assert runner.purge_events_after(tmp_path, 10) == set()
    assert _summary_steps(tmp_path, "loss") == [1, 2]
    assert runner.purge_events_after(tmp_path, 2) == {("loss", 2)}  # nothing left to cut
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1


def test_metrics_are_replaced_whole(tmp_path):
    run = runner.Run(runner.RunConfig("t", output_dir=str(tmp_path)))
    run.write_metrics({"a": 1})
    run.write_metrics({"b": np.float32(2.0)})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"a": 1, "b": 2.0}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_a_new_run_removes_what_a_killed_process_left_half_written(tmp_path):
    leftovers = [
        tmp_path / ".metrics.json.123.tmp",
        tmp_path / "figures" / ".curves.png.123.tmp",
        tmp_path / "tensorboard" / ".purge.host.123.tmp",
    ]
    (tmp_path / "checkpoints" / "ckpt-3_temp").mkdir(parents=True)
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    runner.Run(runner.RunConfig("t", output_dir=str(tmp_path)))
    assert not any(path.exists() for path in leftovers)
    assert not (tmp_path / "checkpoints" / "ckpt-3_temp").exists()
