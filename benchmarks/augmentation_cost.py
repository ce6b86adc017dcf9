"""CPU cost of each `--augmentation` kind per training batch, as the input pipeline pays it.

    nice -n 10 python -m benchmarks.augmentation_cost

On two cores the pipeline's jitter comes out of the training step's time (the DANN loop against
its bare step: `benchmarks.loop_vs_bare`). Each kind is timed as a `tf.function` on one batch of
random images of the shipped DANN config's shape (64 at 28x28x3), a new step (so new random draws)
each call, for `--seconds` after a warm-up. The resolution jitter alone (`reduce_resolution`) is
timed too. Writes benchmarks/results/<output_name>.{json,md}.
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks import harness
from kerasda.data import augmentation

FLAGS = flags.FLAGS


def define_flags():
    """Defined only when run as a program, so that tests can import the module beside the apps."""
    flags.DEFINE_integer("batch_size", 64, "Images per batch (the DANN config's, per domain).")
    flags.DEFINE_integer("image_size", 28, "Image height and width (the DANN config's).")
    flags.DEFINE_float("seconds", 10.0, "Timed seconds per kind.")
    flags.DEFINE_string("output_name", "augmentation_cost", "Results file name under benchmarks/results/.")


WARMUP_CALLS = 5


def milliseconds_per_call(function, images, seconds):
    """Mean wall milliseconds of `function(images, step)`, a new step each call."""
    for step in range(WARMUP_CALLS):
        function(images, tf.constant(step, tf.int64)).numpy()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        function(images, tf.constant(WARMUP_CALLS + calls, tf.int64)).numpy()
        calls += 1
    return 1000.0 * (time.perf_counter() - start) / calls, calls


def resolution_only(seed=0):
    jitter = augmentation.ResolutionJitter()
    return lambda images, step: augmentation.reduce_resolution(
        images, jitter, tf.stack([tf.constant(seed, tf.int64), step])
    )


def measure(batch_size, image_size, seconds):
    """{name: {"ms_per_batch", "calls"}} for each jittering kind and the resolution jitter alone."""
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(-1.0, 1.0, (batch_size, image_size, image_size, 3)).astype(np.float32))
    functions = {kind: augmentation.build_augmentation(kind, seed=0) for kind in augmentation.AUGMENTATIONS[1:]}
    functions["resolution_only"] = resolution_only()
    rows = {}
    for name, function in functions.items():
        ms, calls = milliseconds_per_call(tf.function(function), images, seconds)
        rows[name] = {"ms_per_batch": ms, "calls": calls}
    return rows


def main(argv):
    del argv
    load_before = os.getloadavg()[0]
    rows = measure(FLAGS.batch_size, FLAGS.image_size, FLAGS.seconds)
    load_after = os.getloadavg()[0]
    shape = f"{FLAGS.batch_size} x {FLAGS.image_size}x{FLAGS.image_size}x3"
    markdown = (
        f"# CPU cost of each augmentation kind per batch ({shape})\n\n"
        f"`tf.function` per kind, {FLAGS.seconds:g} s each after {WARMUP_CALLS} warm-up calls. Load average "
        f"(1 min) before {load_before:.2f}, after {load_after:.2f}.\n\n"
        + harness.markdown_table(
            ["kind", "ms per batch", "calls timed"],
            [[name, f"{row['ms_per_batch']:.2f}", row["calls"]] for name, row in rows.items()],
        )
    )
    payload = {
        "batch_size": FLAGS.batch_size,
        "image_size": FLAGS.image_size,
        "seconds": FLAGS.seconds,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "kinds": rows,
    }
    harness.write_results(FLAGS.output_name, payload, markdown)


if __name__ == "__main__":
    define_flags()
    app.run(main)
