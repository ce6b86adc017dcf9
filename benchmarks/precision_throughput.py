"""Bare-step images/s of DANN's tower at each precision, interleaved in one process.

    nice -n 10 python -m benchmarks.precision_throughput --rounds=6 --seconds=10

"Bare": `tf.function(DANN.train_step)` on one fixed in-memory batch of
`batch_size` source + `batch_size` target images (no input pipeline, no
logging), the shipped config's network (valid convolutions on 28x28, per-image
standardisation, SGD). One model per precision is built first (a layer keeps
the dtype policy in force when it was made); then the precisions are timed in
alternating rounds, so that load from other processes on shared cores falls on
all of them alike. The load average is recorded before and after. Images/s
count source + target images; the figure per precision is the median round.

Writes results/<output_name>.json and .md.
"""

import os
import statistics
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks import harness
from kerasda import precision
from kerasda.models.builders import build_digits_dann
from kerasda.schedules import build_optimizer

FLAGS = flags.FLAGS
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Precisions to compare.")
flags.DEFINE_integer("batch_size", 128, "Images per domain per step.")
flags.DEFINE_integer("rounds", 6, "Timed rounds per precision (alternating).")
flags.DEFINE_float("seconds", 10.0, "Seconds per round.")
flags.DEFINE_string("output_name", "precision_throughput", "Results file name under benchmarks/results/.")


def build_step(policy):
    """A traced bare train step of DANN's tower built under `policy`."""
    precision.set_precision(policy)
    model = build_digits_dann((28, 28, 3), 10, total_steps=10_000, padding="valid", input_standardization="image")
    model.compile(optimizer=build_optimizer("sgd", 0.01, total_steps=10_000))
    precision.set_precision("float32")
    rng = np.random.default_rng(0)

    def images():
        return tf.constant(rng.uniform(-1, 1, (FLAGS.batch_size, 28, 28, 3)).astype("float32"))

    batch = ((images(), tf.constant(rng.integers(0, 10, FLAGS.batch_size))), images())
    step = tf.function(model.train_step)
    for _ in range(3):  # trace and warm up
        float(step(batch)["loss"])
    return lambda: step(batch)


def time_round(step, seconds):
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        logs = step()
        steps += 1
    float(logs["loss"])  # wait for the last step
    return 2 * FLAGS.batch_size * steps / (time.perf_counter() - start)


def main(argv):
    del argv
    load_before = os.getloadavg()
    steps = {policy: build_step(policy) for policy in FLAGS.precisions}
    rounds = {policy: [] for policy in FLAGS.precisions}
    for _ in range(FLAGS.rounds):
        for policy in FLAGS.precisions:
            rounds[policy].append(time_round(steps[policy], FLAGS.seconds))
    load_after = os.getloadavg()
    baseline = statistics.median(rounds[FLAGS.precisions[0]])
    results = {
        policy: {
            "median_images_per_second": statistics.median(values),
            "rounds_images_per_second": values,
            "speedup_vs_" + FLAGS.precisions[0]: statistics.median(values) / baseline,
        }
        for policy, values in rounds.items()
    }
    rows = [
        [
            policy,
            f"{r['median_images_per_second']:.0f}",
            f"{min(r['rounds_images_per_second']):.0f}-{max(r['rounds_images_per_second']):.0f}",
            f"{r['speedup_vs_' + FLAGS.precisions[0]]:.2f}x",
        ]
        for policy, r in results.items()
    ]
    markdown = (
        f"# Bare DANN step (28x28 valid tower, {FLAGS.batch_size}+{FLAGS.batch_size} images/step), "
        f"{FLAGS.rounds} interleaved rounds of {FLAGS.seconds:.0f} s\n\n"
        + harness.markdown_table(["precision", "median images/s", "range", "speed-up"], rows)
        + f"\nLoad average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}; "
        f"after: {', '.join(f'{v:.2f}' for v in load_after)}.\n"
    )
    harness.write_results(
        FLAGS.output_name,
        {
            "config": {
                "batch_size": FLAGS.batch_size,
                "rounds": FLAGS.rounds,
                "seconds": FLAGS.seconds,
                "network": "DANN digits tower, valid padding, 28x28, image standardisation, SGD",
            },
            "load_average_before": load_before,
            "load_average_after": load_after,
            "results": results,
        },
        markdown,
    )


if __name__ == "__main__":
    app.run(main)
