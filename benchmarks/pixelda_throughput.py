"""Train-step throughput of PixelDA sizes: how the CPU budget config was chosen.

Times `PixelDA.train_step` (G + D + T updates, as the runner compiles it) on
synthetic batches, so the numbers isolate the model from data loading:

    nice -n 10 python -m benchmarks.pixelda_throughput --seconds=30
    python -m benchmarks.pixelda_throughput --candidates=paper,g32b4 --xla

Writes benchmarks/results/<output_name>.json and .md.
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks import harness
from kerasda.models import PixelDA, PixelDAConfig

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "candidates", ["paper", "g32b4", "g32b4_d32", "g32b2_d32", "g64b4_d32"], "Sizes to time (see CANDIDATES)."
)
flags.DEFINE_integer("batch_size", 32, "Examples per domain per step.")
flags.DEFINE_float("seconds", 30.0, "Timed seconds per candidate (after warm-up), split into rounds.")
flags.DEFINE_integer("rounds", 3, "Round-robin rounds; the median steps/s over rounds is reported.")
flags.DEFINE_integer("warmup_steps", 5, "Untimed steps (tracing) per candidate.")
flags.DEFINE_bool("xla", False, "jit_compile the train step.")
flags.DEFINE_string("output_name", "pixelda_throughput", "Results file name under benchmarks/results/.")

# name -> PixelDAConfig overrides
CANDIDATES = {
    "paper": dict(generator_filters=64, generator_blocks=6, discriminator_filters=64),
    "g32b4": dict(generator_filters=32, generator_blocks=4, discriminator_filters=64),
    "g32b4_d32": dict(generator_filters=32, generator_blocks=4, discriminator_filters=32),
    "g32b3_d32": dict(generator_filters=32, generator_blocks=3, discriminator_filters=32),
    "g16b4_d32": dict(generator_filters=16, generator_blocks=4, discriminator_filters=32),
    "g32b2_d32": dict(generator_filters=32, generator_blocks=2, discriminator_filters=32),
    "g64b4_d32": dict(generator_filters=64, generator_blocks=4, discriminator_filters=32),
}


def make_step(overrides):
    """A compiled train step of a fresh model with these overrides, and a batch for it."""
    model = PixelDA(PixelDAConfig(**overrides))
    model.compile()
    rng = np.random.default_rng(0)
    b = FLAGS.batch_size
    data = (
        (tf.constant(rng.uniform(-1, 1, (b, 32, 32, 3)), tf.float32), tf.constant(rng.integers(0, 10, b))),
        tf.constant(rng.uniform(-1, 1, (b, 32, 32, 3)), tf.float32),
    )
    step = tf.function(model.train_step, jit_compile=FLAGS.xla)
    for _ in range(FLAGS.warmup_steps):
        step(data)
    parameters = {
        "generator": model.generator.count_params(),
        "discriminator": model.discriminator.count_params(),
    }
    return (lambda: float(step(data)["g_loss"])), parameters  # float() blocks on the result


def time_steps(step, seconds):
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
    return steps, time.perf_counter() - start


def main(argv):
    del argv
    unknown = set(FLAGS.candidates) - set(CANDIDATES)
    if unknown:
        raise app.UsageError(f"Unknown candidates {sorted(unknown)}; choose from {sorted(CANDIDATES)}.")
    load_before = os.getloadavg()
    steps_fns, results = {}, {}
    for name in FLAGS.candidates:
        steps_fns[name], parameters = make_step(CANDIDATES[name])
        results[name] = {"overrides": CANDIDATES[name], "parameters": parameters, "rounds": []}
    # Round-robin timing, so that a change in the machine's load hits every candidate alike.
    for _ in range(FLAGS.rounds):
        for name, step in steps_fns.items():
            steps, seconds = time_steps(step, FLAGS.seconds / FLAGS.rounds)
            results[name]["rounds"].append(steps / seconds)
    for r in results.values():
        r["steps_per_second"] = float(np.median(r["rounds"]))
    load_after = os.getloadavg()
    rows = []
    for name, r in results.items():
        o, p = r["overrides"], r["parameters"]
        rows.append(
            [
                name,
                o["generator_filters"],
                o["generator_blocks"],
                o["discriminator_filters"],
                f"{p['generator']:,}",
                f"{p['discriminator']:,}",
                f"{r['steps_per_second']:.2f}",
            ]
        )
    markdown = (
        f"# PixelDA train-step throughput (batch {FLAGS.batch_size}, xla={FLAGS.xla})\n\n"
        f"Load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}: other "
        "processes share the cores, so compare rows of one table only.\n\n"
        + harness.markdown_table(
            ["candidate", "G filters", "G blocks", "D filters", "G params", "D params", "steps/s (median)"], rows
        )
    )
    payload = {
        "batch_size": FLAGS.batch_size,
        "xla": FLAGS.xla,
        "seconds_per_candidate": FLAGS.seconds,
        "rounds": FLAGS.rounds,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "results": results,
    }
    harness.write_results(FLAGS.output_name, payload, markdown)


if __name__ == "__main__":
    app.run(main)
