"""PixelDA ablation: private/shared vs unified task classifier, compared at equal steps.

Reads two finished run directories of the same config (e.g. the two runs that
`benchmarks/pixelda_mnist_to_mnistm.py` makes with its default
`--classifiers=private_shared,unified`) and tabulates their periodic MNIST-M
evaluations step by step and their final full-test-set scores.

    python -m benchmarks.pixelda_unified_ablation \\
        --private_shared_run=runs/benchmarks/pixelda/<stamp>_..._private_shared_seed0/run \\
        --unified_run=runs/benchmarks/pixelda/<stamp>_..._unified_seed0/run

The runs must have the same number of steps: the paper's claim is about where
training ends, so a shorter unified run would not test it. To bring one up to
the other's length, re-enter it with `python -m apps.train_pixelda
--flagfile=<its config> --classifier=unified --output_dir=<its run dir>
--max_steps=<the other's steps> --max_minutes=0` (training resumes at its
checkpoint). Writes benchmarks/results/pixelda_unified_ablation.{json,md}.
"""

import json
import pathlib

from absl import app, flags

from benchmarks import harness

flags.DEFINE_string("private_shared_run", None, "Run directory of the private/shared classifier.")
flags.DEFINE_string("unified_run", None, "Run directory of the unified classifier.")
flags.DEFINE_string("name", "pixelda_unified_ablation", "Results file stem under benchmarks/results/.")
flags.mark_flags_as_required(["private_shared_run", "unified_run"])
FLAGS = flags.FLAGS

FINAL_METRICS = ("target_test_accuracy", "target_test_f1_macro", "fake_target_test_accuracy", "source_test_accuracy")


def read_run(run_dir):
    """Periodic target accuracy by step, final metrics and the classifier of one run."""
    run_dir = pathlib.Path(run_dir)
    curve = {r["step"]: r["eval/target_accuracy"] for r in harness.read_history(run_dir) if "eval/target_accuracy" in r}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "run_dir": str(run_dir),
        "classifier": metrics["hparams"]["classifier"],
        "steps": metrics["steps"],
        "eval_target_accuracy_by_step": curve,
        **{name: metrics[name] for name in FINAL_METRICS},
    }


def _format(name, value):
    """F1 as a fraction, accuracies as percentages."""
    return f"{value:.4f}" if "f1" in name else f"{value:.2%}"


def main(argv):
    del argv
    runs = {"private_shared": read_run(FLAGS.private_shared_run), "unified": read_run(FLAGS.unified_run)}
    for expected, run in runs.items():
        if run["classifier"] != expected:
            raise app.UsageError(f"{run['run_dir']} trained --classifier={run['classifier']}, not {expected}.")
    if runs["private_shared"]["steps"] != runs["unified"]["steps"]:
        raise app.UsageError(
            f"Unequal lengths: private/shared {runs['private_shared']['steps']} steps, unified "
            f"{runs['unified']['steps']}. Bring the shorter up to the other's length (see this script's doc)."
        )
    ps, un = runs["private_shared"], runs["unified"]
    ps_curve, un_curve = ps["eval_target_accuracy_by_step"], un["eval_target_accuracy_by_step"]
    curve_rows = [
        [f"{s:,}", f"{ps_curve[s]:.2%}", f"{un_curve[s]:.2%}", f"{(un_curve[s] - ps_curve[s]) * 100:+.2f}"]
        for s in sorted(set(ps_curve) & set(un_curve))
    ]
    final_rows = [[name, _format(name, ps[name]), _format(name, un[name])] for name in FINAL_METRICS]
    markdown = (
        f"# PixelDA ablation: private/shared vs unified task classifier ({ps['steps']:,} steps each)\n\n"
        "Final scores on the full test sets (MNIST-M test = target; G(MNIST test) = fake_target; "
        "MNIST test = source):\n\n"
        + harness.markdown_table(["metric", "private/shared", "unified"], final_rows)
        + "\nPeriodic evaluation on the same 2,000 MNIST-M test images:\n\n"
        + harness.markdown_table(["step", "private/shared", "unified", "unified - private/shared (points)"], curve_rows)
    )
    harness.write_results(FLAGS.name, {"runs": runs}, markdown)


if __name__ == "__main__":
    app.run(main)
