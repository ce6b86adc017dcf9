"""Source-only baseline: MNIST test accuracy, MNIST-M test accuracy (the gap), time, images/s.

    python -m benchmarks.source_only_mnist_to_mnistm --data_dir=../shared/data
Targets (issue 2): MNIST test >= 99.0%, full run <= 5 minutes on 2 CPU cores.
"""

import tempfile

from absl import app, flags

from benchmarks import harness

flags.DEFINE_string("data_dir", None, "Data root with mnist/ and bsds500/.")
flags.DEFINE_multi_integer("seeds", [0], "Seeds to run.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    runs = []
    for seed in FLAGS.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            extra = [f"--seed={seed}", f"--export_root={tmp}/exports"]
            if FLAGS.data_dir:
                extra.append(f"--data_dir={FLAGS.data_dir}")
            metrics, wall = harness.run_app(
                "apps.train_source_only", "apps/configs/source_only_mnist_to_mnistm.cfg", f"{tmp}/run", extra
            )
        runs.append(
            {
                "seed": seed,
                "source_test_accuracy": metrics["source_test_accuracy"],
                "target_test_accuracy": metrics["target_test_accuracy"],
                "steps": metrics["steps"],
                "train_wall_seconds": metrics["wall_seconds"],
                "process_wall_seconds": wall,
                "train_images_per_second": metrics["train_examples_per_second"],
            }
        )
    rows = [
        [
            r["seed"],
            f"{r['source_test_accuracy']:.2%}",
            f"{r['target_test_accuracy']:.2%}",
            r["steps"],
            f"{r['process_wall_seconds']:.0f}",
            f"{r['train_images_per_second']:.0f}",
        ]
        for r in runs
    ]
    markdown = harness.markdown_table(
        ["seed", "MNIST test", "MNIST-M test", "steps", "wall s (whole app)", "train images/s"], rows
    )
    harness.write_results("source_only_mnist_to_mnistm", {"runs": runs}, markdown)


if __name__ == "__main__":
    app.run(main)
