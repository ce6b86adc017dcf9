"""Is the synthesised MNIST-M a faithful stand-in? Score models adapted to it on the ORIGINAL test split.

    python -m benchmarks.mnist_m_transfer --data_dir=../shared/data

Fidelity target (issue 11): a model adapted to the synthesised set (`mnist_m_synth`) scores within 2
points, on the original release's test split, of the same method adapted to the original
(`mnist_m`). It reads the exports of the da_table runs (MNIST -> MNIST-M and MNIST -> MNIST-M
(synth.), same method and seed; run `python -m benchmarks.da_table` first) and scores each through
its `serving_default` signature, as a serving client would. Writes
benchmarks/results/mnist_m_transfer.{json,md}.
"""

import json
import pathlib
import statistics

import tensorflow as tf
from absl import app, flags

from benchmarks import da_table, harness
from kerasda.data import load_domain
from kerasda.evaluation.served import serve_classes, signature_image_size

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Data root holding mnist_m/ (the original release).")
flags.DEFINE_string("work_dir", "runs/da_table", "The da_table work directory (its records/).")
flags.DEFINE_list("methods", ["dann", "adda"], "Methods to compare.")
flags.DEFINE_string("results_name", "mnist_m_transfer", "Results file name under benchmarks/results/.")

ADAPTED_TO = {"original": "mnist_m", "synthesised": "mnist_m_synth"}


def finished_runs(work_dir, method):
    """{(adapted_to, seed): export path} of the da_table's finished MNIST -> MNIST-M runs of the
    method's flagfile as it is now (records of an earlier version of the config are skipped)."""
    found = {}
    for path in sorted((pathlib.Path(work_dir) / "records").glob(f"{method}__mnist__to__*.json")):
        record = json.loads(path.read_text())
        key = record["key"]
        if (
            key["extra_flags"]
            or key["max_steps"]
            or key["flagfile_digest"] != da_table.flagfile_digest(key["flagfile"])
        ):
            continue
        for label, target in ADAPTED_TO.items():
            if record.get("status") == "ok" and key["target"] == target and key["source"] == "mnist":
                found[label, key["seed"]] = record["metrics"].get("export_path") or _export_in(path)
    return found


def _export_in(record_path):
    """The SavedModel version folder under a run's exports/ (one per run)."""
    run_dir = record_path.parent.parent / record_path.stem / "exports"
    versions = sorted(p.parent for p in run_dir.glob("*/*/saved_model.pb"))
    return str(versions[-1]) if versions else None


def accuracy_on_original(export_path, test_sets):
    loaded = tf.saved_model.load(export_path)  # kept alive while its signature is called
    serving_fn = loaded.signatures["serving_default"]
    size = signature_image_size(serving_fn)
    if size not in test_sets:
        test_sets[size] = load_domain("mnist_m_original", data_dir=FLAGS.data_dir, image_size=size)
    domain = test_sets[size]
    predicted = serve_classes(serving_fn, domain.x_test, 512)
    return float((predicted == domain.y_test).mean())


def main(argv):
    del argv
    test_sets, rows, runs = {}, [], []
    for method in FLAGS.methods:
        exports = finished_runs(FLAGS.work_dir, method)
        seeds = sorted(
            {seed for (_, seed) in exports if ("original", seed) in exports and ("synthesised", seed) in exports}
        )
        scores = {label: [] for label in ADAPTED_TO}
        for seed in seeds:
            for label in ADAPTED_TO:
                accuracy = accuracy_on_original(exports[label, seed], test_sets)
                scores[label].append(100.0 * accuracy)
                runs.append(
                    {
                        "method": method,
                        "adapted_to": label,
                        "seed": seed,
                        "original_test_accuracy": accuracy,
                        "export": exports[label, seed],
                    }
                )
        if not seeds:
            rows.append([method, "-", "not run yet", "not run yet", "-", "-"])
            continue
        original, synthesised = statistics.mean(scores["original"]), statistics.mean(scores["synthesised"])
        gap = synthesised - original
        rows.append(
            [
                method,
                ",".join(map(str, seeds)),
                f"{original:.2f}",
                f"{synthesised:.2f}",
                f"{gap:+.2f}",
                "yes" if abs(gap) <= 2.0 else "no",
            ]
        )
    markdown = (
        "# Synthesised vs original MNIST-M: accuracy on the ORIGINAL test split\n\n"
        "Each model was adapted from MNIST to one MNIST-M (the original release's 20,000 train images, "
        "or the synthesis of docs/data.md) with the method's shipped config, then scored on the "
        "original release's 9,001 test images through its serving signature. Target: |gap| <= 2 "
        "points.\n\n"
        + harness.markdown_table(
            [
                "method",
                "seeds",
                "adapted to original (%)",
                "adapted to synthesised (%)",
                "gap (points)",
                "within 2 points",
            ],
            rows,
        )
    )
    harness.write_results(FLAGS.results_name, {"runs": runs}, markdown)


if __name__ == "__main__":
    app.run(main)
