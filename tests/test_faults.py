"""Crash consistency: `kill -9` (or SIGTERM) at any moment, then the same run again, loses and repeats nothing.

Each test starts a real training process (this file run as a script), lets it
pause at a chosen point (between steps, inside a checkpoint write, inside an
export write), kills it there, and resumes the run in this process. The
resumed output directory must then hold exactly what an uninterrupted run
writes: every history record, TensorBoard summary and checkpoint step once.
"""

import collections
import concurrent.futures
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasda import export, runner
from kerasda.callbacks import ClassifierEvaluation, FigureCallback
from kerasda.data import pipeline
from kerasda.data.domain import DIGIT_CLASS_NAMES
from kerasda.evaluation import plots

MAX_STEPS, LOG_EVERY, EVAL_EVERY, CHECKPOINT_EVERY = 12, 2, 4, 4
IMAGE_SHAPE = (8, 8, 3)
PAUSE_ENV = "KERASDA_TEST_PAUSE"  # where the child process stops and waits to be killed


def _tiny_data():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (32, *IMAGE_SHAPE), dtype=np.uint8), rng.integers(0, 10, 32)


def _tiny_classifier():
    model = keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


class _PauseAtStep(keras.callbacks.Callback):
    """Tell the parent that step `step` is done (history and events flushed), then wait (or not)."""

    def __init__(self, step, wait=True):
        super().__init__()
        self.step = step
        self.wait = wait

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.step:
            _pause(self.wait)


def _pause(wait=True):
    print("\nPAUSED", flush=True)
    if wait:
        time.sleep(600)  # until killed


def train_tiny(output_dir, export_root=None, extra_callbacks=()):
    """The run every test interrupts: 12 steps, logs every 2, eval, figure and checkpoint every 4."""
    config = runner.RunConfig(
        "faults",
        output_dir=str(output_dir),
        max_steps=MAX_STEPS,
        log_every=LOG_EVERY,
        eval_every=EVAL_EVERY,
        checkpoint_every=CHECKPOINT_EVERY,
        seed=0,
    )
    run = runner.Run(config)
    model = _tiny_classifier()
    x, y = _tiny_data()
    evaluation = ClassifierEvaluation(run, model, {"source": (x, y)}, list(DIGIT_CLASS_NAMES))
    curves = FigureCallback(run, "curves", lambda: plots.curves_figure(run.read_history(), ["loss"]))
    dataset = pipeline.labeled_dataset(x, y, 8, seed=run.data_seed)
    result = run.train(model, dataset, callbacks=[evaluation, curves, *extra_callbacks], examples_per_step=8)
    if export_root is not None:
        path = export.export_classifier(model, "tiny", IMAGE_SHAPE, export_root)
        run.write_metrics({**evaluation.results, "export_path": path})
    return result


def _child_main(output_dir, export_root):
    """Script mode: train with the pause point named by $KERASDA_TEST_PAUSE."""
    kind, _, value = os.environ.get(PAUSE_ENV, "").partition(":")
    callbacks = []
    if kind == "step":
        callbacks.append(_PauseAtStep(int(value)))
    elif kind == "mark":  # say where training is, and go on: the kill lands wherever it lands
        callbacks.append(_PauseAtStep(int(value), wait=False))
    elif kind == "checkpoint":
        # Pause after the checkpoint's data files are written, before the `checkpoint`
        # index is replaced: the moment a non-atomic save would leave a broken latest.
        original_save = tf.train.CheckpointManager.save

        def save(self, checkpoint_number=None, check_interval=True, options=None):
            def maybe_pause(save_path):
                if save_path.endswith(f"ckpt-{value}"):
                    _pause()

            options = tf.train.CheckpointOptions(experimental_write_callbacks=[maybe_pause])
            return original_save(self, checkpoint_number, check_interval, options)

        tf.train.CheckpointManager.save = save
    elif kind == "export":
        # Pause once the SavedModel's files are written, before the export is published.
        original = tf.saved_model.save

        def save(*args, **kwargs):
            original(*args, **kwargs)
            _pause()

        tf.saved_model.save = save
    train_tiny(output_dir, export_root, extra_callbacks=callbacks)


def _run_child_until_paused(tmp_path, pause, sig=signal.SIGKILL, delay=0.0):
    """Start the child, wait for PAUSED (and `delay` s), send `sig`; returns (output_dir, export_root, returncode)."""
    tmp_path.mkdir(parents=True)
    output_dir, export_root = tmp_path / "run", tmp_path / "exports"
    child = subprocess.Popen(
        [sys.executable, __file__, str(output_dir), str(export_root)],
        env={**os.environ, PAUSE_ENV: pause, "TF_CPP_MIN_LOG_LEVEL": "3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(400, child.kill)  # a machine under load can take minutes
    watchdog.start()
    try:
        line = child.stdout.readline()
        while line and not line.rstrip().endswith("PAUSED"):  # the progress bar shares the line
            line = child.stdout.readline()
        assert line, f"child ended before pausing at {pause}: {child.stderr.read()[-3000:]}"
        time.sleep(delay)
        child.send_signal(sig)
        returncode = child.wait(30)
    finally:
        watchdog.cancel()
        child.kill()
        child.communicate()
    return output_dir, export_root, returncode


ANYWHERE_DELAY = random.uniform(0.0, 4.0)  # seconds after step 3: lands in a step, a log, a save or the export
KILLS = {  # scenario: (where the child pauses, the signal it gets there, seconds before the signal)
    "between_checkpoints": ("step:7", signal.SIGKILL, 0.0),
    "inside_checkpoint": ("checkpoint:8", signal.SIGKILL, 0.0),
    "inside_export": ("export", signal.SIGKILL, 0.0),
    "sigterm_inside_export": ("export", signal.SIGTERM, 0.0),
    "anywhere": ("mark:3", signal.SIGKILL, ANYWHERE_DELAY),
}


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """{scenario: (output_dir, export_root, returncode)}; the children run in parallel
    (each spends most of its time importing TensorFlow)."""
    root = tmp_path_factory.mktemp("killed")
    with concurrent.futures.ThreadPoolExecutor(len(KILLS)) as pool:
        futures = {
            name: pool.submit(_run_child_until_paused, root / name, pause, sig, delay)
            for name, (pause, sig, delay) in KILLS.items()
        }
        return {name: future.result() for name, future in futures.items()}


# -- what a finished run directory holds -----------------------------------------------
def history_keys(output_dir):
    """Each history record as (step, sorted keys), in order."""
    lines = (output_dir / "history.jsonl").read_text().splitlines()
    return [(r["step"], tuple(sorted(k for k in r if k != "elapsed_seconds"))) for r in map(json.loads, lines)]


def summary_counts(output_dir):
    """Counter of (tag, step) over every TensorBoard event file of the run."""
    counts = collections.Counter()
    for path in sorted((output_dir / "tensorboard").glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            counts.update((value.tag, event.step) for value in event.summary.value)
    return counts


def checkpoint_step(output_dir):
    """The step of the checkpoint a rerun would restore."""
    latest = tf.train.latest_checkpoint(str(output_dir / "checkpoints"))
    return int(tf.train.load_variable(latest, "step/.ATTRIBUTES/VARIABLE_VALUE"))


def _uninterrupted():
    """history keys and summary counts of a run that is never interrupted (computed once)."""
    if not hasattr(_uninterrupted, "value"):
        import tempfile

        output_dir = pathlib.Path(tempfile.mkdtemp(prefix="kerasda-faults-"))
        train_tiny(output_dir)
        _uninterrupted.value = (history_keys(output_dir), summary_counts(output_dir))
    return _uninterrupted.value


def assert_like_uninterrupted(output_dir):
    history, summaries = _uninterrupted()
    assert history_keys(output_dir) == history
    assert summary_counts(output_dir) == summaries
    assert max(summaries.values()) == 1  # each (tag, step) once
    assert json.loads((output_dir / "metrics.json").read_text())["steps"] == MAX_STEPS


# -- tests ------------------------------------------------------------------------------
def test_uninterrupted_run_logs_each_summary_once_at_its_step():
    history, summaries = _uninterrupted()
    loss_steps = [step for step, keys in history if "loss" in keys]
    assert loss_steps == list(range(LOG_EVERY, MAX_STEPS + 1, LOG_EVERY))
    assert [step for step, keys in history if "eval/source_accuracy" in keys] == [4, 8, 12]
    assert {step for (tag, step) in summaries if tag == "curves"} == {4, 8, 12}
    assert {step for (tag, step) in summaries if tag == "confusion_source"} == {12}


def test_kill_between_checkpoints_then_rerun_logs_every_step_once(killed):
    output_dir, _, returncode = killed["between_checkpoints"]
    assert returncode == -signal.SIGKILL
    assert checkpoint_step(output_dir) == 4
    # the killed process had logged step 6, past its last checkpoint
    assert max(step for step, _ in history_keys(output_dir)) == 6
    assert 6 in {step for (_, step) in summary_counts(output_dir)}
    train_tiny(output_dir)
    assert_like_uninterrupted(output_dir)


def test_kill_inside_a_checkpoint_write_resumes_from_the_previous_checkpoint(killed):
    output_dir, _, _ = killed["inside_checkpoint"]
    # step 8's data files are on disk, but the index still names step 4
    assert list((output_dir / "checkpoints").glob("ckpt-8.index"))
    assert checkpoint_step(output_dir) == 4
    rerun = runner.Run(runner.RunConfig("faults", output_dir=str(output_dir), max_steps=MAX_STEPS))
    assert rerun.initial_step == 4
    assert max(step for step, _ in history_keys(output_dir)) == 4  # the rerun cut steps 6 and 8
    train_tiny(output_dir)
    assert_like_uninterrupted(output_dir)


def test_kill_inside_an_export_write_leaves_no_export_and_the_rerun_writes_a_whole_one(killed):
    output_dir, export_root, _ = killed["inside_export"]
    assert checkpoint_step(output_dir) == MAX_STEPS
    assert not (export_root / "tiny" / "1").exists()  # only the hidden partial folder
    assert [p.name for p in (export_root / "tiny").iterdir()] == [".1.partial"]
    train_tiny(output_dir, export_root)  # restores step 12, evaluates and exports again
    assert [p.name for p in (export_root / "tiny").iterdir()] == ["1"]
    loaded = tf.saved_model.load(str(export_root / "tiny" / "1"))
    probabilities = loaded.signatures["serving_default"](images=tf.zeros([2, *IMAGE_SHAPE]))["probabilities"]
    np.testing.assert_allclose(probabilities.numpy().sum(-1), 1.0, rtol=1e-5)
    # the end-of-training figures the killed process logged at step 12 are not repeated
    assert_like_uninterrupted(output_dir)


def test_kill_at_a_random_moment_then_rerun_matches_an_uninterrupted_run(killed):
    output_dir, export_root, _ = killed["anywhere"]
    train_tiny(output_dir, export_root)
    assert_like_uninterrupted(output_dir)
    versions = sorted(p.name for p in (export_root / "tiny").iterdir())
    # "1" (the rerun's) or "1", "2" if the kill came after the child's own export
    assert versions in (["1"], ["1", "2"]), (ANYWHERE_DELAY, versions)
    assert all((export_root / "tiny" / v / "saved_model.pb").exists() for v in versions)


def test_sigterm_during_export_exits_non_zero_and_publishes_nothing(killed):
    _, export_root, returncode = killed["sigterm_inside_export"]
    assert returncode == -signal.SIGTERM
    assert [p.name for p in (export_root / "tiny").iterdir()] == [".1.partial"]


if __name__ == "__main__":
    _child_main(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
