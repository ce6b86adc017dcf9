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


class _StopRequests:
    """Ctrl-C and SIGTERM, deferred to the next step boundary.

    A signal only records itself; the loop stops where the step counter, the
    weights and history.jsonl agree (before an execution, or after one's log,
    evaluation and checkpoint), so a resumed run has every step exactly once.
    A second signal stops at once (the user insists), checkpointing what is there.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum = None
        self.previous = {}

    def install(self):
        if threading.current_thread() is not threading.main_thread():
            return self  # handlers can only be set on the main thread
        for signum in self.SIGNALS:
            self.previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def restore(self):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}

    def _on_signal(self, signum, frame):
        del frame
        if self.signum is not None:
            raise _Interrupted()
        self.signum = signum
        logging.warning(
            "%s received: stopping after the current step (press again to stop now).", signal.Signals(signum).name
        )

    def stop_if_requested(self):
        if self.signum is not None:
            raise _Interrupted()


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
    def train(self, model, dataset, callbacks=(), examples_per_step=None, extra_checkpoint_objects=None):
        """Run `model.train_step` over `dataset` until `max_steps`, resuming if possible.

        Each loop iteration is one execution of `steps_per_execution` steps
        (`_TrainingLoop.execute`): train, check the logs are finite, show
        progress, then the events that are due: log (`log_every`), evaluate
        (`eval_every`), checkpoint (`checkpoint_every`, the end, the budget).

        Args:
            model: compiled keras.Model whose optimizers are built (see README,
                "Writing a method").
            dataset: an infinite tf.data.Dataset of training batches.
            callbacks: keras.callbacks.Callback objects. Every `eval_every` steps
                those with an `on_evaluate(step, logs)` method (such as
                `kerasda.callbacks.RunCallback`) get it with the step just
                trained; plain Keras callbacks get `on_epoch_end` instead, with
                epoch index `step // eval_every - 1`.
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
        checkpoints = _Checkpoints(self, model, extra_checkpoint_objects)
        start_step, elapsed_at_start = checkpoints.restore()
        if start_step >= self.config.max_steps:
            logging.info("Already trained for %d >= max_steps steps.", start_step)
        clock = _Clock(elapsed_at_start, self.config.max_seconds)
        loop = _TrainingLoop(self, model, dataset, callbacks, checkpoints, clock, start_step)
        step = loop.run()
        wall = clock.elapsed()
        throughput = clock.throughput(examples_per_step)
        self.write_metrics({"steps": step, "wall_seconds": wall, "train_examples_per_second": throughput})
        return TrainResult(step, wall, throughput, self.read_history())


def _make_train_function(model, config):
    """One `tf.function` running `config.steps_per_execution` train steps (unrolled)."""
    steps = config.steps_per_execution
    strategy = getattr(model, "distribute_strategy", None)

    def multi_step(iterator):
        logs = distribute.run_step(model, next(iterator), strategy)
        for _ in range(steps - 1):  # unrolled: a few steps per call amortise Python overhead
            logs = distribute.run_step(model, next(iterator), strategy)
        return logs

    return tf.function(multi_step, jit_compile=config.jit_compile, reduce_retracing=True)


class _Checkpoints:
    """The run's checkpoints: model (optimizer slots included), step, elapsed seconds, noise states.

    `save` refuses to write non-finite weights: it raises `TrainingDiverged`
    naming the last step that was saved.
    """

    def __init__(self, run, model, extra_objects=None):
        self.run = run
        self.model = model
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.elapsed = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="elapsed")
        # SeedGenerator states are Keras variables outside TF's object graph: save them
        # explicitly so a resumed run continues the noise stream instead of replaying it.
        seed_states = [v for v in model.variables if v.path.endswith("seed_generator_state")]
        self.checkpoint = tf.train.Checkpoint(
            model=model,
            step=self.step,
            elapsed=self.elapsed,
            seed_states=seed_states,
            **(extra_objects or {}),
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(run.checkpoint_dir), max_to_keep=run.config.max_checkpoints
        )
        self.saved_step = 0
        self._nonfinite_weight = None

    def restore(self):
        """Build the optimizer's slots, restore the latest checkpoint; returns (step, elapsed seconds)."""
        model = self.model
        if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
            with distribute.scope(getattr(model, "distribute_strategy", None)):  # slots per replica
                model.optimizer.build(model.trainable_variables)
        restore_dir = str(self.run.restore_checkpoint_dir)
        latest = self.manager.latest_checkpoint or tf.train.latest_checkpoint(restore_dir)
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            logging.info("Resumed from %s at step %d.", latest, int(self.step))
        self.saved_step = int(self.step)
        self._nonfinite_weight = _nonfinite_variable_finder(model.weights)
        return int(self.step), float(self.elapsed)

    def diverged(self, step, what):
        """The error to raise when `what` went non-finite at `step`."""
        return TrainingDiverged(step, what, self.saved_step, self.run.output_dir)

    def save(self, step, elapsed_seconds):
        """Checkpoint `step`, unless a weight went non-finite (then raise `TrainingDiverged`)."""
        bad = self._nonfinite_weight()
        if bad is not None:
            raise self.diverged(step, f"weight {bad} is NaN or infinite")
        self.step.assign(step)
        self.elapsed.assign(elapsed_seconds)
        path = self.manager.save(checkpoint_number=step)
        self.saved_step = step
        return path


class _Clock:
    """Training seconds across resumes, the time budget, and throughput (first execution excluded)."""

    def __init__(self, elapsed_at_start, max_seconds=None):
        self.elapsed_at_start = elapsed_at_start
        self.max_seconds = max_seconds
        self._t0 = time.perf_counter()
        self._timed_since = None  # end of the first execution, which traces and compiles
        self._timed_until = None
        self.timed_steps = 0

    def start(self):
        """Start counting this process's training time (now, not at construction)."""
        self._t0 = time.perf_counter()

    def elapsed(self):
        """Seconds trained, this process and the ones before it."""
        return self.elapsed_at_start + time.perf_counter() - self._t0

    def deadline(self):
        """The `time.time()` the budget runs out at, or None."""
        if self.max_seconds is None:
            return None
        return time.time() + self.max_seconds - self.elapsed_at_start

    def out_of_time(self):
        return self.max_seconds is not None and self.elapsed() >= self.max_seconds

    def count(self, steps):
        """Record an execution of `steps` steps that just ended."""
        if self._timed_since is None:
            self._timed_since = time.perf_counter()
        else:
            self.timed_steps += steps

    def stop(self):
        """End the throughput timing (before the final callbacks run)."""
        self._timed_until = time.perf_counter()

    def throughput(self, examples_per_step):
        """Examples per second over the timed executions; NaN when unknown."""
        if self._timed_since is None or not examples_per_step or not self.timed_steps:
            return float("nan")
        seconds = (self._timed_until or time.perf_counter()) - self._timed_since
        return examples_per_step * self.timed_steps / seconds if seconds > 0 else float("nan")


class _TrainingLoop:
    """One call of `Run.train`: the executions from the restored step to the end or the budget."""

    def __init__(self, run, model, dataset, callbacks, checkpoints, clock, start_step):
        self.owner, self.config, self.model = run, run.config, model
        self.start_step = start_step
        self.checkpoints, self.clock = checkpoints, clock
        self.strategy = getattr(model, "distribute_strategy", None)  # tf.distribute (kerasda.distribute)
        self.callbacks = keras.callbacks.CallbackList(list(callbacks), model=model)
        self.train_function = _make_train_function(model, self.config)
        self.iterator = iter(distribute.distribute_dataset(dataset, self.strategy))
        self.progbar = ResumedProgbar(self.config.max_steps, start_step, deadline=clock.deadline())
        self.logs = {}
        self.stops = _StopRequests().install()

    def run(self):
        """Train; returns the last step trained. Ctrl-C and SIGTERM checkpoint, then re-raise."""
        run = self.owner
        run.step = self.start_step
        self.clock.start()
        run._clock = self.clock.elapsed
        try:
            self.callbacks.on_train_begin()
            out_of_time = False
            while run.step < self.config.max_steps and not out_of_time:
                self.stops.stop_if_requested()
                out_of_time = self.execute(run.step)
            self.stops.stop_if_requested()
        except (KeyboardInterrupt, _Interrupted):
            path = self.checkpoints.save(run.step, self.clock.elapsed())
            logging.warning("Interrupted at step %d; checkpoint saved to %s. Re-run to resume.", run.step, path)
            raise KeyboardInterrupt(f"interrupted at step {run.step}") from None
        finally:
            run._clock = None
            self.stops.restore()
        self.clock.stop()
        self.callbacks.on_train_end(self.logs)
        return run.step

    def execute(self, step):
        """One execution after `step`, then the due log, evaluation, checkpoint; True when out of time."""
        n = min(self.config.steps_per_execution, self.config.max_steps - step)
        self.callbacks.on_train_batch_begin(step)
        self.stops.stop_if_requested()
        logs = self.train_steps(n)
        step = self.owner.step = step + n
        self.clock.count(n)
        self.logs = self.finite_logs(step, logs)
        self.callbacks.on_train_batch_end(step, self.logs)
        self.progbar.stateful_metrics = set(self.logs)  # trackers are running means already
        self.progbar.update(step, list(self.logs.items())[:6])

        def due(every):  # `every` divides a step of this execution
            return step % every < n

        last = step == self.config.max_steps
        if due(self.config.log_every) or last:
            self.log(step)
        if due(self.config.eval_every):
            self.evaluate(step)
        out_of_time = self.clock.out_of_time()
        if out_of_time:
            self.progbar.finish(step, list(self.logs.items())[:6])
            logging.warning("Wall-clock budget of %.0f s reached at step %d.", self.config.max_seconds, step)
        if due(self.config.checkpoint_every) or last or out_of_time:
            self.checkpoints.save(step, self.clock.elapsed())
        return out_of_time

    def train_steps(self, n):
        """`n` train steps: one call of the compiled function, or single steps for the last partial one."""
        if n == self.config.steps_per_execution:
            return self.train_function(self.iterator)
        for _ in range(n):
            logs = distribute.run_step(self.model, next(self.iterator), self.strategy)
        return logs

    def finite_logs(self, step, logs):
        """The step's logs as floats; `TrainingDiverged` if one is NaN or infinite."""
        logs = {k: float(v) for k, v in logs.items()}
        nonfinite = [f"{k} = {v}" for k, v in logs.items() if not math.isfinite(v)]
        if nonfinite:  # the app prints it (one line), so it is not logged here too
            raise self.checkpoints.diverged(step, ", ".join(nonfinite))
        return logs

    def log(self, step):
        """Scalars and learning rates to TensorBoard, a history record; the trackers restart."""
        self.owner.log_scalars({**self.logs, **hparams_logging.learning_rates(self.model)}, step)
        self.owner.append_history({"step": step, **self.logs})
        self.model.reset_metrics()

    def evaluate(self, step):
        """The evaluation event: `on_evaluate(step, logs)`, or `on_epoch_end` for plain Keras callbacks."""
        for callback in self.callbacks.callbacks:
            if hasattr(callback, "on_evaluate"):
                callback.on_evaluate(step, self.logs)
            else:
                callback.on_epoch_end(step // self.config.eval_every - 1, self.logs)


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
