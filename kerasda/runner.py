"""The shared run loop: output directory, seeding, checkpoints, TensorBoard, progress, metrics.

Every app trains through `Run.train`. It calls the model's own `train_step`
(each method overrides it) inside one `tf.function`, so the methods stay plain
`keras.Model`s that also work with `fit`, while the loop adds what `fit` does
not give at step granularity: exact resume from the last checkpoint (weights,
optimizer slots, step and elapsed time), a checkpoint on Ctrl-C / SIGTERM, and
a history file that survives restarts.

Layout of an output directory:

    tensorboard/   event files (scalars, images)
    checkpoints/   tf.train.CheckpointManager files
    figures/       PNGs, refreshed during training
    history.jsonl  one line of logged metrics per `log_every` steps
    metrics.json   final numbers (steps, wall_seconds, ... and the app's own)
"""

import dataclasses
import datetime
import io
import json
import os
import pathlib
import signal
import threading
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kerasda.callbacks import hparams as hparams_logging


@dataclasses.dataclass
class RunConfig:
    """How long to train and how often to log, evaluate and checkpoint."""

    app_name: str
    output_dir: str | None = None
    max_steps: int = 1000
    log_every: int = 100
    eval_every: int = 1000
    checkpoint_every: int = 1000
    steps_per_execution: int = 1
    jit_compile: bool = False
    seed: int | None = 0
    deterministic: bool = False
    max_checkpoints: int = 3
    max_seconds: float | None = None  # wall-clock budget across resumes; stops early, checkpointed

    def __post_init__(self):
        for name in ("max_steps", "log_every", "eval_every", "checkpoint_every", "steps_per_execution"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds}.")


@dataclasses.dataclass
class TrainResult:
    steps: int
    wall_seconds: float
    examples_per_second: float
    history: list


def default_output_dir(app_name):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return pathlib.Path("runs") / app_name / stamp


def seed_everything(seed, deterministic=False):
    """Seed Python, NumPy and TensorFlow; optionally make TF ops deterministic (slower)."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def figure_to_png(figure):
    """Render a matplotlib figure to PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


class ResumedProgbar(keras.utils.Progbar):
    """A progress bar that starts at a resumed step.

    Keras' bar times steps from step 0, so after a resume at step k it divides
    this process's time by all k earlier steps too and shows a per-step time
    and ETA far too small. This one counts only the steps run since it began,
    leaving out the first (tracing) as Keras does.
    """

    def __init__(self, target, initial_step=0):
        super().__init__(target, unit_name="step")
        self._initial_step = initial_step
        self._first_update = None  # (step, time) after the first, tracing, update
        if initial_step:
            self.update(initial_step)

    def _estimate_step_duration(self, current, now):
        if current <= self._initial_step:
            return 0.0
        if self._first_update is None:
            self._first_update = (current, now)
        first_step, first_time = self._first_update
        if current > first_step:
            return (now - first_time) / (current - first_step)
        return (now - self._start) / (current - self._initial_step)


class _Interrupted(Exception):
    pass


class Run:
    """One training run's directory and loop. See the module docstring for the layout."""

    def __init__(self, config):
        self.config = config
        self.output_dir = pathlib.Path(config.output_dir or default_output_dir(config.app_name))
        self.figures_dir = self.output_dir / "figures"
        self.checkpoint_dir = self.output_dir / "checkpoints"
        self.tensorboard_dir = self.output_dir / "tensorboard"
        for folder in (self.figures_dir, self.checkpoint_dir, self.tensorboard_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.history_path = self.output_dir / "history.jsonl"
        self.metrics_path = self.output_dir / "metrics.json"
        seed_everything(config.seed, config.deterministic)
        self.writer = tf.summary.create_file_writer(str(self.tensorboard_dir))
        self.initial_step = self._latest_checkpoint_step()
        self._clock = None  # elapsed training seconds, while train() runs

    # -- resumption -----------------------------------------------------------------
    def _latest_checkpoint_step(self):
        latest = tf.train.latest_checkpoint(str(self.checkpoint_dir))
        if latest is None:
            return 0
        return int(tf.train.load_variable(latest, "step/.ATTRIBUTES/VARIABLE_VALUE"))

    @property
    def data_seed(self):
        """Seed for input pipelines: differs after a resume so data is not replayed."""
        return (self.config.seed or 0) + self.initial_step

    # -- logging --------------------------------------------------------------------
    def log_scalars(self, scalars, step):
        with self.writer.as_default():
            for name, value in scalars.items():
                tf.summary.scalar(name, float(value), step=step)
        self.writer.flush()

    def save_figure(self, figure, name, step=0):
        """Write `figures/<name>.png` and the same image to TensorBoard; closes the figure."""
        import matplotlib.pyplot as plt

        png = figure_to_png(figure)
        plt.close(figure)
        (self.figures_dir / f"{name}.png").write_bytes(png)
        with self.writer.as_default():
            tf.summary.image(name, tf.image.decode_png(png)[None], step=step)
        self.writer.flush()
        return self.figures_dir / f"{name}.png"

    def write_metrics(self, metrics):
        """Merge `metrics` into metrics.json (numpy values converted)."""
        current = json.loads(self.metrics_path.read_text()) if self.metrics_path.exists() else {}
        current.update(_to_json(metrics))
        self.metrics_path.write_text(json.dumps(current, indent=2, sort_keys=True))
        return current

    def read_history(self):
        if not self.history_path.exists():
            return []
        return [json.loads(line) for line in self.history_path.read_text().splitlines() if line]

    def append_history(self, record):
        """Add one {"step": s, name: value} record to history.jsonl (read back for curves)."""
        if self._clock is not None:
            record = {**record, "elapsed_seconds": round(self._clock(), 2)}
        with self.history_path.open("a") as f:
            f.write(json.dumps(_to_json(record)) + "\n")

    # -- training -------------------------------------------------------------------
    def _make_train_function(self, model):
        steps = self.config.steps_per_execution

        def multi_step(iterator):
            logs = model.train_step(next(iterator))
            for _ in range(steps - 1):  # unrolled: a few steps per call amortise Python overhead
                logs = model.train_step(next(iterator))
            return logs

        return tf.function(multi_step, jit_compile=self.config.jit_compile, reduce_retracing=True)

    def train(self, model, dataset, callbacks=(), examples_per_step=None, extra_checkpoint_objects=None):
        """Run `model.train_step` over `dataset` until `max_steps`, resuming if possible.

        Args:
            model: compiled keras.Model whose optimizers are built (see README,
                "Writing a method").
            dataset: an infinite tf.data.Dataset of training batches.
            callbacks: keras.callbacks.Callback objects; epoch events fire every
                `eval_every` steps with epoch index `step // eval_every`.
            examples_per_step: images consumed per step, for throughput figures.
            extra_checkpoint_objects: more trackables to save and restore.

        Returns:
            TrainResult; also written to metrics.json (steps, wall_seconds,
            examples_per_second).
        """
        config = self.config
        step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        elapsed_var = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="elapsed")
        # SeedGenerator states are Keras variables outside TF's object graph: save them
        # explicitly so a resumed run continues the noise stream instead of replaying it.
        seed_states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
        checkpoint = tf.train.Checkpoint(
            model=model,
            step=step_var,
            elapsed=elapsed_var,
            seed_states=seed_states,
            **(extra_checkpoint_objects or {}),
        )
        manager = tf.train.CheckpointManager(
            checkpoint, str(self.checkpoint_dir), max_to_keep=config.max_checkpoints
        )
        if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        if manager.latest_checkpoint:
            checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
            logging.info("Resumed from %s at step %d.", manager.latest_checkpoint, int(step_var))
        start_step = int(step_var)
        if start_step >= config.max_steps:
            logging.info("Already trained for %d >= max_steps steps.", start_step)
        callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
        train_function = self._make_train_function(model)
        iterator = iter(dataset)
        progbar = ResumedProgbar(config.max_steps, start_step)

        previous_handler = _install_sigterm_handler()
        step = start_step
        elapsed_at_start = float(elapsed_var)
        t0 = time.perf_counter()
        self._clock = lambda: elapsed_at_start + time.perf_counter() - t0
        timed_steps, timed_seconds, t_timed = 0, 0.0, None
        logs = {}
        try:
            callback_list.on_train_begin()
            while step < config.max_steps:
                n = min(config.steps_per_execution, config.max_steps - step)
                callback_list.on_train_batch_begin(step)
                if n == config.steps_per_execution:
                    logs = train_function(iterator)
                else:  # the last, partial execution
                    for _ in range(n):
                        logs = model.train_step(next(iterator))
                step += n
                if t_timed is None:  # exclude tracing/compilation from throughput
                    t_timed = time.perf_counter()
                else:
                    timed_steps += n
                logs = {k: float(v) for k, v in logs.items()}
                callback_list.on_train_batch_end(step, logs)
                progbar.stateful_metrics = set(logs)  # trackers are running means already
                progbar.update(step, list(logs.items())[:6])
                if step % config.log_every < n or step == config.max_steps:
                    record = {"step": step, **logs}
                    self.log_scalars({**logs, **hparams_logging.learning_rates(model)}, step)
                    self.append_history(record)
                    model.reset_metrics()
                if step % config.eval_every < n:
                    callback_list.on_epoch_end(step // config.eval_every - 1, logs)
                out_of_time = (
                    config.max_seconds is not None
                    and elapsed_at_start + time.perf_counter() - t0 >= config.max_seconds
                )
                if out_of_time:
                    logging.warning("Wall-clock budget of %.0f s reached at step %d.", config.max_seconds, step)
                if step % config.checkpoint_every < n or step == config.max_steps or out_of_time:
                    step_var.assign(step)
                    elapsed_var.assign(elapsed_at_start + time.perf_counter() - t0)
                    manager.save(checkpoint_number=step)
                if out_of_time:
                    break
        except (KeyboardInterrupt, _Interrupted):
            step_var.assign(step)
            elapsed_var.assign(elapsed_at_start + time.perf_counter() - t0)
            path = manager.save(checkpoint_number=step)
            logging.warning("Interrupted at step %d; checkpoint saved to %s. Re-run to resume.", step, path)
            raise KeyboardInterrupt(f"interrupted at step {step}") from None
        finally:
            self._clock = None
            if previous_handler is not None:
                signal.signal(signal.SIGTERM, previous_handler)
        if t_timed is not None:
            timed_seconds = time.perf_counter() - t_timed
        callback_list.on_train_end(logs)
        wall = elapsed_at_start + time.perf_counter() - t0
        throughput = (
            examples_per_step * timed_steps / timed_seconds
            if examples_per_step and timed_steps and timed_seconds > 0
            else float("nan")
        )
        self.write_metrics(
            {"steps": step, "wall_seconds": wall, "train_examples_per_second": throughput}
        )
        return TrainResult(step, wall, throughput, self.read_history())


def _install_sigterm_handler():
    """Turn SIGTERM into a checkpointed stop; returns the old handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigterm(signum, frame):
        raise _Interrupted()

    return signal.signal(signal.SIGTERM, on_sigterm)


def _to_json(value):
    """Convert numpy / tensor values nested in dicts and lists to plain Python."""
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, (tf.Tensor, tf.Variable)):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return str(value)
    return value
