"""The shared run loop: output directory, seeding, checkpoints, TensorBoard, progress, metrics.

Every app trains through `Run.train`. It calls the model's own `train_step`
(each method overrides it) inside one `tf.function`, so the methods stay plain
`keras.Model`s that also work with `fit`, while the loop adds what `fit` does
not give at step granularity: exact resume from the last checkpoint (weights,
optimizer slots, step and elapsed time), a checkpoint on Ctrl-C / SIGTERM, and
a history file that survives restarts.

Faults: a non-finite loss or weight stops the run with `TrainingDiverged`
before anything non-finite is checkpointed. After a crash (even `kill -9`) the
next `Run` on the same directory cuts history.jsonl and the TensorBoard events
back to the last checkpoint's step, so a resumed run logs every step once.
Checkpoints (TF writes data files, then atomically replaces the `checkpoint`
index), metrics.json and figures are never seen half written.

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
import math
import os
import pathlib
import shutil
import signal
import socket
import threading
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kerasda import distribute
from kerasda.callbacks import hparams as hparams_logging
from kerasda.errors import UserError


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
    """A progress bar that starts at a resumed step and knows the time budget.

    Keras' bar times steps from step 0, so after a resume at step k it divides
    this process's time by all k earlier steps too and shows a per-step time
    and ETA far too small. This one counts only the steps run since it began,
    leaving out the first (tracing) as Keras does.

    With a `deadline` (a `time.time()` value, from `--max_minutes`) the total
    is the step the budget is expected to end at, when that comes before
    `target`, so the bar fills and the ETA counts down to the actual stop.
    """

    def __init__(self, target, initial_step=0, deadline=None):
        super().__init__(target, unit_name="step")
        self.max_steps = target
        self.deadline = deadline
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
            duration = (now - first_time) / (current - first_step)
        else:
            duration = (now - self._start) / (current - self._initial_step)
        if self.deadline is not None and duration > 0 and current < self.max_steps:
            steps_left = max(1, math.ceil(max(0.0, self.deadline - now) / duration))
            self.target = min(self.max_steps, current + steps_left)
        return duration

    def update(self, current, values=None, finalize=None):
        # Only max_steps (or `finish`) ends the bar: the budget's total is an estimate,
        # and reaching it early must not close the line while training goes on.
        if finalize is None:
            finalize = current >= self.max_steps
        super().update(current, values, finalize=finalize)

    def finish(self, step, values=None):
        """End the bar at `step` (the budget ran out there) with a final line."""
        if step < self.max_steps:
            self.target = step
            self.update(step, values, finalize=True)


class _Interrupted(Exception):
    pass


class TrainingDiverged(UserError):
    """Training produced a non-finite loss or weight; nothing non-finite was checkpointed.

    `str(error)` is one line for the user: the step, what diverged, and the
    checkpoint a re-run would resume from. A `UserError` (the fix is a flag,
    usually the learning rate), so apps print it as one line, export nothing
    and exit with status 2.
    """

    def __init__(self, step, what, checkpoint_step, output_dir):
        self.step = step
        self.what = what
        self.checkpoint_step = checkpoint_step
        resume = (
            f"the last good checkpoint is step {checkpoint_step} in {output_dir}"
            if checkpoint_step
            else f"no checkpoint was kept in {output_dir}"
        )
        super().__init__(
            f"Training diverged at step {step}: {what}. Nothing was exported; {resume}. "
            "Lower the learning rate (or check the data) and re-run."
        )


class Run:
    """One training run's directory and loop. See the module docstring for the layout."""

    def __init__(self, config):
        self.config = config
        self.output_dir = pathlib.Path(config.output_dir or default_output_dir(config.app_name))
        # In a multi-worker cluster only the chief writes here; the other workers resume
        # from its checkpoints and write to a temporary folder (kerasda.distribute).
        self.restore_checkpoint_dir = self.output_dir / "checkpoints"
        self.output_dir = pathlib.Path(distribute.worker_dir(self.output_dir))
        self.figures_dir = self.output_dir / "figures"
        self.checkpoint_dir = self.output_dir / "checkpoints"
        self.tensorboard_dir = self.output_dir / "tensorboard"
        for folder in (self.figures_dir, self.checkpoint_dir, self.tensorboard_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.history_path = self.output_dir / "history.jsonl"
        self.metrics_path = self.output_dir / "metrics.json"
        seed_everything(config.seed, config.deterministic)
        self.initial_step = self._latest_checkpoint_step()
        # Whatever a killed process logged after its last checkpoint is replayed by
        # the resumed run: cut it before the new writer opens, so each step is logged once.
        _remove_partial_writes(self.output_dir)
        truncate_history(self.history_path, self.initial_step)
        self._summaries_at_resume = purge_events_after(self.tensorboard_dir, self.initial_step)
        self.writer = tf.summary.create_file_writer(str(self.tensorboard_dir))
        self.step = self.initial_step  # the last step trained, while and after train() runs
        self._clock = None  # elapsed training seconds, while train() runs

    # -- resumption -----------------------------------------------------------------
    def _latest_checkpoint_step(self):
        latest = tf.train.latest_checkpoint(str(self.restore_checkpoint_dir))
        if latest is None:
            return 0
        return int(tf.train.load_variable(latest, "step/.ATTRIBUTES/VARIABLE_VALUE"))

    @property
    def data_seed(self):
        """Seed for input pipelines: differs after a resume so data is not replayed."""
        return (self.config.seed or 0) + self.initial_step

    # -- logging --------------------------------------------------------------------
    def _already_logged(self, tag, step):
        """True for a summary the previous process wrote at the step this run resumed from.

        A run that restarts after its final checkpoint (e.g. killed during export)
        repeats its end-of-training figures at that step; TensorBoard keeps the first.
        """
        return (tag, int(step)) in self._summaries_at_resume

    def log_scalars(self, scalars, step):
        with self.writer.as_default():
            for name, value in scalars.items():
                if not self._already_logged(name, step):
                    tf.summary.scalar(name, float(value), step=step)
        self.writer.flush()

    def save_figure(self, figure, name, step=0):
        """Write `figures/<name>.png` and the same image to TensorBoard; closes the figure."""
        import matplotlib.pyplot as plt

        png = figure_to_png(figure)
        plt.close(figure)
        path = self.figures_dir / f"{name}.png"
        atomic_write_bytes(path, png)
        if not self._already_logged(name, step):
            with self.writer.as_default():
                tf.summary.image(name, tf.image.decode_png(png)[None], step=step)
            self.writer.flush()
        return path

    def write_metrics(self, metrics):
        """Merge `metrics` into metrics.json (numpy values converted; replaced atomically)."""
        current = json.loads(self.metrics_path.read_text()) if self.metrics_path.exists() else {}
        current.update(_to_json(metrics))
        atomic_write_bytes(self.metrics_path, json.dumps(current, indent=2, sort_keys=True).encode())
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

        strategy = getattr(model, "distribute_strategy", None)

        def multi_step(iterator):
            logs = distribute.run_step(model, next(iterator), strategy)
            for _ in range(steps - 1):  # unrolled: a few steps per call amortise Python overhead
                logs = distribute.run_step(model, next(iterator), strategy)
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

        Raises:
            TrainingDiverged: a logged value (the step's losses and metrics) or,
                at a checkpoint, a weight is NaN or infinite. Checked on the values
                the loop fetches anyway, so it costs no extra device sync per step.
            KeyboardInterrupt: on Ctrl-C or SIGTERM, after a checkpoint.
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
            with distribute.scope(getattr(model, "distribute_strategy", None)):  # slots per replica
                model.optimizer.build(model.trainable_variables)
        latest = manager.latest_checkpoint or tf.train.latest_checkpoint(str(self.restore_checkpoint_dir))
        if latest:
            checkpoint.restore(latest).assert_existing_objects_matched()
            logging.info("Resumed from %s at step %d.", latest, int(step_var))
        start_step = int(step_var)
        if start_step >= config.max_steps:
            logging.info("Already trained for %d >= max_steps steps.", start_step)
        callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
        train_function = self._make_train_function(model)
        strategy = getattr(model, "distribute_strategy", None)  # tf.distribute (kerasda.distribute)
        iterator = iter(distribute.distribute_dataset(dataset, strategy))
        elapsed_at_start = float(elapsed_var)
        deadline = None
        if config.max_seconds is not None:
            deadline = time.time() + config.max_seconds - elapsed_at_start
        progbar = ResumedProgbar(config.max_steps, start_step, deadline=deadline)
        nonfinite_weight = _nonfinite_variable_finder(model.weights)
        saved_step = start_step

        def diverged(step, what):  # the app prints it (one line), so it is not logged here too
            return TrainingDiverged(step, what, saved_step, self.output_dir)

        def save(step):
            """Checkpoint `step`, unless a weight went non-finite (then stop)."""
            nonlocal saved_step
            bad = nonfinite_weight()
            if bad is not None:
                raise diverged(step, f"weight {bad} is NaN or infinite")
            step_var.assign(step)
            elapsed_var.assign(elapsed_at_start + time.perf_counter() - t0)
            path = manager.save(checkpoint_number=step)
            saved_step = step
            return path

        previous_handler = _install_sigterm_handler()
        step = self.step = start_step
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
                        logs = distribute.run_step(model, next(iterator), strategy)
                step += n
                self.step = step
                if t_timed is None:  # exclude tracing/compilation from throughput
                    t_timed = time.perf_counter()
                else:
                    timed_steps += n
                logs = {k: float(v) for k, v in logs.items()}
                nonfinite = [f"{k} = {v}" for k, v in logs.items() if not math.isfinite(v)]
                if nonfinite:
                    raise diverged(step, ", ".join(nonfinite))
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
                    progbar.finish(step, list(logs.items())[:6])
                    logging.warning("Wall-clock budget of %.0f s reached at step %d.", config.max_seconds, step)
                if step % config.checkpoint_every < n or step == config.max_steps or out_of_time:
                    save(step)
                if out_of_time:
                    break
        except (KeyboardInterrupt, _Interrupted):
            path = save(step)
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


def _nonfinite_variable_finder(variables):
    """A function returning the path of the first NaN/Inf float variable, or None.

    One compiled reduction and one device sync per call: the runner calls it
    only before writing a checkpoint.
    """
    variables = [v for v in variables if tf.as_dtype(v.dtype).is_floating]
    if not variables:
        return lambda: None

    @tf.function
    def finite_flags():
        return tf.stack([tf.reduce_all(tf.math.is_finite(v)) for v in variables])

    def first_nonfinite():
        flags = finite_flags().numpy()
        if flags.all():
            return None
        return variables[int(np.argmin(flags))].path

    return first_nonfinite


def _remove_partial_writes(output_dir):
    """Delete what a killed process left half written: TF's `ckpt-N_temp` folders and the
    `.<name>.tmp` files of `atomic_write_bytes` and `purge_events_after` (each is renamed
    into place only once complete, so none of them holds anything the run needs)."""
    output_dir = pathlib.Path(output_dir)
    for path in (output_dir / "checkpoints").glob("*_temp"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    for folder in (output_dir, output_dir / "figures", output_dir / "tensorboard"):
        for path in folder.glob(".*.tmp"):
            if path.is_file():
                path.unlink()


def atomic_write_bytes(path, data):
    """Write `path` so readers (and a later crash) see the old file or the new one, never half."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def truncate_history(history_path, step):
    """Keep the history.jsonl records up to `step`; drop later ones and a torn last line.

    Returns the number of records dropped. Rewritten atomically, and only when
    something is dropped.
    """
    history_path = pathlib.Path(history_path)
    if not history_path.exists():
        return 0
    kept, dropped = [], 0
    for line in history_path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # torn by a kill during the append
            dropped += 1
            continue
        if isinstance(record, dict) and record.get("step", 0) > step:
            dropped += 1
            continue
        kept.append(line)
    if dropped:
        atomic_write_bytes(history_path, "".join(f"{line}\n" for line in kept).encode())
        logging.info("history.jsonl: dropped %d records after the checkpoint at step %d.", dropped, step)
    return dropped


def _read_event_records(path):
    """Serialized records of one event file, up to the first torn or corrupt one."""
    records = []
    try:
        for record in tf.data.TFRecordDataset(str(path)):
            records.append(record.numpy())
    except tf.errors.DataLossError:  # a kill mid-write leaves a truncated last record
        return records, True
    return records, False


def purge_events_after(tensorboard_dir, step):
    """Rewrite the event files in `tensorboard_dir` to hold each summary once, none after `step`.

    TensorBoard would otherwise show the steps between the last checkpoint and a
    crash twice: once from the killed process, once from the resumed run. The
    kept events go to one file (written under a temporary name, then renamed);
    the old files are deleted after. A crash between the two leaves duplicates,
    which the next call removes: summaries are keyed by (tag, step).

    Returns:
        The {(tag, step)} kept at `step` itself (see `Run._already_logged`).
    """
    files = sorted(p for p in pathlib.Path(tensorboard_dir).glob("events.out.tfevents.*") if p.is_file())
    kept, seen, at_step = [], set(), set()
    file_version = None
    changed = len(files) > 1
    for path in files:
        records, torn = _read_event_records(path)
        changed |= torn
        for record in records:
            event = tf.compat.v1.Event.FromString(record)
            if event.HasField("file_version"):
                file_version = file_version or record
                continue
            if event.step > step:
                changed = True
                continue
            tags = tuple(value.tag for value in event.summary.value)
            key = (event.step, tags) if tags else record
            if key in seen:
                changed = True
                continue
            seen.add(key)
            kept.append(record)
            if event.step == step:
                at_step.update((tag, step) for tag in tags)
    if not changed:
        return at_step
    name = files[0].name if files[0].name.endswith(".purged") else f"{files[0].name}.purged"
    tmp = files[0].with_name(f".purge.{socket.gethostname()}.{os.getpid()}.tmp")
    with tf.io.TFRecordWriter(str(tmp)) as writer:
        for record in ([file_version] if file_version else []) + kept:
            writer.write(record)
    os.replace(tmp, files[0].with_name(name))
    for path in files:
        if path.name != name:
            path.unlink()
    logging.info("TensorBoard events: kept %d up to the checkpoint at step %d.", len(kept), step)
    return at_step


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
