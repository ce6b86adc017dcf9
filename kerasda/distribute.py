"""tf.distribute for every app: one device, the GPUs of one host, or many hosts.

`--distribution` picks the strategy:

    default       TensorFlow's default strategy: one device, no change to anything.
    mirrored      `tf.distribute.MirroredStrategy`: every GPU of this host (or the CPU).
    multi_worker  `tf.distribute.MultiWorkerMirroredStrategy`: the hosts named in
                  the `TF_CONFIG` environment variable, each with its GPUs.

Under a strategy, apps build their models and optimizers inside
`strategy.scope()`, the runner feeds a distributed dataset, runs each method's
own `train_step` on every replica with `strategy.run` and averages the logged
values over replicas. `--batch_size` stays the *global* batch: each of N
replicas gets batch_size / N examples, and each `train_step` differentiates its
share of the global-batch mean loss (`replica_gradients`), so the all-reduced
(summed) gradients are those of one device on the whole batch.

Only the chief (task 0) writes checkpoints, TensorBoard events, figures,
metrics and exports; the other workers write theirs to a temporary folder that
is deleted (TensorFlow's advice: every worker must take part in saves, because
saving can run collective ops).
"""

import atexit
import contextlib
import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

DISTRIBUTIONS = ("default", "mirrored", "multi_worker")

_DEFAULT_STRATEGY = tf.distribute.get_strategy()  # imported outside any scope: the default one
_current = None  # the strategy `build_strategy` made for this process


def build_strategy(kind="default", devices=None):
    """The `tf.distribute.Strategy` of `--distribution=kind`; remembered for `is_chief`.

    Call it first thing in a program: `MultiWorkerMirroredStrategy` must exist
    before TensorFlow initialises its devices.

    Args:
        kind: one of DISTRIBUTIONS.
        devices: for "mirrored", the devices to mirror over (default: every GPU,
            else the CPU).
    """
    global _current
    if kind not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {kind!r}.")
    if kind == "default":
        strategy = _DEFAULT_STRATEGY
    elif kind == "mirrored":
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "--distribution=multi_worker needs the TF_CONFIG environment variable (the cluster "
                "and this worker's task); see README, 'Mixed precision and many devices'."
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _current = strategy
    return strategy


def current_strategy():
    """The strategy `build_strategy` made, else TensorFlow's current one."""
    return _current if _current is not None else tf.distribute.get_strategy()


def is_default(strategy):
    """True for TensorFlow's default (one-device) strategy, or None."""
    return strategy is None or type(strategy) is type(_DEFAULT_STRATEGY)


def task():
    """(task_type, task_id) of this process in TF_CONFIG, or (None, None) outside a cluster."""
    strategy = current_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and getattr(resolver, "task_type", None) is not None:
        return resolver.task_type, resolver.task_id
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None, None
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    entry = config.get("task", {})
    return entry.get("type"), entry.get("index")


def is_chief():
    """True for the process that writes outputs: the only one, the "chief", or worker 0 without a chief."""
    task_type, task_id = task()
    if task_type is None or task_type == "chief":
        return True
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def worker_dir(path):
    """`path` on the chief; on other workers a fresh temporary folder, deleted at exit."""
    if is_chief():
        return path
    task_type, task_id = task()
    path = tempfile.mkdtemp(prefix=f"kerasda_{task_type}{task_id}_")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def check_global_batch(batch_size, strategy=None):
    """Raise a ValueError unless `batch_size` splits evenly over the replicas."""
    replicas = (strategy or current_strategy()).num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(
            f"--batch_size={batch_size} (the global batch) must be a multiple of the "
            f"{replicas} replicas, so that every replica gets the same number of examples."
        )


def distribute_dataset(dataset, strategy):
    """`dataset` (global batches) split over the replicas; unchanged on the default strategy."""
    if is_default(strategy):
        return dataset
    return strategy.experimental_distribute_dataset(dataset)


def run_step(model, batch, strategy):
    """`model.train_step(batch)` on every replica; logs averaged over replicas.

    The trackers are `keras.metrics` whose variables are per replica (sync on
    read); with equal per-replica batches the mean of the replicas' running
    means is the global running mean, so the logs equal one device's.
    """
    if is_default(strategy):
        return model.train_step(batch)
    logs = strategy.run(model.train_step, args=(batch,))
    return {name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None) for name, value in logs.items()}


def replica_gradients(tape, loss, variables, optimizer):
    """Gradients of this replica's share of the global-batch mean `loss`, loss-scaled.

    `loss` is the mean over this replica's examples. Divided by the number of
    replicas it is this replica's term of the mean over the global batch
    (what `tf.nn.compute_average_loss` gives for equal per-replica batches), so
    the gradients `apply_gradients` sums over replicas are the global batch's.
    It is also multiplied by the optimizer's loss scale (`optimizer.scale_loss`,
    the identity but for a `keras.optimizers.LossScaleOptimizer`), which
    `apply_gradients` divides out again.

    On one device with a plain optimizer this is exactly `tape.gradient(loss, variables)`.
    """
    context = tf.distribute.get_replica_context()  # None in cross-replica context
    replicas = context.num_replicas_in_sync if context is not None else 1
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer) or (
        getattr(optimizer, "loss_scale_factor", None) is not None
    )
    if replicas == 1 and not scaled:
        return tape.gradient(loss, variables)
    factor = optimizer.scale_loss(tf.constant(1.0 / replicas, dtype=loss.dtype))
    return tape.gradient(loss, variables, output_gradients=tf.cast(factor, loss.dtype))


def synchronize_batch_norm(model, strategy=None):
    """Make every BatchNormalization layer of `model` use global-batch statistics across replicas.

    With N replicas each layer would otherwise normalise by the statistics of
    its 1/N of the batch, a different model from one device's. No-op with one replica.

    Returns:
        The number of layers changed.
    """
    if (strategy or current_strategy()).num_replicas_in_sync == 1:
        return 0
    changed = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized = True
            changed += 1
    return changed


def _all_layers(model):
    seen, stack, out = set(), [model], []
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        stack.extend(getattr(layer, "_layers", []) or [])
        for value in vars(layer).values():
            if isinstance(value, keras.layers.Layer):
                stack.append(value)
    return out


def _replica_fold(seed_generator):
    """None on one replica; else this replica's stateless seed (the generator's next, folded with its id)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    seed = tf.cast(seed_generator.next(), tf.int64)
    return tf.random.experimental.stateless_fold_in(seed, context.replica_id_in_sync_group)


def normal(shape, seed_generator):
    """`keras.random.normal(shape, seed=seed_generator)`, different on every replica.

    Every replica holds a copy of the generator's state, so plain draws would
    repeat the same noise on all replicas; the replica id is folded in.
    """
    seed = _replica_fold(seed_generator)
    if seed is None:
        return keras.random.normal(shape, seed=seed_generator)
    return tf.random.stateless_normal(shape, seed=seed)


def uniform(shape, minval, maxval, seed_generator):
    """`keras.random.uniform(...)`, different on every replica (see `normal`)."""
    seed = _replica_fold(seed_generator)
    if seed is None:
        return keras.random.uniform(shape, minval=minval, maxval=maxval, seed=seed_generator)
    return tf.random.stateless_uniform(shape, seed=seed, minval=minval, maxval=maxval)


def scope(strategy):
    """`strategy.scope()`, or a context that does nothing for the default strategy (or None)."""
    return contextlib.nullcontext() if is_default(strategy) else strategy.scope()
