"""Time MNIST-M synthesis (all 70k images) and the cached load.

    python -m benchmarks.data_mnist_m --data_dir=../shared/data
Targets (issue 2): synthesis <= 60 s, cached load <= 5 s.
"""

import tempfile
import time

from absl import app, flags

from benchmarks import harness
from kerasda.data import load_domain

flags.DEFINE_string("data_dir", None, "Data root with mnist/ and bsds500/.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as cache:
        load_domain("mnist", data_dir=FLAGS.data_dir, cache_dir=cache)  # MNIST parse is not MNIST-M's cost
        start = time.perf_counter()
        domain = load_domain("mnist_m", data_dir=FLAGS.data_dir, cache_dir=cache)
        synthesis = time.perf_counter() - start
        start = time.perf_counter()
        load_domain("mnist_m", data_dir=FLAGS.data_dir, cache_dir=cache)
        cached = time.perf_counter() - start
    n = len(domain.x_train) + len(domain.x_test)
    markdown = harness.markdown_table(
        ["images", "synthesis + resize + cache write (s)", "cached load (s)"],
        [[n, f"{synthesis:.1f}", f"{cached:.2f}"]],
    )
    harness.write_results(
        "data_mnist_m", {"images": n, "synthesis_seconds": synthesis, "cached_load_seconds": cached}, markdown
    )


if __name__ == "__main__":
    app.run(main)
