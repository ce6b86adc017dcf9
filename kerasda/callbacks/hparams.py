"""TensorBoard HParams and schedule logging, so `tensorboard --logdir runs/` compares runs side by side.

Each run's `tensorboard/` folder gets:

- an HParams session (`_hparams_/session_start_info`) holding the run's flags,
  so the HPARAMS tab lists every run of `runs/` in one table;
- `final/<metric>` scalars: the numbers of metrics.json (accuracies, FID,
  PSNR, wall_seconds, ...), which the HPARAMS tab shows as metric columns next
  to the flags (it also offers the last value of every other scalar);
- `learning_rate[/<optimizer>]` scalars every `--log_every` steps, read from
  the optimizers themselves, so decays (cosine, PixelDA's x0.95 staircase,
  DANN's annealing) are logged as they were applied. Schedules that a model
  computes itself (DANN's lambda) are already among its logged metrics.

No experiment-level `hparams_config` is written: TensorBoard would use the first
one it found for every run, and runs of different apps have different flags and
metrics. Without it the plugin takes the union of all runs' flags and metrics.
"""

import math
import numbers

import keras
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

FINAL_PREFIX = "final/"
LEARNING_RATE_TAG = "learning_rate"


def hparam_values(values):
    """{name: value} -> the values the HParams plugin accepts (bool, int, float, str).

    None (an unset optional flag) is left out, so runs that set it and runs that
    do not still share one column; lists become comma-separated strings.
    """
    clean = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif not isinstance(value, (bool, numbers.Real, str)):
            value = str(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = int(value) if isinstance(value, numbers.Integral) else float(value)
        clean[str(name)] = value
    return clean


def final_metric_values(metrics):
    """The finite numbers of a metrics dict (nested details, strings, bools and NaNs are skipped)."""
    return {
        str(name): float(value)
        for name, value in metrics.items()
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    }


def app_flag_values(flag_values=None):
    """Values of the flags an app defines (absl's own logging flags left out)."""
    from absl import flags

    flag_values = flag_values or flags.FLAGS
    values = {}
    for module, module_flags in flag_values.flags_by_module_dict().items():
        if module.startswith("absl.") or module.startswith("tensorflow."):
            continue
        for flag in module_flags:
            values[flag.name] = flag.value
    return values


def log_hparams(writer, hparams, metrics, step=None):
    """Write one HParams session (`hparams`) and its final metrics as `final/<name>` scalars.

    Args:
        writer: a `tf.summary` writer, or a log directory to open one in.
        hparams: {name: value}, e.g. `app_flag_values()`; see `hparam_values`.
        metrics: the run's final numbers (metrics.json); see `final_metric_values`.
        step: step of the final scalars; default `metrics["steps"]`, else 0.

    Returns:
        (hparams written, metrics written) as plain dicts.
    """
    if not hasattr(writer, "as_default"):
        writer = tf.summary.create_file_writer(str(writer))
    values = hparam_values(hparams)
    finals = final_metric_values(metrics)
    step = int(step if step is not None else metrics.get("steps") or 0)
    with writer.as_default():
        hp.hparams(values)
        for name, value in finals.items():
            tf.summary.scalar(FINAL_PREFIX + name, value, step=step)
    writer.flush()
    return values, finals


def learning_rates(model):
    """{"learning_rate[/<attribute>]": current value} for each distinct optimizer the model holds.

    Reads `optimizer.learning_rate`, which Keras evaluates at the optimizer's
    own iteration count when it is a schedule: the value the last step used.
    An optimizer known both as `model.optimizer` and under its own attribute
    (PixelDA's `g_optimizer`) is logged once, under the specific name.
    """
    found = {}
    names = sorted(vars(model), key=lambda name: (name == "optimizer", name))
    for name in names:
        value = getattr(model, name, None)
        if isinstance(value, keras.optimizers.Optimizer) and id(value) not in found:
            found[id(value)] = (name, value)
    rates = {}
    for name, optimizer in found.values():
        tag = LEARNING_RATE_TAG if len(found) == 1 else f"{LEARNING_RATE_TAG}/{name}"
        rates[tag] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    return rates
